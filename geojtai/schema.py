"""Column contracts and validation: raw rows in, ``(valid rows, rejects with reasons)`` out.

The readers in :mod:`geojtai.io` return *raw* frames: every value as the file gave it (text),
under standardised column names, with ``file`` and ``row`` saying where it came from. This
module decides which rows are usable. Every raw row ends in exactly one of the two outputs;
nothing is dropped silently.

Checks run in a fixed priority order and a reject carries the *first* reason that applies
(a row with no coordinates is ``"no location"`` whatever else is wrong with it); the value
that failed goes into ``detail``. For incidents:

1. ``malformed row`` -- the reader could not split the line into the header's fields.
2. ``not a point`` -- a GeoJSON/GeoPackage incident whose geometry is not a point.
3. ``no location`` -- neither a latitude/longitude pair nor an easting/northing pair.
4. ``unparseable coordinate`` -- a coordinate is text that is not a number.
5. ``non-finite coordinate`` -- a coordinate is ±infinity.
6. ``coordinates look swapped`` -- ``|lat| > 90`` with ``|lon| ≤ 90``; or a point of
   Great Britain with its axes swapped (lat in -9..2.5 and lon in 49..61); or an easting
   over 700 km with a northing under 700 km, valid once swapped.
7. ``latitude out of range`` -- outside -90..90.
8. ``longitude out of range`` -- outside -180..180.
9. ``easting/northing out of range`` -- easting outside 0..700,000 or northing outside
   0..1,300,000 (British National Grid metres).
10. ``missing date``.
11. ``unparseable date`` -- neither ISO (``2024-03-05``, ``2024-03-05T18:30:00Z``,
    ``2024-03``) nor UK day-first (``05/03/2024 18:30``); never US month-first.
12. ``far outside the study area`` -- more than ``area_margin_m`` outside the study area;
    without an area, more than ``outlier_km`` from the median location of the row's own
    file (skipped for a file most of whose points are that far from its median: such a
    file has no home area to be far from).
13. ``duplicate id`` -- the same ``(source, id)`` was accepted before (the first accepted
    row stays). Generated ids (``"<file>:<row>"``) are never duplicates.

Interventions: ``malformed row``, the coordinate reasons (CSV points), ``missing geometry``,
``invalid geometry``, ``invalid radius``, ``missing start``, ``unparseable start``,
``unparseable end``, ``end before start``, ``duplicate id``.

Everything is vectorised. Text columns are handled as Arrow arrays; columns whose values
repeat (police.uk months, snapped points, categories) are dictionary encoded and parsed
once per distinct value, and date-times are parsed as distinct dates plus distinct times.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from shapely.geometry.base import BaseGeometry

from geojtai.categories import canonical_category, harm_weights_for
from geojtai.crs import BNG, WGS84, bng_to_wgs84, transformer, wgs84_to_bng
from geojtai.errors import CRSError, SchemaError
from geojtai.grid import validate_latlon

__all__ = [
    "text_or_none",
    "GEOMETRY_TYPE_NAMES",
    "AGE_BANDS",
    "DEFAULT_RADIUS_M",
    "INCIDENT_COLUMNS",
    "INTERVENTION_COLUMNS",
    "POLICE_UK_EXTRAS",
    "RAW_INCIDENT_COLUMNS",
    "RAW_INTERVENTION_COLUMNS",
    "REJECT_COLUMNS",
    "REJECT_REASONS",
    "validate_incidents",
    "validate_interventions",
]

# --------------------------------------------------------------------------- contracts
POLICE_UK_EXTRAS: tuple[str, ...] = (
    "crime_id",
    "location",
    "lsoa_code",
    "lsoa_name",
    "crime_type",
    "context",
    "reported_by",
    "falls_within",
    "last_outcome",
)
"""police.uk columns carried through as they are (``None`` for other sources)."""

RAW_INCIDENT_COLUMNS: tuple[str, ...] = (
    "id",
    "occurred",
    "time",
    "lat",
    "lon",
    "easting",
    "northing",
    "category",
    "source",
    "harm",
    "age_band",
    "age",
    "weapon",
    *POLICE_UK_EXTRAS,
    "problem",
    "problem_detail",
    "file",
    "row",
)
"""What :func:`geojtai.io.read_incidents` returns: text values under these names.

