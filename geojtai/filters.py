"""Filtered cell counts on the fly: the web app's filter panel and filtered exports.

A built study stores cell × month tables for the whole study; a filter on category, source,
age band, place type, weekday or hour of day needs the incidents themselves.
:class:`IncidentIndex` holds the in-scope incidents as a few compact numpy arrays (an
``int32`` cell code, an ``int16`` month and ``int8`` codes per label field: about 20 bytes an
incident), built once per process. A filter is then a boolean mask from small look-up tables
and one ``np.bincount`` per output: a few milliseconds for 1M incidents
(``benchmarks/bench_filters.py``).

Counts here are exact. Published outputs pass them through :mod:`geojtai.disclosure` after
filtering (DESIGN §5).

Examples
--------
>>> flt = parse_filter({"category": "robbery", "hours": "after_school"}, index)  # doctest: +SKIP
>>> filtered_cells(index, flt)  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from geojtai import aggregate, grid
from geojtai.errors import FilterError, SchemaError

__all__ = [
    "BREAKDOWNS",
    "FILTER_KEYS",
    "HOUR_BANDS",
    "UNKNOWN",
    "WEEKDAYS",
    "CellFilter",
    "IncidentIndex",
    "describe_filter",
    "filter_mask",
    "filter_summary",
    "filtered_breakdown",
    "filtered_cells",
    "filtered_series",
    "parse_filter",
]

FILTER_KEYS: tuple[str, ...] = (
    "from",
    "to",
    "category",
    "source",
    "age",
    "place_type",
    "weekday",
    "hours",
    "resolution",
)
BREAKDOWNS: tuple[str, ...] = ("category", "source", "age_band", "place_type", "weekday", "hour")
WEEKDAYS: tuple[str, ...] = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)
# Named hour bands: (first hour, end hour exclusive); the end may be smaller (past midnight).
HOUR_BANDS: Mapping[str, tuple[int, int]] = MappingProxyType({"after_school": (15, 19)})
UNKNOWN = "unknown"  # the label of a missing age band, source, category or place type
_WEEKDAY_GROUPS = MappingProxyType({"weekdays": (0, 1, 2, 3, 4), "weekend": (5, 6)})
_COARSEST, _MAX_COARSENING = 5, 4  # coarser resolutions allowed: ≥ 5 and ≥ study − 4
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_SPACES = re.compile(r"[\s_]+")
# CellFilter field, query key, IncidentIndex codes and labels of each label filter.
_LABEL_FIELDS = (
    ("categories", "category", "category", "categories"),
    ("sources", "source", "source", "sources"),
    ("age_bands", "age", "age_band", "age_bands"),
    ("place_types", "place_type", "place_type", "place_types"),
)
_LABEL_FIELD_OF = {codes: labels for _, _, codes, labels in _LABEL_FIELDS}
_DAY_NAMES = {name[:3].lower(): i for i, name in enumerate(WEEKDAYS)} | {
    name.lower(): i for i, name in enumerate(WEEKDAYS)
}


@dataclass(frozen=True, eq=False)
class IncidentIndex:
    """The in-scope incidents of a study as compact arrays, built once per process.

    Build it with :meth:`from_incidents`. Every array is read-only and has one value per
    incident; label codes index the matching label tuple.

    Attributes
    ----------
    resolution
        The study's H3 resolution.
    months
        ``YYYY-MM`` labels, in order; ``month`` indexes them.
    cell_ids
        Sorted distinct ``uint64`` cells at ``resolution``; ``cell`` indexes them.
    cell
        ``int32`` position of each incident's cell in ``cell_ids``.
    month
        ``int16`` position of each incident's month in ``months``.
    harm
        ``float64`` harm weight (missing weights count 0).
    category, source, age_band, place_type
        ``int8`` (``int16`` beyond 127 labels) codes into ``categories``, ``sources``,
        ``age_bands`` and ``place_types`` (sorted; missing values are ``"unknown"``).
    weekday
        ``int8`` 0 = Monday .. 6 = Sunday; −1 where the time is unknown.
    hour
        ``int8`` 0..23; −1 where the time is unknown.
    parents
        For each coarser resolution a filter may ask for: the sorted distinct parent cells
        and the position of each of ``cell_ids``' parents among them.
    """

    resolution: int
    months: tuple[str, ...]
    cell_ids: np.ndarray
    cell: np.ndarray
    month: np.ndarray
    harm: np.ndarray
    category: np.ndarray
    source: np.ndarray
    age_band: np.ndarray
    place_type: np.ndarray
    weekday: np.ndarray
    hour: np.ndarray
    categories: tuple[str, ...]
    sources: tuple[str, ...]
    age_bands: tuple[str, ...]
    place_types: tuple[str, ...]
    parents: Mapping[int, tuple[np.ndarray, np.ndarray]] = field(repr=False)

    @classmethod
    def from_incidents(
        cls,
        frame: pd.DataFrame,
        *,
        resolution: int,
        months: Sequence[str] | None = None,
    ) -> IncidentIndex:
        """Index the in-scope incidents of a study's ``incidents.parquet``.

        Parameters
        ----------
        frame
            Incidents with ``h3`` (hex at ``resolution``), ``month`` (``YYYY-MM``),
            ``category`` and ``source``; optional ``in_scope`` (all rows when absent),
            ``harm`` (0), ``age_band``, ``place_type`` (``"unknown"``), ``occurred`` and
            ``time_known`` (time unknown).
        resolution
            The study's H3 resolution.
        months
            The study's months, in order (``Study.months``); by default every month from the
            first incident's to the last one's.

        Returns
        -------
        IncidentIndex

        Raises
        ------
        SchemaError
            Required columns are missing, cells are missing or at another resolution, or
            months are malformed or outside ``months``.
        """
        # 1. Check the columns and keep the in-scope incidents.
        missing = [c for c in ("h3", "month", "category", "source") if c not in frame.columns]
        if missing:
            msg = f"incidents: missing columns {', '.join(missing)} (needed to filter cells)."
            raise SchemaError(msg)
        if "in_scope" in frame.columns:
            frame = frame[frame["in_scope"].to_numpy(dtype=bool)]
        # 2. Cells and months to positions in sorted tables.
        cell_ids, cell = _cell_codes(frame["h3"], resolution)
        month_labels, month = _month_codes(frame["month"], months)
        # 3. Label fields to small codes; weekday and hour where the time is known.
        coded = {
            name: _label_codes(frame[name] if name in frame.columns else None, len(frame))
            for name in ("category", "source", "age_band", "place_type")
        }
        weekday, hour = _time_codes(frame)
        harm = (
            np.nan_to_num(frame["harm"].to_numpy(dtype=np.float64, na_value=np.nan))
            if "harm" in frame.columns
            else np.zeros(len(frame))
        )
        parents = {
            r: _parent_codes(cell_ids, r)
            for r in _allowed_resolutions(resolution)
            if r < resolution
        }
        arrays = [cell_ids, cell, month, harm, weekday, hour, *(c for c, _ in coded.values())]
        for array in arrays + [a for pair in parents.values() for a in pair]:
            array.setflags(write=False)
        return cls(
            resolution=int(resolution),
            months=month_labels,
            cell_ids=cell_ids,
            cell=cell,
            month=month,
            harm=harm,
            category=coded["category"][0],
            source=coded["source"][0],
            age_band=coded["age_band"][0],
            place_type=coded["place_type"][0],
            weekday=weekday,
            hour=hour,
            categories=coded["category"][1],
            sources=coded["source"][1],
            age_bands=coded["age_band"][1],
            place_types=coded["place_type"][1],
            parents=MappingProxyType(parents),
        )

    def __len__(self) -> int:
        return int(self.cell.size)

    @property
    def cells(self) -> np.ndarray:
        """The ``uint64`` cell of each incident at the study's resolution (a new array)."""
        return self.cell_ids[self.cell]

    @property
    def resolutions(self) -> tuple[int, ...]:
        """The resolutions a filter may ask for, coarsest first (the study's is last)."""
        return _allowed_resolutions(self.resolution)

    @property
    def unknown_time(self) -> int:
        """How many incidents have no known time of day."""
        return int(np.count_nonzero(self.hour < 0))