``time`` is a separate time-of-day column (joined to a date-only ``occurred``); ``problem``
and ``problem_detail`` hold what the reader itself found wrong with a row (a malformed line,
a non-point geometry), else missing.
"""

INCIDENT_COLUMNS: tuple[str, ...] = (
    "id",
    "file",
    "row",
    "source",
    "month",
    "occurred",
    "time_known",
    "lat",
    "lon",
    "category",
    "harm",
    "age_band",
    "weapon",
    *POLICE_UK_EXTRAS,
)
"""The valid-incident contract, in this order."""

RAW_INTERVENTION_COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "type",
    "lead_agency",
    "partner_agencies",
    "start",
    "end",
    "days",
    "hours",
    "place_types",
    "cost",
    "hours_per_week",
    "radius_m",
    "lat",
    "lon",
    "easting",
    "northing",
    "wkt",
    "problem",
    "problem_detail",
    "file",
    "row",
)
"""What :func:`geojtai.io.read_interventions` returns, beside its ``geometry`` column."""

INTERVENTION_COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "type",
    "lead_agency",
    "partner_agencies",
    "agencies",
    "radius_m",
    "start",
    "end",
    "start_month",
    "end_month",
    "days",
    "hours",
    "place_types",
    "cost",
    "hours_per_week",
    "notes",
    "file",
    "row",
    "geometry",
)
"""The valid-intervention contract, in this order (a GeoDataFrame in EPSG:4326)."""

REJECT_COLUMNS: tuple[str, ...] = ("file", "row", "id", "reason", "detail")

REJECT_REASONS: tuple[str, ...] = (
    # incidents, in priority order
    "malformed row",
    "not a point",
    "no location",
    "unparseable coordinate",
    "non-finite coordinate",
    "coordinates look swapped",
    "latitude out of range",
    "longitude out of range",
    "easting/northing out of range",
    "missing date",
    "unparseable date",
    "far outside the study area",
    "duplicate id",
    # interventions (after "malformed row" and the coordinate reasons of CSV points)
    "missing geometry",
    "invalid geometry",
    "invalid radius",
    "missing start",
    "unparseable start",
    "unparseable end",
    "end before start",
)
"""The fixed vocabulary of reject reasons; every reject carries exactly one of these."""

AGE_BANDS: tuple[str, ...] = ("under 10", "10-17", "18-24", "25+", "unknown")
DEFAULT_RADIUS_M = 100.0
"""Radius given to an intervention point that has none (recorded in its ``notes``)."""

# BNG's valid extent (metres) and the boxes that betray swapped axes.
_BNG_MAX_E, _BNG_MAX_N = 700_000.0, 1_300_000.0
_GB_LON = (-9.0, 2.5)
_GB_LAT = (49.0, 61.0)
_MIN_YEAR, _MAX_YEAR = 1900, 2100
_UK_TZ = "Europe/London"

# Text that means "no value" in exported spreadsheets.
_MISSING_ARROW = pa.array(["", "na", "n/a", "nan", "null", "none", "#n/a", "<na>", "nat"])
_NA = np.array(None, dtype=object)  # a missing value numpy's where/append accept
_SAMPLE = 20_000  # rows looked at to decide whether dictionary encoding pays

# ISO (year first) or UK (day first) dates, an optional time and an optional UTC offset.
# Day-first is the only slash order accepted: 05/03/2024 is 5 March, never 3 May.
_DATE_PATTERN = (
    r"^(?:(?P<y1>\d{4})[-/](?P<m1>\d{1,2})(?:[-/](?P<d1>\d{1,2}))?"
    r"|(?P<d2>\d{1,2})[/.-](?P<m2>\d{1,2})[/.-](?P<y2>\d{4}))"
    r"(?:(?:T|\s+)(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,]\d+)?)?)?"
    r"\s*(?P<tz>Z|[+-]\d{2}:?\d{2})?$"
)
_NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$|^[+-]?(?i:inf|infinity)$"


# --------------------------------------------------------------------------- text columns
@dataclass(frozen=True)
class _Text:
    """A text column, trimmed, with missing markers as nulls: row ``i`` is ``values[codes[i]]``.

    Low-cardinality columns (police.uk months, snapped points, categories) are dictionary
    encoded so that every parse runs once per distinct value; columns of mostly distinct
    values keep one value per row (``codes`` is then the row number) to skip the hashing.
    """

    codes: np.ndarray  # int64, -1 where missing
    values: pa.Array  # strings
    encoded: bool  # values are distinct (codes identify equal text)

    @property
    def present(self) -> np.ndarray:
        return self.codes >= 0

    def full(self) -> pa.Array:
        """One (nullable) Arrow string per row."""
        return pc.take(self.values, pa.array(self.codes, mask=self.codes < 0))

    def objects(self) -> np.ndarray:
        """The text as an object array with ``None`` where missing."""
        return np.append(self.values.to_numpy(zero_copy_only=False), _NA)[self.codes]

    def objects_at(self, mask: np.ndarray) -> np.ndarray:
        """:meth:`objects` of the ``mask`` rows only (cheap for a few rejects)."""
        codes = self.codes[mask]
        out = np.full(codes.size, None, dtype=object)
        hit = codes >= 0
        if hit.any():
            out[hit] = pc.take(self.values, pa.array(codes[hit])).to_numpy(zero_copy_only=False)
        return out

    def items(self) -> list[str]:
        """The distinct values, for per-value Python (only on dictionary-encoded columns)."""
        return [v if v is not None else "" for v in self.values.to_pylist()]

    def take(self, per_value: np.ndarray, fill: object) -> np.ndarray:
        """Broadcast an array computed per value back to the rows (``fill`` where missing)."""
        per_value = np.asarray(per_value)
        return np.append(per_value, np.asarray([fill], dtype=per_value.dtype))[self.codes]

    def floats(self) -> np.ndarray:
        return self.take(_to_float(self.values), np.nan)

    def keys(self) -> np.ndarray:
        """An integer per row, equal exactly when the text is equal (-1 where missing)."""
        if self.encoded:
            return self.codes
        indices = pc.dictionary_encode(self.values).indices
        keys = np.asarray(pc.fill_null(indices, -1).to_numpy(zero_copy_only=False), np.int64)
        return np.where(self.codes >= 0, np.append(keys, -1)[self.codes], -1)


def _to_float(values: pa.Array) -> np.ndarray:
    """Parse text to float64 (NaN where it is not a number) with Arrow's parser."""
    numeric = pc.fill_null(pc.match_substring_regex(values, _NUMBER), False)
    parsed = pc.cast(pc.if_else(numeric, values, pa.scalar(None, pa.string())), pa.float64())
    return np.asarray(parsed.to_numpy(zero_copy_only=False), dtype="float64")


def _strings(series: pd.Series) -> pa.Array:
    """Any column as an Arrow string array (numbers printed shortest round-trip)."""
    dtype = series.dtype
    if dtype.kind in "fiub":
        return pc.cast(pa.array(series.to_numpy(), from_pandas=True), pa.string())
    if pd.api.types.is_string_dtype(dtype) and dtype is not np.dtype(object):
        arr = pa.array(series)
        return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    text = [text_or_none(v) for v in series.to_numpy(dtype=object)]  # mixed objects (hand-made)
    return pa.array(text, type=pa.string())


def _clean(arr: pa.Array) -> pa.Array:
    """Trim whitespace and turn missing markers (``""``, ``"NA"``, ``"null"``...) into nulls."""
    arr = pc.utf8_trim_whitespace(arr)
    missing = pc.fill_null(pc.is_in(pc.utf8_lower(arr), value_set=_MISSING_ARROW), True)
    return pc.if_else(missing, pa.scalar(None, pa.string()), arr)


def _from_arrow(arr: pa.Array, *, encode: bool | None = None) -> _Text:
    """Clean a text column and, for repetitive columns, dictionary encode it.

    ``encode=None`` decides from the first rows: encoding pays when values repeat.
    """
    n = len(arr)
    if arr.null_count == n:
        return _Text(np.full(n, -1, dtype=np.int64), pa.array([], type=pa.string()), True)
    arr = arr.cast(pa.string())
    if encode is None:
        sample = arr.slice(0, _SAMPLE)
        encode = len(pc.unique(sample)) <= 0.5 * max(len(sample), 1)
    if not encode:
        arr = _clean(arr)
        isnull = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        return _Text(np.where(isnull, -1, np.arange(n, dtype=np.int64)), arr, False)
    # Encode the raw text, then clean only the distinct values and merge those that now
    # coincide (" a" and "a").
    enc = pc.dictionary_encode(arr)
    codes = np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False), np.int64)
    merged = pc.dictionary_encode(_clean(enc.dictionary))
    remap = np.asarray(pc.fill_null(merged.indices, -1).to_numpy(zero_copy_only=False), np.int64)
    return _Text(np.append(remap, -1)[codes], merged.dictionary, True)


def _text(raw: pd.DataFrame, column: str, *, encode: bool | None = None) -> _Text:
    """Column ``column`` of ``raw`` as :class:`_Text` (absent → every row missing).

    ``encode=True`` forces dictionary encoding, for columns parsed value by value in Python.
    """
    n = len(raw)
    if column not in raw.columns or n == 0:
        return _Text(np.full(n, -1, dtype=np.int64), pa.array([], type=pa.string()), True)
    return _from_arrow(_strings(raw[column]), encode=encode)


def text_or_none(value: object) -> str | None:
    """One cell as text: ``None`` for missing, lists joined with ``;``, else ``str``."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (list, tuple, np.ndarray)):
        return ";".join(str(v) for v in value)
    return str(value)


def _concat(*parts: str | np.ndarray) -> np.ndarray:
    """Join text element-wise (Arrow, not Python): strings broadcast, missing values as ``""``.

    Examples
    --------
    >>> _concat("row ", np.array([2, 3])).tolist()
    ['row 2', 'row 3']
    """
    arrays: list[pa.Array | pa.Scalar] = []
    for part in parts:
        if isinstance(part, str):
            arrays.append(pa.scalar(part))
        elif part.dtype.kind in "iuf":
            arrays.append(pc.cast(pa.array(part), pa.string()))
        else:
            arrays.append(pa.array(part, type=pa.string(), from_pandas=True))
    if not any(isinstance(a, pa.Array) for a in arrays):
        msg = "_concat needs at least one array"
        raise TypeError(msg)
    joined = pc.binary_join_element_wise(*arrays, "", null_handling="replace", null_replacement="")
    return np.asarray(joined.to_numpy(zero_copy_only=False), dtype=object)


# --------------------------------------------------------------------------- verdicts
class _Verdict:
    """The reason (first failing check) and detail of every row; ``open`` rows pass so far."""

    def __init__(self, n: int) -> None:
        self.open = np.ones(n, dtype=bool)
        self.reason = np.full(n, None, dtype=object)
        self.detail = np.full(n, None, dtype=object)

    def flag(
        self,
        mask: np.ndarray,
        reason: str,
        detail: np.ndarray | Callable[[np.ndarray], np.ndarray] | str | None = None,
    ) -> None:
        """Reject the still-open rows of ``mask`` with ``reason`` (``detail`` only for them)."""
        if reason not in REJECT_REASONS:  # pragma: no cover - a programming error
            msg = f"Unknown reject reason {reason!r}; valid reasons are {REJECT_REASONS}."
            raise ValueError(msg)
        hit = np.asarray(mask, dtype=bool) & self.open
        if not hit.any():
            return
        self.open &= ~hit
        self.reason[hit] = reason
        if callable(detail):
            self.detail[hit] = detail(hit)
        elif isinstance(detail, np.ndarray):
            self.detail[hit] = detail[hit]
        elif detail is not None:
            self.detail[hit] = detail


def _file_row(raw: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    n = len(raw)
    file = _text(raw, "file").objects() if "file" in raw.columns else np.full(n, "input", object)
    file = np.where(pd.isna(file), "input", file).astype(object)
    if "row" in raw.columns and pd.api.types.is_integer_dtype(raw["row"].dtype):
        row = raw["row"].to_numpy(dtype=np.int64)
    elif "row" in raw.columns:
        row = pd.to_numeric(raw["row"], errors="coerce").to_numpy(dtype="float64")
        row = np.where(np.isfinite(row), row, 0).astype(np.int64)
    else:
        row = np.arange(1, n + 1, dtype=np.int64)
    return file, row


def _ids(id_t: _Text, file: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Given ids, else the stable ``"<file>:<row>"``; and whether the id was given."""
    ids = id_t.objects()
    given = ~pd.isna(ids)
    if not given.all():
        made = _concat(file[~given], ":", row[~given])
        ids[~given] = made
    return ids, given


def _rejects_frame(file: np.ndarray, row: np.ndarray, ids: np.ndarray, v: _Verdict) -> pd.DataFrame:
    bad = ~v.open
    return pd.DataFrame(
        {
            "file": pd.Series(file[bad], dtype=object),
            "row": pd.Series(row[bad], dtype=np.int64),
            "id": pd.Series(ids[bad], dtype=object),
            "reason": pd.Series(v.reason[bad], dtype=object),
            "detail": pd.Series(v.detail[bad], dtype=object),
        }
    )