def _cell_codes(h3: pd.Series, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct cells and each row's position among them (hex parsed once per cell)."""
    codes, uniques = pd.factorize(h3, sort=True)
    if (codes < 0).any():
        msg = f"incidents: {int((codes < 0).sum())} in-scope incidents have no h3 cell."
        raise SchemaError(msg)
    try:
        cell_ids = grid.cells_from_hex(np.asarray(uniques, dtype=object))
    except ValueError as exc:
        msg = f"incidents: column h3: {exc}"
        raise SchemaError(msg) from exc
    wrong = grid.cell_resolution(cell_ids) != resolution
    if wrong.any():
        msg = (
            f"incidents: {int(wrong.sum())} h3 cells are not at the study's resolution "
            f"{resolution} (e.g. {uniques[int(np.argmax(wrong))]!r})."
        )
        raise SchemaError(msg)
    codes = codes.astype(np.int32)
    # Lower-case hex of one length sorts as the integers do; re-sort in case it was not that.
    if cell_ids.size > 1 and not (cell_ids[1:] > cell_ids[:-1]).all():
        order = np.argsort(cell_ids)
        rank = np.empty_like(codes, shape=order.size)
        rank[order] = np.arange(order.size, dtype=np.int32)
        cell_ids, codes = cell_ids[order], rank[codes]
    return cell_ids, codes


def _month_codes(
    labels: pd.Series, months: Sequence[str] | None
) -> tuple[tuple[str, ...], np.ndarray]:
    """The index's month labels and each row's position among them."""
    codes, uniques = pd.factorize(labels, sort=True)
    found = [str(m) for m in uniques]
    bad = [m for m in found if not _MONTH.fullmatch(m)] + (
        ["(missing)"] if (codes < 0).any() else []
    )
    if bad:
        msg = f"incidents: months must look like 2024-03 (YYYY-MM); {', '.join(bad[:3])} given."
        raise SchemaError(msg)
    if months is None:
        span = aggregate.month_index(found) if found else np.zeros(0, np.int64)
        full = np.arange(span.min(), span.max() + 1) if span.size else span
        months = [str(m) for m in aggregate.month_labels(full)]
    order = tuple(str(m) for m in months)
    position = {m: i for i, m in enumerate(order)}
    outside = [m for m in found if m not in position]
    if outside:
        msg = (
            f"incidents: months {', '.join(outside[:3])} are outside the study's months "
            f"({order[0] if order else '-'} to {order[-1] if order else '-'})."
        )
        raise SchemaError(msg)
    lookup = np.array([position[m] for m in found], dtype=np.int16)
    return order, lookup[codes] if codes.size else np.zeros(0, np.int16)


def _label_codes(values: pd.Series | None, n: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """Small integer codes of a label column and its sorted labels (missing → unknown)."""
    if values is None:
        return np.zeros(n, dtype=np.int8), (UNKNOWN,)
    # Factorise the column as it is (arrow strings factorise fast), then fold missing in.
    codes, uniques = pd.factorize(values, sort=True)
    found = [str(u) for u in uniques]
    missing = codes < 0
    labels = sorted({*found, UNKNOWN}) if missing.any() else found
    dtype = np.int8 if len(labels) <= np.iinfo(np.int8).max else np.int16
    lookup = np.array([labels.index(u) for u in found] + [-1], dtype=dtype)
    out = lookup[codes]  # code −1 reads the last slot
    if missing.any():
        out[missing] = labels.index(UNKNOWN)
    return out, tuple(labels)


def _time_codes(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Weekday (0 = Monday) and hour of each row; −1 where the time of day is unknown."""
    n = len(frame)
    if "occurred" not in frame.columns or "time_known" not in frame.columns:
        return np.full(n, -1, dtype=np.int8), np.full(n, -1, dtype=np.int8)
    when = pd.DatetimeIndex(pd.to_datetime(frame["occurred"]))
    known = frame["time_known"].to_numpy(dtype=bool, na_value=False) & ~np.asarray(when.isna())
    weekday = np.where(known, when.day_of_week.to_numpy(na_value=0), -1).astype(np.int8)
    hour = np.where(known, when.hour.to_numpy(na_value=0), -1).astype(np.int8)
    return weekday, hour


def _parent_codes(cell_ids: np.ndarray, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    parents, position = np.unique(grid.cell_parents(cell_ids, resolution), return_inverse=True)
    return parents, position.astype(np.int32)


def _allowed_resolutions(study_resolution: int) -> tuple[int, ...]:
    coarsest = min(study_resolution, max(_COARSEST, study_resolution - _MAX_COARSENING))
    return tuple(range(coarsest, study_resolution + 1))


@dataclass(frozen=True)
class CellFilter:
    """Which incidents to count, and at which resolution.

    An empty tuple or ``None`` puts no condition on that field. Labels match an index's
    labels case-insensitively, with spaces and underscores alike.

    Attributes
    ----------
    month_from, month_to
        First and last month (``YYYY-MM``, inclusive).
    categories, sources, age_bands, place_types
        Labels to keep (``"unknown"`` selects missing age bands).
    weekdays
        Days to keep, 0 = Monday .. 6 = Sunday.
    hours
        Hours of the day to keep, 0..23 (``(22, 23, 0, 1)`` is 22:00–02:00).
    resolution
        H3 resolution of the counts: ``None`` for the study's, or a coarser one (at most 4
        levels coarser, and never coarser than 5).

    Notes
    -----
    A filter on ``weekdays`` or ``hours`` keeps only incidents whose time of day is known;
    the results say how many it left out (``unknown_time_excluded``).

    Raises
    ------
    FilterError
        A month is malformed, ``month_from`` is after ``month_to``, or a weekday, hour or
        resolution is out of range. Every problem is named at once.
    """

    month_from: str | None = None
    month_to: str | None = None
    categories: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    age_bands: tuple[str, ...] = ()
    place_types: tuple[str, ...] = ()
    weekdays: tuple[int, ...] = ()
    hours: tuple[int, ...] = ()
    resolution: int | None = None

    def __post_init__(self) -> None:
        # Normalise sequences to sorted tuples, so equal filters compare and describe alike.
        for name, _, _, _ in _LABEL_FIELDS:
            value = getattr(self, name)
            value = (value,) if isinstance(value, str) else value
            object.__setattr__(self, name, tuple(sorted({str(v) for v in value})))
        problems = []
        for name, top in (("weekdays", 6), ("hours", 23)):
            values = tuple(getattr(self, name))
            if not all(isinstance(v, (int, np.integer)) and 0 <= v <= top for v in values):
                problems.append(f"`{name}` must be whole numbers 0..{top}; {values!r} given.")
            else:
                object.__setattr__(self, name, tuple(sorted({int(v) for v in values})))
        for name in ("month_from", "month_to"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, str) and _MONTH.fullmatch(value)):
                problems.append(f"`{name}` must look like 2024-03 (YYYY-MM); {value!r} given.")
        if not problems and self.month_from and self.month_to and self.month_from > self.month_to:
            problems.append(f"`month_from` {self.month_from} is after `month_to` {self.month_to}.")
        if self.resolution is not None and not (
            isinstance(self.resolution, (int, np.integer)) and 0 <= self.resolution <= 15
        ):
            problems.append(f"`resolution` must be an H3 resolution 0..15; {self.resolution!r}.")
        if problems:
            raise FilterError("\n".join(problems), problems)

    @property
    def time_filtered(self) -> bool:
        """Whether the filter is on weekday or hour (incidents with no time are left out)."""
        return bool(self.weekdays or self.hours)


# --- parsing web query arguments ------------------------------------------------------------


def parse_filter(args: Mapping[str, str], index: IncidentIndex) -> CellFilter:
    """A :class:`CellFilter` from web query arguments, checked against the study's incidents.

    Parameters
    ----------
    args
        Query arguments; the keys in :data:`FILTER_KEYS` are read, any other is ignored, and
        a blank value means no filter on that field.

        ``from``, ``to``
            ``YYYY-MM`` within the study's months.
        ``category``, ``source``, ``age``, ``place_type``
            Comma-separated labels of the study (any case; spaces and underscores alike).
        ``weekday``
            Comma-separated ``mon``..``sun`` (or full names), ``0``..``6`` (0 = Monday),
            ``weekdays`` or ``weekend``.
        ``hours``
            Comma-separated ranges ``H-H`` with the end hour excluded (``15-19`` is
            15:00–18:59; ``22-2`` runs past midnight; the end may be 24), single hours, or a
            named band of :data:`HOUR_BANDS` (``after_school`` = 15-19).
        ``resolution``
            An H3 resolution among ``index.resolutions``.
    index
        The study's incidents: the labels, months and resolution allowed.

    Returns
    -------
    CellFilter

    Raises
    ------
    FilterError
        One line per bad parameter: its name, the value given and the values allowed.

    Examples
    --------
    >>> parse_filter({"from": "2024-01", "hours": "22-2"}, index).hours  # doctest: +SKIP
    (0, 1, 22, 23)
    """
    text = {k: str(args.get(k) or "").strip() for k in FILTER_KEYS}
    problems: list[str] = []
    kwargs: dict[str, Any] = {}

    def keep(name: str, value: object, problem: str | None) -> None:
        kwargs[name] = value
        if problem:
            problems.append(problem)

    keep("month_from", *_parse_month("from", text["from"], index.months))
    keep("month_to", *_parse_month("to", text["to"], index.months))
    for name, key, _, labels in _LABEL_FIELDS:
        keep(name, *_parse_labels(key, _split(text[key]), getattr(index, labels)))
    keep("weekdays", *_parse_weekdays(text["weekday"]))
    keep("hours", *_parse_hours(text["hours"]))
    keep("resolution", *_parse_resolution(text["resolution"], index))
    start, end = kwargs["month_from"], kwargs["month_to"]
    if start and end and start > end:
        problems.append(f"`from` {start} is after `to` {end}.")
    if problems:
        raise FilterError("\n".join(problems), problems)
    return CellFilter(**kwargs)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _norm(label: str) -> str:
    return _SPACES.sub(" ", label.strip().lower())


def _quoted(values: Sequence[object]) -> str:
    return ", ".join(repr(v) for v in values)


def _parse_month(key: str, value: str, months: Sequence[str]) -> tuple[str | None, str | None]:
    if not value:
        return None, None
    if not _MONTH.fullmatch(value):
        return None, f"`{key}` {value!r} is not a month: use YYYY-MM (e.g. 2024-03)."
    if value not in months:
        span = f"{months[0]} to {months[-1]}" if months else "none"
        return None, f"`{key}` {value!r} is outside the study's months ({span})."
    return value, None


def _parse_labels(
    key: str, values: Sequence[str], labels: Sequence[str]
) -> tuple[tuple[str, ...], str | None]:
    """The study labels matching ``values``, and a problem naming those that match none."""
    lookup = {_norm(label): label for label in labels}
    bad = [v for v in values if _norm(v) not in lookup]
    found = tuple(lookup[_norm(v)] for v in values if _norm(v) in lookup)
    if not bad:
        return found, None
    verb = "is not one of" if len(bad) == 1 else "are not among"
    return found, f"`{key}` {_quoted(bad)} {verb}: {', '.join(labels)}."


def _parse_weekdays(value: str) -> tuple[tuple[int, ...], str | None]:
    days: set[int] = set()
    bad = []
    for token in _split(value):
        word = token.lower()
        if word in _WEEKDAY_GROUPS:
            days.update(_WEEKDAY_GROUPS[word])
        elif word in _DAY_NAMES:
            days.add(_DAY_NAMES[word])
        elif word.isdigit() and int(word) <= 6:
            days.add(int(word))
        else:
            bad.append(token)
    if bad:
        return (), (
            f"`weekday` {_quoted(bad)} is not a day: use mon..sun, 0..6 (0 = Monday), "
            "weekdays or weekend."
        )
    return tuple(sorted(days)), None


def _parse_hours(value: str) -> tuple[tuple[int, ...], str | None]:
    hours: set[int] = set()
    bad = []
    for token in _split(value):
        span = _hour_span(token)
        if span is None:
            bad.append(token)
        else:
            hours.update(span)
    if bad:
        return (), (
            f"`hours` {_quoted(bad)} is not an hour range: use H-H with hours 0..24 and the end "
            "excluded (15-19 is 15:00–18:59, 22-2 runs past midnight), one hour 0..23, or one "
            f"of: {', '.join(HOUR_BANDS)}."
        )
    return tuple(sorted(hours)), None


def _hour_span(token: str) -> range | list[int] | None:
    """The hours of one ``hours`` token, or None when it is not one."""
    word = token.lower().replace(" ", "")
    if word in HOUR_BANDS:
        start, end = HOUR_BANDS[word]
    elif word.isdigit() and int(word) <= 23:
        return [int(word)]
    elif re.fullmatch(r"\d{1,2}-\d{1,2}", word):
        start, end = (int(part) for part in word.split("-"))
        if start > 23 or end > 24 or start == end:
            return None
    else:
        return None
    return [h % 24 for h in range(start, end if end > start else end + 24)]


def _parse_resolution(value: str, index: IncidentIndex) -> tuple[int | None, str | None]:
    if not value:
        return None, None
    allowed = ", ".join(str(r) for r in index.resolutions)
    try:
        resolution = int(value)
    except ValueError:
        return None, f"`resolution` {value!r} is not a whole number; use one of: {allowed}."
    if resolution > index.resolution:
        return None, (
            f"`resolution` {resolution} is finer than the study's ({index.resolution}); "
            f"use one of: {allowed}."
        )
    if resolution not in index.resolutions:
        return None, f"`resolution` {resolution} is too coarse; use one of: {allowed}."
    return resolution, None


# --- counting -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """A filter resolved against an index: look-up tables over codes and the output level."""

    month_lo: int
    month_hi: int
    tables: tuple[tuple[str, np.ndarray], ...]  # (index attribute, keep-table over its codes)
    time_tables: tuple[tuple[str, np.ndarray], ...]
    resolution: int


def _plan(index: IncidentIndex, flt: CellFilter) -> _Plan:
    """Check ``flt`` against ``index`` (labels, months, resolution) and build its tables.

    Raises
    ------
    FilterError
        Every label, month or resolution the index does not have.
    """
    problems: list[str] = []
    bounds = []
    for key, value, default in (
        ("from", flt.month_from, 0),
        ("to", flt.month_to, len(index.months) - 1),
    ):
        month, problem = _parse_month(key, value or "", index.months)
        bounds.append(index.months.index(month) if month else default)
        problems += [problem] if problem else []
    tables = []
    if bounds[0] > 0 or bounds[1] < len(index.months) - 1:
        keep = np.zeros(len(index.months), dtype=bool)
        keep[bounds[0] : bounds[1] + 1] = True
        tables.append(("month", keep))
    for name, key, codes, labels in _LABEL_FIELDS:
        chosen = getattr(flt, name)
        if chosen:
            found, problem = _parse_labels(key, chosen, getattr(index, labels))
            problems += [problem] if problem else []
            keep = np.isin(np.array(getattr(index, labels), dtype=object), list(found))
            tables.append((codes, keep))
    resolution = index.resolution
    if flt.resolution is not None:
        parsed, problem = _parse_resolution(str(flt.resolution), index)
        problems += [problem] if problem else []
        resolution = parsed if parsed is not None else resolution
    if problems:
        raise FilterError("\n".join(problems), problems)
    # Time tables have one more slot, always False: code −1 (time unknown) reads it.
    time_tables = tuple(
        (codes, np.isin(np.arange(size + 1), chosen))
        for codes, size, chosen in (("weekday", 7, flt.weekdays), ("hour", 24, flt.hours))
        if chosen
    )
    return _Plan(bounds[0], bounds[1], tuple(tables), time_tables, resolution)


def _select(index: IncidentIndex, plan: _Plan) -> tuple[np.ndarray | None, int]:
    """The mask of incidents the plan keeps (None: all), and how many it left out for having
    no time of day while passing every other condition."""
    mask = None
    for codes, keep in plan.tables:
        step = keep[getattr(index, codes)]
        mask = step if mask is None else np.logical_and(mask, step, out=mask)
    excluded = 0
    if plan.time_tables:
        unknown = index.hour < 0
        excluded = int(np.count_nonzero(unknown if mask is None else unknown & mask))
        for codes, keep in plan.time_tables:
            step = keep[getattr(index, codes)]
            mask = step if mask is None else np.logical_and(mask, step, out=mask)
    return mask, excluded


def filter_mask(index: IncidentIndex, flt: CellFilter) -> np.ndarray:
    """Which incidents of ``index`` the filter keeps.

    Returns
    -------
    numpy.ndarray
        Boolean, one per incident of ``index``.

    Raises
    ------
    FilterError
        The filter names labels, months or a resolution the index does not have.
    """
    mask, _ = _select(index, _plan(index, flt))
    return np.ones(len(index), dtype=bool) if mask is None else mask


def _counts(
    codes: np.ndarray, harm: np.ndarray, mask: np.ndarray | None, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Counts and harm sums per code (0..size−1) over the kept incidents."""
    if mask is not None:
        codes, harm = codes[mask], harm[mask]
    count = np.bincount(codes, minlength=size).astype(np.int64)
    return count, np.bincount(codes, weights=harm, minlength=size)


def filtered_cells(index: IncidentIndex, flt: CellFilter) -> pd.DataFrame:
    """Incident counts and harm per cell for the incidents the filter keeps.

    Parameters
    ----------
    index
        The study's incidents.
    flt
        The filter; its ``resolution`` sets the cells' resolution.

    Returns
    -------
    pandas.DataFrame
        ``h3`` (hex at the filter's resolution), ``count`` and ``harm``, one row per cell with
        at least one incident, sorted by ``h3``. ``attrs`` holds ``resolution`` and
        ``unknown_time_excluded``. Counts are exact (not yet disclosure-controlled).

    Raises
    ------
    FilterError
        The filter does not fit the index (see :func:`filter_mask`).
    """
    plan = _plan(index, flt)
    mask, excluded = _select(index, plan)
    # Count at the study's resolution, then sum the cells' counts into their parents.
    count, harm = _counts(index.cell, index.harm, mask, index.cell_ids.size)
    cells = index.cell_ids
    if plan.resolution != index.resolution:
        cells, parent = index.parents[plan.resolution]
        count = np.bincount(parent, weights=count, minlength=cells.size).astype(np.int64)
        harm = np.bincount(parent, weights=harm, minlength=cells.size)
    kept = np.flatnonzero(count)
    out = pd.DataFrame(
        {"h3": grid.cells_to_hex(cells[kept]), "count": count[kept], "harm": harm[kept]}
    )
    out.attrs.update(resolution=plan.resolution, unknown_time_excluded=excluded)
    return out


def filtered_series(index: IncidentIndex, flt: CellFilter) -> pd.DataFrame:
    """Incidents and harm per month over the filter's months (months with none included).

    Returns
    -------
    pandas.DataFrame
        ``month`` (``YYYY-MM``), ``count`` and ``harm``, one row per month from the filter's
        first to its last (the study's when open); ``attrs["unknown_time_excluded"]``.
    """
    plan = _plan(index, flt)
    mask, excluded = _select(index, plan)
    count, harm = _counts(index.month, index.harm, mask, len(index.months))
    span = slice(plan.month_lo, plan.month_hi + 1)
    out = pd.DataFrame(
        {"month": list(index.months[span]), "count": count[span], "harm": harm[span]}
    )
    out.attrs["unknown_time_excluded"] = excluded
    return out


def filtered_breakdown(index: IncidentIndex, flt: CellFilter, by: str) -> pd.DataFrame:
    """Incidents and harm per label of one field, for the incidents the filter keeps.

    Parameters
    ----------
    index
        The study's incidents.
    flt
        The filter.
    by
        One of :data:`BREAKDOWNS`: ``category``, ``source``, ``age_band``, ``place_type``,
        ``weekday`` or ``hour``.

    Returns
    -------
    pandas.DataFrame
        ``label``, ``count`` and ``harm``: every label of the field in the index's order
        (zeros included; weekdays ``Monday``..``Sunday``, hours ``00:00``..``23:00``), then
        for ``weekday`` and ``hour`` a row ``unknown`` for kept incidents with no time of day
        when there are any. ``attrs["unknown_time_excluded"]``.

    Raises
    ------
    FilterError
        ``by`` is not a field name (lists the valid ones), or the filter does not fit.
    """
    if by not in BREAKDOWNS:
        msg = f"`by` {by!r} is not one of: {', '.join(BREAKDOWNS)}."
        raise FilterError(msg)
    mask, excluded = _select(index, _plan(index, flt))
    codes = getattr(index, by)
    if by in ("weekday", "hour"):
        names = list(WEEKDAYS) if by == "weekday" else [f"{h:02d}:00" for h in range(24)]
        # Shift by one so "unknown" (−1) is bin 0; it goes last, and only when not empty.
        count, harm = _counts(codes.astype(np.intp) + 1, index.harm, mask, len(names) + 1)
        order = np.r_[1 : len(names) + 1, 0] if count[0] else np.arange(1, len(names) + 1)
        labels, count, harm = [*names, UNKNOWN][: order.size], count[order], harm[order]
    else:
        labels = list(getattr(index, _LABEL_FIELD_OF[by]))
        count, harm = _counts(codes, index.harm, mask, len(labels))
    out = pd.DataFrame({"label": labels, "count": count, "harm": harm})
    out.attrs["unknown_time_excluded"] = excluded
    return out


def filter_summary(index: IncidentIndex, flt: CellFilter) -> dict[str, Any]:
    """What a filter selects, for the filter panel and export metadata.

    Returns
    -------
    dict
        ``description`` (:func:`describe_filter`), ``month_from`` and ``month_to`` (the
        effective months), ``resolution``, ``incidents``, ``harm``, ``cells`` (cells with at
        least one incident at that resolution) and ``unknown_time_excluded``. Counts are
        exact (not yet disclosure-controlled).
    """
    plan = _plan(index, flt)
    mask, excluded = _select(index, plan)
    count, harm = _counts(index.cell, index.harm, mask, index.cell_ids.size)
    cells = int(np.count_nonzero(count))
    if plan.resolution != index.resolution:
        parents, parent = index.parents[plan.resolution]
        cells = int(np.count_nonzero(np.bincount(parent, weights=count, minlength=parents.size)))
    return {
        "description": describe_filter(flt),
        "month_from": index.months[plan.month_lo] if index.months else None,
        "month_to": index.months[plan.month_hi] if index.months else None,
        "resolution": plan.resolution,
        "incidents": int(count.sum()),
        "harm": float(harm.sum()),
        "cells": cells,
        "unknown_time_excluded": excluded,
    }


# --- describing -----------------------------------------------------------------------------


def describe_filter(flt: CellFilter) -> str:
    """The filter in words, for page headings, footers and file metadata.

    Examples
    --------
    >>> describe_filter(
    ...     CellFilter("2024-01", "2024-06", categories=("robbery",), hours=(15, 16, 17, 18))
    ... )
    '2024-01 to 2024-06 · robbery · 15:00–19:00, incidents with a time only'
    >>> describe_filter(CellFilter())
    'all incidents'
    """
    parts = []
    start, end = flt.month_from, flt.month_to
    if start and end:
        parts.append(start if start == end else f"{start} to {end}")
    elif start or end:
        parts.append(f"from {start}" if start else f"up to {end}")
    parts += [", ".join(flt.categories)] if flt.categories else []
    parts += [f"source {', '.join(flt.sources)}"] if flt.sources else []
    parts += [f"age {', '.join(flt.age_bands)}"] if flt.age_bands else []
    parts += [", ".join(p.replace("_", " ") for p in flt.place_types)] if flt.place_types else []
    parts += [_describe_weekdays(flt.weekdays)] if flt.weekdays else []
    parts += [_describe_hours(flt.hours)] if flt.hours else []
    if flt.time_filtered:
        parts[-1] += ", incidents with a time only"
    parts += [f"H3 resolution {flt.resolution}"] if flt.resolution is not None else []
    return " · ".join(parts) or "all incidents"


def _describe_weekdays(days: tuple[int, ...]) -> str:
    for name, group in _WEEKDAY_GROUPS.items():
        if tuple(days) == group:
            return name
    return ", ".join(WEEKDAYS[d][:3] for d in days)


def _describe_hours(hours: tuple[int, ...]) -> str:
    """Runs of consecutive hours (around midnight too) as ``HH:00–HH:00`` spans."""
    chosen = set(hours)
    if len(chosen) == 24:
        return "all hours"
    spans = []
    for start in sorted(h for h in chosen if (h - 1) % 24 not in chosen):
        end = start
        while (end + 1) % 24 in chosen:
            end = (end + 1) % 24
        spans.append(f"{start:02d}:00–{end + 1:02d}:00")  # a run ending at 23 ends at 24:00
    return ", ".join(spans)