# --------------------------------------------------------------------------- locations
def _check_latlon(
    v: _Verdict, lat_t: _Text, lon_t: _Text, use: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Flag the ``use`` rows whose latitude/longitude text is unusable; return the numbers."""
    lat, lon = lat_t.floats(), lon_t.floats()

    def both(m: np.ndarray) -> np.ndarray:
        return _concat("latitude=", lat_t.objects_at(m), ", longitude=", lon_t.objects_at(m))

    with np.errstate(invalid="ignore"):
        v.flag(use & (np.isnan(lat) | np.isnan(lon)), "unparseable coordinate", both)
        v.flag(use & (np.isinf(lat) | np.isinf(lon)), "non-finite coordinate", both)
        swapped = (np.abs(lat) > 90) & (np.abs(lon) <= 90)
        gb_swapped = (
            (lat >= _GB_LON[0]) & (lat <= _GB_LON[1]) & (lon >= _GB_LAT[0]) & (lon <= _GB_LAT[1])
        )
        v.flag(use & (swapped | gb_swapped), "coordinates look swapped", both)
        v.flag(use & (np.abs(lat) > 90), "latitude out of range", both)
        v.flag(use & (np.abs(lon) > 180), "longitude out of range", both)
    return lat, lon


def _check_bng(
    v: _Verdict, e_t: _Text, n_t: _Text, use: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flag unusable easting/northing rows of ``use``.

    Returns ``(lat, lon)`` of the usable rows (NaN elsewhere) and the ``(easting,
    northing)`` numbers as given.
    """
    e, n = e_t.floats(), n_t.floats()

    def both(m: np.ndarray) -> np.ndarray:
        return _concat("easting=", e_t.objects_at(m), ", northing=", n_t.objects_at(m))

    with np.errstate(invalid="ignore"):
        v.flag(use & (np.isnan(e) | np.isnan(n)), "unparseable coordinate", both)
        v.flag(use & (np.isinf(e) | np.isinf(n)), "non-finite coordinate", both)
        in_e = (e >= 0) & (e <= _BNG_MAX_E)
        in_n = (n >= 0) & (n <= _BNG_MAX_N)
        swap_ok = (n >= 0) & (n <= _BNG_MAX_E) & (e >= 0) & (e <= _BNG_MAX_N)
        v.flag(
            use & (e > _BNG_MAX_E) & (n < _BNG_MAX_E) & swap_ok, "coordinates look swapped", both
        )
        v.flag(use & ~(in_e & in_n), "easting/northing out of range", both)
    lat = np.full(e.size, np.nan)
    lon = np.full(e.size, np.nan)
    ok = use & v.open
    if ok.any():
        lat[ok], lon[ok] = bng_to_wgs84(e[ok], n[ok])
    return lat, lon, e, n


@dataclass(frozen=True)
class _Where:
    """Each row's WGS84 position and, to test for swapped axes, the numbers as given."""

    lat: np.ndarray
    lon: np.ndarray
    first: np.ndarray  # latitude or easting, as given
    second: np.ndarray  # longitude or northing, as given
    bng: np.ndarray  # given as easting/northing
    texts: tuple[_Text, _Text, _Text, _Text]  # lat, lon, easting, northing

    def swapped(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """WGS84 ``(lat, lon)`` of ``rows`` with their two coordinates exchanged (or NaN)."""
        a, b, bng = self.first[rows], self.second[rows], self.bng[rows]
        lat, lon = b.copy(), a.copy()  # the given longitude read as the latitude
        lat[bng], lon[bng] = np.nan, np.nan
        with np.errstate(invalid="ignore"):
            fits = bng & (b >= 0) & (b <= _BNG_MAX_E) & (a >= 0) & (a <= _BNG_MAX_N)
        if fits.any():
            lat[fits], lon[fits] = bng_to_wgs84(b[fits], a[fits])  # northing read as easting
        ok = validate_latlon(lat, lon)
        return np.where(ok, lat, np.nan), np.where(ok, lon, np.nan)

    def describe(self, mask: np.ndarray) -> np.ndarray:
        """The coordinates of the ``mask`` rows as given, for a reject's detail."""
        lat_t, lon_t, e_t, n_t = self.texts
        ll = _concat("latitude=", lat_t.objects_at(mask), ", longitude=", lon_t.objects_at(mask))
        en = _concat("easting=", e_t.objects_at(mask), ", northing=", n_t.objects_at(mask))
        return np.where(self.bng[mask], en, ll)


def _locate(raw: pd.DataFrame, v: _Verdict) -> _Where:
    """WGS84 position per row: latitude/longitude first, else easting/northing."""
    lat_t, lon_t = _text(raw, "lat"), _text(raw, "lon")
    e_t, n_t = _text(raw, "easting"), _text(raw, "northing")
    has_ll = lat_t.present & lon_t.present
    has_en = e_t.present & n_t.present & ~has_ll
    partial = (lat_t.present | lon_t.present | e_t.present | n_t.present) & ~(has_ll | has_en)
    v.flag(~(has_ll | has_en), "no location", np.where(partial, "only one coordinate given", _NA))
    lat_ll, lon_ll = _check_latlon(v, lat_t, lon_t, has_ll)
    lat_en, lon_en, e, n = _check_bng(v, e_t, n_t, has_en)
    lat = np.where(has_ll, lat_ll, lat_en)
    lon = np.where(has_ll, lon_ll, lon_en)
    # A final guard on the converted numbers (H3 would wrap or accept them silently).
    v.flag(~validate_latlon(lat, lon), "no location", "coordinates could not be converted")
    return _Where(
        lat=lat,
        lon=lon,
        first=np.where(has_ll, lat_ll, e),
        second=np.where(has_ll, lon_ll, n),
        bng=has_en,
        texts=(lat_t, lon_t, e_t, n_t),
    )


# --------------------------------------------------------------------------- dates
@dataclass(frozen=True)
class _Dates:
    when: np.ndarray  # datetime64[ns], NaT where missing or unparseable
    time_known: np.ndarray
    day_known: np.ndarray
    missing: np.ndarray
    text: _Text  # the text parsed (for details)


@dataclass(frozen=True)
class _Parsed:
    """Parsed dates, one entry per value parsed."""

    when: np.ndarray  # naive wall-clock datetime64[ns], NaT where unparseable
    time_known: np.ndarray
    day_known: np.ndarray
    offset: np.ndarray  # minutes east of UTC; NaN where no offset was given

    def take(self, t: _Text) -> _Parsed:
        return _Parsed(
            when=t.take(self.when, np.datetime64("NaT", "ns")),
            time_known=t.take(self.time_known, False),
            day_known=t.take(self.day_known, False),
            offset=t.take(self.offset, np.nan),
        )


def _parse_dates(t: _Text, time: _Text | None = None) -> _Dates:
    """Parse ISO and UK day-first dates (optionally with a time and UTC offset).

    A separate ``time`` column is joined to date-only values. Offsets are converted to UK
    local time; naive times are taken as UK local time.
    """
    if time is not None and time.present.any():
        date, clock = t.full(), time.full()
        join = pc.and_(
            pc.and_(pc.is_valid(date), pc.is_valid(clock)),
            pc.invert(pc.fill_null(pc.match_substring(date, ":"), False)),
        )
        t = _from_arrow(pc.if_else(join, pc.binary_join_element_wise(date, clock, " "), date))
    # Mostly distinct values (date-times) are parsed as distinct dates and distinct times.
    parsed = _parse_values(t.values).take(t) if t.encoded else _parse_split(t)
    when = parsed.when
    shifted = ~np.isnat(when) & ~np.isnan(parsed.offset)
    if shifted.any():
        when = when.copy()
        when[shifted] = _to_uk_local(when[shifted], parsed.offset[shifted])
    return _Dates(
        when=when,
        time_known=parsed.time_known,
        day_known=parsed.day_known,
        missing=~t.present,
        text=t,
    )


_SPLIT_PATTERN = r"^(?P<d>[^\sT]+)(?:(?:T|\s+)(?P<t>\S.*))?$"
_NO_DATE = "2000-01-01"


def _parse_split(t: _Text) -> _Parsed:
    """Parse each row's date part and time part separately, each once per distinct value."""
    parts = pc.extract_regex(t.values, _SPLIT_PATTERN)
    matched = t.take(np.asarray(parts.is_valid().to_numpy(zero_copy_only=False), bool), False)
    day_t = t.take(np.arange(len(t.values)), -1)
    date_t = _from_arrow(parts.field("d"), encode=True)
    clock_t = _from_arrow(parts.field("t"), encode=True)
    date_t = _Text(
        np.where(day_t >= 0, np.append(date_t.codes, -1)[day_t], -1), date_t.values, True
    )
    clock_t = _Text(
        np.where(day_t >= 0, np.append(clock_t.codes, -1)[day_t], -1), clock_t.values, True
    )
    date = _parse_values(date_t.values).take(date_t)
    fake = pc.binary_join_element_wise(pa.scalar(_NO_DATE), clock_t.values, " ")
    clock = _parse_values(fake).take(clock_t)
    has_clock = clock_t.present
    ok = (
        matched
        & ~np.isnat(date.when)
        & ~date.time_known
        & (~has_clock | (~np.isnat(clock.when) & clock.time_known & date.day_known))
    )
    since_midnight = np.where(
        has_clock & ok, clock.when - np.datetime64(_NO_DATE, "ns"), np.timedelta64(0, "ns")
    )
    when = np.where(ok, date.when + since_midnight, np.datetime64("NaT", "ns"))
    return _Parsed(
        when=when.astype("datetime64[ns]"),
        time_known=has_clock & ok,
        day_known=date.day_known & ok,
        offset=np.where(has_clock, clock.offset, date.offset),
    )


def _parse_values(values: pa.Array) -> _Parsed:
    """Parse each text value with :data:`_DATE_PATTERN` (vectorised, no per-value Python)."""
    n = len(values)
    if n == 0:
        empty = np.zeros(0, bool)
        return _Parsed(np.empty(0, "datetime64[ns]"), empty, empty, np.zeros(0))
    parts = pc.extract_regex(values, _DATE_PATTERN)
    matched = np.asarray(parts.is_valid().to_numpy(zero_copy_only=False), dtype=bool)

    def field(name: str) -> np.ndarray:
        col = parts.field(name)
        digits = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
        return np.asarray(pc.cast(digits, pa.float64()).to_numpy(zero_copy_only=False), "float64")

    y1, m1 = field("y1"), field("m1")
    year = np.where(np.isnan(y1), field("y2"), y1)
    month = np.where(np.isnan(m1), field("m2"), m1)
    d1, d2 = field("d1"), field("d2")
    day_known = ~np.isnan(d1) | ~np.isnan(d2)
    day = np.where(~np.isnan(d1), d1, np.where(~np.isnan(d2), d2, 1.0))
    hour, minute, sec = field("H"), field("M"), field("S")
    time_known = ~np.isnan(hour)
    hour, minute, sec = np.nan_to_num(hour), np.nan_to_num(minute), np.nan_to_num(sec)
    with np.errstate(invalid="ignore"):
        ok = (
            matched
            & (year >= _MIN_YEAR)
            & (year <= _MAX_YEAR)
            & (month >= 1)
            & (month <= 12)
            & (day >= 1)
            & (hour <= 23)
            & (minute <= 59)
            & (sec <= 59)
            & (day_known | ~time_known)
        )
    y = np.where(ok, year, 2000).astype(np.int64)
    m = np.where(ok, month, 1).astype(np.int64)
    first = ((y - 1970) * 12 + (m - 1)).astype("datetime64[M]")
    days_in_month = ((first + 1).astype("datetime64[D]") - first.astype("datetime64[D]")).astype(
        np.int64
    )
    ok &= day <= days_in_month
    seconds = ((np.where(ok, day, 1) - 1) * 86400 + hour * 3600 + minute * 60 + sec).astype(
        np.int64
    )
    when = first.astype("datetime64[ns]") + seconds.astype("timedelta64[s]")
    when[~ok] = np.datetime64("NaT")
    return _Parsed(when, time_known & ok, day_known & ok, _offsets(parts.field("tz")))


def _offsets(tz: pa.Array) -> np.ndarray:
    """``Z``, ``+01:00``, ``-0500`` → minutes east of UTC (NaN where empty)."""
    digits = pc.replace_substring(pc.replace_substring(tz, "Z", "+00:00"), ":", "")
    given = pc.fill_null(pc.greater(pc.utf8_length(digits), 0), False)
    digits = pc.if_else(given, digits, pa.scalar("+0000"))
    hours = pc.cast(pc.utf8_slice_codeunits(digits, 1, 3), pa.float64())
    mins = pc.cast(pc.utf8_slice_codeunits(digits, 3, 5), pa.float64())
    sign = np.where(np.asarray(pc.starts_with(digits, "-").to_numpy(zero_copy_only=False)), -1, 1)
    total = sign * (np.asarray(hours.to_numpy(zero_copy_only=False)) * 60 + np.asarray(mins))
    return np.where(np.asarray(given.to_numpy(zero_copy_only=False), bool), total, np.nan)


def _to_uk_local(when: np.ndarray, offset_min: np.ndarray) -> np.ndarray:
    """Wall-clock times with UTC offsets (minutes) to naive UK local time."""
    utc = when - offset_min.astype(np.int64).astype("timedelta64[m]")
    local = pd.DatetimeIndex(utc).tz_localize("UTC").tz_convert(_UK_TZ).tz_localize(None)
    return local.to_numpy(dtype="datetime64[ns]")


def _month_labels(when: np.ndarray) -> np.ndarray:
    """``"YYYY-MM"`` per datetime (``None`` for NaT), formatted once per distinct month."""
    valid = ~np.isnat(when)
    out = np.full(when.size, None, dtype=object)
    if valid.any():
        k = when[valid].astype("datetime64[M]").astype(np.int64)
        codes, uniq = pd.factorize(k)
        labels = np.array([f"{1970 + u // 12:04d}-{u % 12 + 1:02d}" for u in uniq], dtype=object)
        out[valid] = labels[codes]
    return out


# --------------------------------------------------------------------------- places
def _to_bng_geometry(geom: BaseGeometry) -> BaseGeometry:
    tr = transformer(WGS84, BNG)

    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, fn)


def _distinct_to_bng(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 → BNG, transforming each distinct point once (police.uk points repeat)."""
    codes, uniques = pd.factorize(lat + 1j * lon)
    x, y = wgs84_to_bng(np.real(uniques), np.imag(uniques))
    return np.asarray(x)[codes], np.asarray(y)[codes]


def _flag_far(
    v: _Verdict,
    where: _Where,
    file: np.ndarray,
    area: BaseGeometry | None,
    area_margin_m: float,
    outlier_km: float,
) -> None:
    """Flag points far from home: outside the area (+ margin), or far from the file's median.

    A far point that lands home once its two coordinates are exchanged is flagged
    ``coordinates look swapped`` instead (a BNG swap inside Great Britain stays in range, so
    only its distance gives it away).
    """
    idx = np.flatnonzero(v.open)
    if idx.size == 0:
        return
    x, y = _distinct_to_bng(where.lat[idx], where.lon[idx])
    if area is not None:
        region = _to_bng_geometry(area)
        zone = region.buffer(area_margin_m) if area_margin_m > 0 else region
        shapely.prepare(zone)
        far = ~shapely.intersects_xy(zone, x, y)

        def home(xs: np.ndarray, ys: np.ndarray, pos: np.ndarray) -> np.ndarray:
            return np.asarray(shapely.intersects_xy(zone, xs, ys), dtype=bool)

        dist_km = shapely.distance(region, shapely.points(x[far], y[far])) / 1000.0
        detail = _concat(np.round(dist_km, 1), " km outside the study area")
    else:
        group, _ = pd.factorize(pd.Series(file[idx], dtype=object))
        centre = pd.DataFrame({"g": group, "x": x, "y": y}).groupby("g").median()
        cx, cy = centre["x"].to_numpy()[group], centre["y"].to_numpy()[group]
        dist_km = np.hypot(x - cx, y - cy) / 1000.0
        far = dist_km > outlier_km
        # A file whose points are mostly far from their median has no "home" area (a
        # national extract, two points): nothing in it is an outlier.
        core = np.bincount(group, weights=~far, minlength=group.max() + 1)
        size = np.bincount(group, minlength=group.max() + 1)
        far &= (core / size >= 0.5)[group]

        def home(xs: np.ndarray, ys: np.ndarray, pos: np.ndarray) -> np.ndarray:
            return np.asarray(np.hypot(xs - cx[pos], ys - cy[pos]) <= outlier_km * 1000.0)

        detail = _concat(
            np.round(dist_km[far], 1), " km from the median location of ", file[idx[far]]
        )
    _flag_swapped_home(v, where, idx, np.flatnonzero(far), home)
    mask = np.zeros(v.open.size, dtype=bool)
    mask[idx[far]] = True
    full_detail = np.full(v.open.size, None, dtype=object)
    full_detail[idx[far]] = detail
    v.flag(mask, "far outside the study area", full_detail)


def _flag_swapped_home(
    v: _Verdict,
    where: _Where,
    idx: np.ndarray,
    far_pos: np.ndarray,
    home: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
) -> None:
    if far_pos.size == 0:
        return
    lat, lon = where.swapped(idx[far_pos])
    can = ~np.isnan(lat)
    lands = np.zeros(far_pos.size, dtype=bool)
    if can.any():
        sx, sy = wgs84_to_bng(lat[can], lon[can])
        lands[can] = home(np.asarray(sx), np.asarray(sy), far_pos[can])
    mask = np.zeros(v.open.size, dtype=bool)
    mask[idx[far_pos[lands]]] = True
    v.flag(mask, "coordinates look swapped", where.describe)


def _flag_duplicates(
    v: _Verdict,
    keys: np.ndarray,
    given: np.ndarray,
    file: np.ndarray,
    row: np.ndarray,
) -> None:
    """Reject accepted rows whose given integer ``key`` was accepted before; the first stays."""
    idx = np.flatnonzero(v.open & given)
    if idx.size < 2:
        return
    _, first_pos, inverse = np.unique(keys[idx], return_index=True, return_inverse=True)
    first = first_pos[inverse.ravel()]
    dup = first != np.arange(idx.size)
    if not dup.any():
        return
    at, seen = idx[dup], idx[first[dup]]
    detail = np.full(v.open.size, None, dtype=object)
    detail[at] = _concat("first seen at ", file[seen], " row ", row[seen])
    mask = np.zeros(v.open.size, dtype=bool)
    mask[at] = True
    v.flag(mask, "duplicate id", detail)


def _pair_keys(group: np.ndarray, key: np.ndarray) -> np.ndarray:
    """One integer per distinct ``(group, key)``; ``key`` already integer codes."""
    codes, _ = pd.factorize(pd.Series(group, dtype=object))
    return codes.astype(np.int64) * (int(key.max(initial=0)) + 2) + key


# --------------------------------------------------------------------------- fields
def _age_band_of(text: str) -> str:
    """One distinct age or age-band label to a band of :data:`AGE_BANDS`."""
    s = text.strip().lower().replace("–", "-").replace("—", "-")
    s = re.sub(r"\s*(years?|yrs?|y/?o|yo)\b", "", s)
    s = re.sub(r"^(aged?)\s+", "", s).strip()
    if s in AGE_BANDS:
        return s
    if s in {"under 18", "<18", "child", "juvenile", "youth"}:
        return "unknown"
    m = re.fullmatch(r"(?:<|under|below)\s*(\d+)", s)
    if m:
        return "under 10" if int(m.group(1)) <= 10 else "unknown"
    m = re.fullmatch(r"(\d+)\s*(?:\+|plus|and over|or over|or older)|(?:over|>=?)\s*(\d+)", s)
    if m:
        exclusive = s.startswith("over") or (s.startswith(">") and "=" not in s)
        low = int(m.group(1) or m.group(2)) + (1 if exclusive else 0)
        return "25+" if low >= 25 else "unknown"
    m = re.fullmatch(r"(\d+)\s*(?:-|to)\s*(\d+)", s)
    if m:
        return _band_of_range(int(m.group(1)), int(m.group(2)))
    try:
        age = float(s)
    except ValueError:
        return "unknown"
    return _band_of_range(int(age), int(age)) if 0 <= age <= 120 else "unknown"


def _band_of_range(low: int, high: int) -> str:
    for band, lo, hi in (("under 10", 0, 9), ("10-17", 10, 17), ("18-24", 18, 24)):
        if lo <= low <= high <= hi:
            return band
    return "25+" if 25 <= low <= high <= 120 else "unknown"


def _age_bands(raw: pd.DataFrame) -> np.ndarray:
    """``age_band`` normalised, else the band of an exact ``age``; ``None`` if neither."""
    band_t, age_t = _text(raw, "age_band", encode=True), _text(raw, "age", encode=True)
    from_band = band_t.take(np.array([_age_band_of(s) for s in band_t.items()], object), None)
    from_age = age_t.take(np.array([_age_band_of(s) for s in age_t.items()], object), None)
    use_age = pd.isna(from_band) | ((from_band == "unknown") & ~pd.isna(from_age))
    return np.where(use_age, from_age, from_band).astype(object)


def _categories_and_harm(
    raw: pd.DataFrame, harm_weights: Mapping[str, float] | None
) -> tuple[np.ndarray, np.ndarray]:
    cat_t = _text(raw, "category", encode=True)
    labels = np.append(canonical_category(cat_t.items()), "unknown").astype(object)
    labels[labels == ""] = "unknown"
    weights = harm_weights_for(labels, dict(harm_weights or {}))
    category = labels[cat_t.codes]
    own = _text(raw, "harm").floats()
    with np.errstate(invalid="ignore"):
        harm = np.where(np.isfinite(own) & (own >= 0), own, weights[cat_t.codes])
    return category, harm.astype("float64")


def _lower_or(t: _Text, default: str | None) -> np.ndarray:
    per = np.array([" ".join(s.lower().split()) for s in t.items()], dtype=object)
    return t.take(per, default)


# --------------------------------------------------------------------------- incidents
def validate_incidents(
    raw: pd.DataFrame,
    *,
    area: BaseGeometry | None = None,
    area_margin_m: float = 1000.0,
    outlier_km: float = 50.0,
    harm_weights: Mapping[str, float] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split raw incident rows into valid incidents and rejects with reasons.

    Parameters
    ----------
    raw
        Rows as :func:`geojtai.io.read_incidents` returns them (columns of
        :data:`RAW_INCIDENT_COLUMNS`; absent ones count as empty). Several inputs may be
        concatenated first: ids are then checked for duplicates across all of them.
    area
        The study area in EPSG:4326. With it, points more than ``area_margin_m`` outside are
        rejected; without it, points more than ``outlier_km`` from the median location of
        their own file.
    area_margin_m
        Tolerance outside ``area`` in metres (measured in EPSG:27700).
    outlier_km
        Distance from the file's median location beyond which a point is an outlier.
    harm_weights
        Overrides of :data:`geojtai.categories.DEFAULT_HARM_WEIGHTS`, used where a row has no
        finite, non-negative ``harm`` of its own.

    Returns
    -------
    (valid, rejects)
        ``valid`` has the columns :data:`INCIDENT_COLUMNS` in input order; ``rejects`` has
        :data:`REJECT_COLUMNS`, one primary reason per row (see the module docstring for the
        priority order). ``len(valid) + len(rejects) == len(raw)``.

    Raises
    ------
    SchemaError
        The options are invalid (negative margin, non-positive outlier distance).

    Examples
    --------
    >>> raw = pd.DataFrame({"id": ["a", "b"], "occurred": ["2024-03-05", "05/03/2024"],
    ...                     "lat": ["51.5", ""], "lon": ["-0.1", ""], "category": ["ASB", "x"]})
    >>> valid, rejects = validate_incidents(raw)
    >>> valid[["id", "month", "category"]].to_dict("records")
    [{'id': 'a', 'month': '2024-03', 'category': 'anti-social behaviour'}]
    >>> rejects["reason"].tolist()
    ['no location']
    """
    _check_options(raw, area, area_margin_m, outlier_km)
    raw = raw.reset_index(drop=True)
    file, row = _file_row(raw)
    id_t = _text(raw, "id")
    ids, given = _ids(id_t, file, row)
    source_t = _text(raw, "source", encode=True)
    source = _lower_or(source_t, "unknown")
    v = _Verdict(len(raw))
    # 1. Problems the reader found: lines it could not split, geometries that are not points.
    problem = _text(raw, "problem").objects()
    problem_detail = _text(raw, "problem_detail").objects()
    for reason in ("malformed row", "not a point"):
        v.flag(problem == reason, reason, problem_detail)
    # 2. Location, then 3. date, each in its documented order of checks.
    where = _locate(raw, v)
    dates = _parse_dates(_text(raw, "occurred"), _text(raw, "time"))
    v.flag(dates.missing, "missing date")
    v.flag(
        np.isnat(dates.when),
        "unparseable date",
        lambda m: _concat("occurred=", dates.text.objects_at(m)),
    )
    # 4. Places far from the study area (or from the file's other points), 5. repeated ids.
    _flag_far(v, where, file, area, area_margin_m, outlier_km)
    _flag_duplicates(v, _pair_keys(source, id_t.keys()), given, file, row)
    # 6. Assemble both tables.
    valid = _assemble_incidents(raw, v.open, ids, file, row, source, dates, where, harm_weights)
    return valid, _rejects_frame(file, row, ids, v)


def _assemble_incidents(
    raw: pd.DataFrame,
    ok: np.ndarray,
    ids: np.ndarray,
    file: np.ndarray,
    row: np.ndarray,
    source: np.ndarray,
    dates: _Dates,
    where: _Where,
    harm_weights: Mapping[str, float] | None,
) -> pd.DataFrame:
    def text(values: np.ndarray) -> pd.Series:
        return pd.Series(values[ok], dtype=object)

    category, harm = _categories_and_harm(raw, harm_weights)
    columns: dict[str, object] = {
        "id": text(ids),
        "file": text(file),
        "row": row[ok],
        "source": text(source),
        "month": pd.Series(_month_labels(dates.when[ok]), dtype=object),
        "occurred": dates.when[ok].astype("datetime64[ns]"),
        "time_known": dates.time_known[ok],
        "lat": where.lat[ok].astype("float64"),
        "lon": where.lon[ok].astype("float64"),
        "category": text(category),
        "harm": harm[ok],
        "age_band": text(_age_bands(raw)),
        "weapon": text(_lower_or(_text(raw, "weapon", encode=True), None)),
    }
    for name in POLICE_UK_EXTRAS:
        columns[name] = pd.Series(_text(raw, name).objects_at(ok), dtype=object)
    return pd.DataFrame(columns)[list(INCIDENT_COLUMNS)]


def _check_options(raw: object, area: object, area_margin_m: float, outlier_km: float) -> None:
    problems = []
    if not isinstance(raw, pd.DataFrame):
        problems.append(f"raw must be a pandas DataFrame; {type(raw).__name__} was given")
    if area is not None and not isinstance(area, BaseGeometry):
        problems.append(f"area must be a shapely geometry; {type(area).__name__} was given")
    if not np.isfinite(area_margin_m) or area_margin_m < 0:
        problems.append(f"area_margin_m must be ≥ 0; {area_margin_m!r} was given")
    if not np.isfinite(outlier_km) or outlier_km <= 0:
        problems.append(f"outlier_km must be > 0; {outlier_km!r} was given")
    if problems:
        raise SchemaError("; ".join(problems), problems)


# --------------------------------------------------------------------------- interventions
def _split_list(t: _Text) -> np.ndarray:
    """``"Police; Council, youth service"`` → ``"council;police;youth service"`` per row."""
    per = np.array(
        [
            ";".join(
                sorted({" ".join(p.lower().split()) for p in re.split(r"[;,|]", s) if p.strip()})
            )
            for s in t.items()
        ],
        dtype=object,
    )
    out = t.take(per, None)
    out[out == ""] = None
    return out


def _join_agencies(lead: np.ndarray, partners: np.ndarray) -> np.ndarray:
    """Lead and partner agencies together, sorted and ``";"``-joined (interventions only)."""
    joined = [
        ";".join(sorted({a for a in f"{x or ''};{y or ''}".split(";") if a})) or None
        for x, y in zip(lead, partners, strict=True)
    ]
    return np.array(joined, dtype=object)


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_WORDS = {"daily": 7, "every day": 7, "everyday": 7, "weekdays": 5, "weekends": 2}


def _days_per_week(text: str) -> float:
    """``"Fri;Sat"`` → 2, ``"Mon-Fri"`` → 5, ``"daily"`` → 7; NaN if not understood."""
    s = text.strip().lower()
    if s in _DAY_WORDS:
        return float(_DAY_WORDS[s])
    days: set[int] = set()
    for part in filter(None, (p.strip() for p in re.split(r"[;,/]|\band\b", s))):
        ends = [e.strip()[:3] for e in re.split(r"\s*(?:-|–|to)\s*", part)]
        if not all(e in _DAYS for e in ends) or len(ends) > 2:
            return float("nan")
        a, b = _DAYS.index(ends[0]), _DAYS.index(ends[-1])
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return float(len(days)) if days else float("nan")


def _hours_per_day(text: str) -> float:
    """``"17:00-22:00"`` → 5, ``"22:00-02:00"`` → 4, ``"10-12; 14-16"`` → 4; NaN if not."""
    total = 0.0
    parts = [p for p in re.split(r"[;,]", text) if p.strip()]
    for part in parts:
        m = re.fullmatch(
            r"\s*(\d{1,2})(?::(\d{2}))?\s*(?:-|–|to)\s*(\d{1,2})(?::(\d{2}))?\s*", part
        )
        if not m:
            return float("nan")
        start = int(m.group(1)) + int(m.group(2) or 0) / 60
        end = int(m.group(3)) + int(m.group(4) or 0) / 60
        if start > 24 or end > 24:
            return float("nan")
        span = (end - start) % 24
        total += 24.0 if span == 0 and end != start else span  # 00:00-24:00 is a whole day
    return total if parts else float("nan")


def _scheduled_hours(raw: pd.DataFrame) -> np.ndarray:
    """Hours per week from the ``days`` and ``hours`` schedule (NaN where not understood)."""
    days_t = _text(raw, "days", encode=True)
    hours_t = _text(raw, "hours", encode=True)
    days = days_t.take(np.array([_days_per_week(s) for s in days_t.items()], float), np.nan)
    hours = hours_t.take(np.array([_hours_per_day(s) for s in hours_t.items()], float), np.nan)
    return days * hours


def _money(t: _Text) -> np.ndarray:
    cleaned = pc.replace_substring_regex(t.values, r"[£$€,\s]", "")
    return t.take(_to_float(cleaned), np.nan)


# Shapely geometry type ids to names; index -1 (a missing geometry) gives "missing".
GEOMETRY_TYPE_NAMES = np.array(
    [
        "Point",
        "LineString",
        "LinearRing",
        "Polygon",
        "MultiPoint",
        "MultiLineString",
        "MultiPolygon",
        "GeometryCollection",
        "missing",
    ],
    dtype=object,
)
_INTERVENTION_TYPES = (0, 1, 3, 5, 6)  # point, line, polygon, multi-line, multi-polygon


def _intervention_geometry(raw: pd.DataFrame, v: _Verdict) -> np.ndarray:
    """Geometry per row in EPSG:4326: the geometry column, else WKT, else coordinates."""
    n = len(raw)
    if isinstance(raw, gpd.GeoDataFrame) and raw.geometry.name in raw.columns:
        geom = np.asarray(raw.geometry.array, dtype=object)
    else:
        geom = np.full(n, None, dtype=object)
    geom = np.where(shapely.is_missing(geom) | shapely.is_empty(geom), _NA, geom)
    wkt_t = _text(raw, "wkt", encode=True)
    parsed = np.asarray(shapely.from_wkt(wkt_t.items(), on_invalid="ignore"), dtype=object)
    from_wkt = wkt_t.take(parsed, None)
    use_wkt = pd.isna(geom) & wkt_t.present
    v.flag(
        use_wkt & pd.isna(from_wkt),
        "invalid geometry",
        lambda m: _concat("not WKT: ", wkt_t.objects_at(m)),
    )
    geom = np.where(use_wkt, from_wkt, geom)
    # Points from coordinate columns, checked like incident coordinates.
    need = pd.isna(geom) & v.open
    lat_t, lon_t = _text(raw, "lat"), _text(raw, "lon")
    e_t, n_t = _text(raw, "easting"), _text(raw, "northing")
    has_ll = need & lat_t.present & lon_t.present
    has_en = need & e_t.present & n_t.present & ~has_ll
    lat1, lon1 = _check_latlon(v, lat_t, lon_t, has_ll)
    lat2, lon2, _, _ = _check_bng(v, e_t, n_t, has_en)
    lat, lon = np.where(has_ll, lat1, lat2), np.where(has_ll, lon1, lon2)
    pts = (has_ll | has_en) & v.open
    if pts.any():
        geom[pts] = shapely.points(lon[pts], lat[pts])
    v.flag(pd.isna(geom), "missing geometry")
    return geom


def _check_geometry(geom: np.ndarray, v: _Verdict) -> None:
    """Flag unsupported types, coordinates outside WGS84's range and invalid shapes."""
    g = np.where(v.open, geom, _NA)
    types = np.asarray(shapely.get_type_id(g))
    v.flag(
        ~np.isin(types, _INTERVENTION_TYPES),
        "invalid geometry",
        lambda m: _concat(GEOMETRY_TYPE_NAMES[types[m]], " geometries are not supported"),
    )
    bounds = np.asarray(shapely.bounds(np.where(v.open, g, _NA))).reshape(-1, 4)
    with np.errstate(invalid="ignore"):
        outside = (
            (bounds[:, 0] < -180)
            | (bounds[:, 2] > 180)
            | (bounds[:, 1] < -90)
            | (bounds[:, 3] > 90)
        )
    v.flag(outside, "invalid geometry", "coordinates outside -180..180 / -90..90")
    invalid = np.zeros(geom.size, dtype=bool)
    reasons = np.full(geom.size, None, dtype=object)
    if v.open.any():
        invalid[v.open] = ~shapely.is_valid(g[v.open])
    if invalid.any():
        reasons[invalid] = shapely.is_valid_reason(g[invalid])
    v.flag(invalid, "invalid geometry", reasons)


def validate_interventions(raw: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Split raw intervention rows into valid interventions and rejects with reasons.

    Parameters
    ----------
    raw
        Rows as :func:`geojtai.io.read_interventions` returns them: a GeoDataFrame in
        EPSG:4326 (geometry may be missing where the file gives ``wkt``, ``lat``/``lon`` or
        ``easting``/``northing`` columns instead).

    Returns
    -------
    (valid, rejects)
        ``valid`` is a GeoDataFrame in EPSG:4326 with :data:`INTERVENTION_COLUMNS`: agencies
        and place types as ``";"``-joined sorted lower-case strings, ``start``/``end`` as
        datetimes (``end`` NaT when ongoing; a month-only end means the month's last day),
        ``start_month``/``end_month`` as ``"YYYY-MM"``. A point without a radius gets
        :data:`DEFAULT_RADIUS_M`, said in ``notes``. ``hours_per_week`` is the file's, else
        derived from the ``days`` and ``hours`` schedule (``"Fri;Sat"`` × ``"17:00-22:00"`` =
        10, also said in ``notes``), else NaN. ``rejects`` has :data:`REJECT_COLUMNS`.

    Raises
    ------
    CRSError
        ``raw`` has a geometry column but no CRS.
    """
    raw = _intervention_frame(raw)
    file, row = _file_row(raw)
    id_t = _text(raw, "id")
    ids, given = _ids(id_t, file, row)
    v = _Verdict(len(raw))
    # 1. Reader problems, 2. geometry (missing, unparseable, unsupported, invalid).
    problem = _text(raw, "problem").objects()
    v.flag(problem == "malformed row", "malformed row", _text(raw, "problem_detail").objects())
    geom = _intervention_geometry(raw, v)
    _check_geometry(geom, v)
    # 3. Radius: optional, but when given a finite number ≥ 0; points default to 100 m.
    rad_t = _text(raw, "radius_m")
    radius = rad_t.floats()
    with np.errstate(invalid="ignore"):
        bad_radius = rad_t.present & ~(np.isfinite(radius) & (radius >= 0))
    v.flag(bad_radius, "invalid radius", lambda m: _concat("radius_m=", rad_t.objects_at(m)))
    is_point = np.asarray(shapely.get_type_id(np.where(v.open, geom, _NA))) == 0
    defaulted = is_point & np.isnan(radius)
    radius = np.where(defaulted, DEFAULT_RADIUS_M, radius)
    # 4. Dates: a start is required; an end, when given, is not before it.
    start = _parse_dates(_text(raw, "start"))
    end = _parse_dates(_text(raw, "end"))
    end_when = _end_of_period(end)
    v.flag(start.missing, "missing start")
    v.flag(
        np.isnat(start.when),
        "unparseable start",
        lambda m: _concat("start=", start.text.objects_at(m)),
    )
    v.flag(
        ~end.missing & np.isnat(end.when),
        "unparseable end",
        lambda m: _concat("end=", end.text.objects_at(m)),
    )
    v.flag(
        end_when < start.when,
        "end before start",
        lambda m: _concat("start=", start.text.objects_at(m), ", end=", end.text.objects_at(m)),
    )
    # 5. Repeated ids, then 6. assemble both tables.
    _flag_duplicates(v, id_t.keys(), given, file, row)
    fields = _InterventionFields(ids, file, row, geom, radius, defaulted, start.when, end_when)
    return _assemble_interventions(raw, v, fields), _rejects_frame(file, row, ids, v)


@dataclass(frozen=True)
class _InterventionFields:
    ids: np.ndarray
    file: np.ndarray
    row: np.ndarray
    geom: np.ndarray
    radius: np.ndarray
    defaulted: np.ndarray
    start: np.ndarray
    end: np.ndarray


def _intervention_frame(raw: gpd.GeoDataFrame) -> pd.DataFrame:
    if not isinstance(raw, pd.DataFrame):
        msg = f"raw must be a GeoDataFrame; {type(raw).__name__} was given"
        raise SchemaError(msg)
    if isinstance(raw, gpd.GeoDataFrame) and raw.geometry.name in raw.columns:
        if raw.crs is None and raw.geometry.notna().any():
            msg = "The interventions have geometries but no CRS; set one (e.g. EPSG:4326)."
            raise CRSError(msg)
        if raw.crs is not None and not raw.crs.equals(WGS84) and raw.crs.to_epsg() != 4326:
            raw = raw.to_crs(WGS84)
    return raw.reset_index(drop=True)


def _end_of_period(end: _Dates) -> np.ndarray:
    """A month-only end means "until the end of that month" (its last day)."""
    when = end.when.copy()
    month_only = ~np.isnat(when) & ~end.day_known
    if month_only.any():
        m = when[month_only].astype("datetime64[M]")
        when[month_only] = ((m + 1).astype("datetime64[D]") - 1).astype("datetime64[ns]")
    return when


def _join_notes(*notes: np.ndarray) -> np.ndarray:
    """Join per-row notes with ``"; "`` (``None`` where there are none).

    Intervention tables are small (a partnership runs tens to thousands of them), so a
    comprehension is clearer here than Arrow.
    """
    joined = ["; ".join(n for n in row if n) or None for row in zip(*notes, strict=True)]
    return np.array(joined, dtype=object)


def _assemble_interventions(
    raw: pd.DataFrame, v: _Verdict, f: _InterventionFields
) -> gpd.GeoDataFrame:
    ok = v.open
    lead = _split_list(_text(raw, "lead_agency", encode=True))
    partners = _split_list(_text(raw, "partner_agencies", encode=True))
    given_hours = _money(_text(raw, "hours_per_week"))
    scheduled = _scheduled_hours(raw)
    derived = np.isnan(given_hours) & ~np.isnan(scheduled)
    hours_per_week = np.where(derived, scheduled, given_hours)
    notes = _join_notes(
        np.where(f.defaulted, f"no radius given; {DEFAULT_RADIUS_M:g} m assumed", _NA),
        np.where(derived, "hours_per_week from days × hours", _NA),
    )

    def obj(values: np.ndarray) -> pd.Series:
        return pd.Series(np.asarray(values, dtype=object)[ok], dtype=object)

    def text(name: str) -> pd.Series:
        return obj(_text(raw, name).objects())

    frame = pd.DataFrame(
        {
            "id": obj(f.ids),
            "name": text("name"),
            "type": obj(_lower_or(_text(raw, "type", encode=True), "unknown")),
            "lead_agency": obj(lead),
            "partner_agencies": obj(partners),
            "agencies": obj(_join_agencies(lead, partners)),
            "radius_m": f.radius[ok].astype("float64"),
            "start": f.start[ok].astype("datetime64[ns]"),
            "end": f.end[ok].astype("datetime64[ns]"),
            "start_month": obj(_month_labels(f.start)),
            "end_month": obj(_month_labels(f.end)),
            "days": text("days"),
            "hours": text("hours"),
            "place_types": obj(_split_list(_text(raw, "place_types", encode=True))),
            "cost": _money(_text(raw, "cost"))[ok],
            "hours_per_week": hours_per_week[ok],
            "notes": obj(notes),
            "file": obj(f.file),
            "row": f.row[ok],
        }
    )
    geometry = gpd.GeoSeries(list(f.geom[ok]), crs=WGS84)
    valid = gpd.GeoDataFrame(frame, geometry=geometry.values, crs=WGS84)
    return valid[list(INTERVENTION_COLUMNS)]
