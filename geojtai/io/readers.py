"""Readers: incident, intervention and study-area files into raw frames.

Readers only read. They return every row the file holds, as text, under the standard names
of :mod:`geojtai.schema`, plus ``file`` (the name relative to the given path's parent, never
an absolute machine path) and ``row`` (the spreadsheet row: header = 1, first data row = 2;
the feature number for GeoJSON/GeoPackage). Whether a row is usable is decided later by
:func:`geojtai.schema.validate_incidents`, so bad values become rejects with reasons.

A reader fails only when a whole file cannot be used: :class:`InputFileError` when it is
missing, unreadable, corrupt or not the format it claims; :class:`SchemaError` when no
location or date column can be found (the message lists the columns it did find);
:class:`CRSError` when a geometry file has no coordinate reference system.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError
from shapely.geometry.base import BaseGeometry

from geojtai.crs import WGS84
from geojtai.errors import CRSError, InputFileError, SchemaError
from geojtai.io.columns import (
    INCIDENT_ALIASES,
    INTERVENTION_ALIASES,
    ColumnMatch,
    match_columns,
)
from geojtai.io.policeuk import (
    POLICE_UK_SOURCE,
    POLICE_UK_STANDARD,
    is_police_uk_header,
    list_incident_files,
)
from geojtai.io.textfile import Malformed, read_csv_strings, read_header
from geojtai.schema import (
    GEOMETRY_TYPE_NAMES,
    RAW_INCIDENT_COLUMNS,
    RAW_INTERVENTION_COLUMNS,
    text_or_none,
)

__all__ = ["read_area", "read_incidents", "read_interventions"]

_CSV_SUFFIXES = (".csv", ".csv.gz", ".txt", ".txt.gz", ".tsv", ".tsv.gz")
_GEO_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".fgb", ".geojson.gz", ".json.gz")
_DATE_NAMES = ("occurred", "date", "datetime", "incident_date", "month")
_NA = np.array(None, dtype=object)  # a missing value numpy's where accepts
_POLYGONAL = (3, 6)  # shapely type ids of Polygon and MultiPolygon


# --------------------------------------------------------------------------- files
def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    if name.endswith(_GEO_SUFFIXES):
        return "geo"
    msg = (
        f"{path}: unsupported file type; use CSV ({', '.join(_CSV_SUFFIXES)}) "
        f"or GeoJSON/GeoPackage ({', '.join(_GEO_SUFFIXES)})"
    )
    raise InputFileError(msg)


def _label(file: Path, given: Path) -> str:
    """``file``'s name relative to the parent of the path the user gave."""
    base = given.resolve().parent
    try:
        return file.resolve().relative_to(base).as_posix()
    except ValueError:  # pragma: no cover - a symlink out of the folder
        return file.name


def _incident_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = list_incident_files(path)
        if not files:
            msg = f"{path}: folder holds no .csv or .csv.gz files"
            raise InputFileError(msg)
        return files
    if not path.exists():
        msg = f"{path}: file not found"
        raise InputFileError(msg)
    return [path]


def _geo_path(path: Path) -> str:
    # GDAL reads gzip-compressed GeoJSON through its /vsigzip/ virtual file system.
    return f"/vsigzip/{path}" if path.name.lower().endswith(".gz") else str(path)


def _geo_info(path: Path) -> dict[str, Any]:
    if not path.exists():
        msg = f"{path}: file not found"
        raise InputFileError(msg)
    try:
        return dict(pyogrio.read_info(_geo_path(path)))
    except (DataSourceError, DataLayerError, OSError) as exc:
        msg = f"{path}: not a readable GeoJSON/GeoPackage file ({_first_line(exc)})"
        raise InputFileError(msg) from exc


def _read_geo(path: Path, columns: Sequence[str]) -> gpd.GeoDataFrame:
    try:
        frame = pyogrio.read_dataframe(_geo_path(path), columns=list(columns))
    except (DataSourceError, DataLayerError, OSError, ValueError) as exc:
        msg = f"{path}: not a readable GeoJSON/GeoPackage file ({_first_line(exc)})"
        raise InputFileError(msg) from exc
    return _in_wgs84(frame, path)


def _in_wgs84(frame: pd.DataFrame, path: Path) -> gpd.GeoDataFrame:
    """A read frame in EPSG:4326 (a table without geometry gets null geometries).

    Raises
    ------
    CRSError
        The file has geometries but no coordinate reference system.
    """
    if not isinstance(frame, gpd.GeoDataFrame):  # a layer without geometry
        return gpd.GeoDataFrame(frame, geometry=np.full(len(frame), None, object), crs=WGS84)
    geo: gpd.GeoDataFrame = frame
    if geo.crs is None and geo.geometry.notna().any():
        msg = f"{path}: the file has no coordinate reference system; save it with one"
        raise CRSError(msg)
    if geo.crs is not None and geo.crs.to_epsg() != 4326:
        geo = geo.to_crs(WGS84)
    return geo.set_crs(WGS84, allow_override=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------------- text columns
def _as_strings(values: pd.Series) -> pa.Array:
    """Any column as an Arrow string array (dates as ISO text, lists joined with ``;``)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(values):
        dates = pd.DatetimeIndex(values)
        dated = dates.notna()
        only_days = bool((dates[dated] == dates[dated].normalize()).all())
        fmt = "%Y-%m-%d" if only_days else "%Y-%m-%dT%H:%M:%S%z"
        text = np.where(dated, dates.strftime(fmt).to_numpy(dtype=object), _NA)
        return pa.array(text, type=pa.string())
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return pc.cast(pa.array(values.to_numpy(), from_pandas=True), pa.string())
    if pd.api.types.is_string_dtype(values.dtype) and values.dtype != object:
        return pa.array(values, type=pa.string(), from_pandas=True)
    return pa.array([text_or_none(v) for v in values.to_numpy(dtype=object)], type=pa.string())


def _null_strings(n: int) -> pa.Array:
    return pa.nulls(n, pa.string())


def _filled(n: int, value: str) -> pa.Array:
    return pc.fill_null(pa.nulls(n, pa.string()), value)


def _assemble(
    columns: Mapping[str, pa.Array | pa.ChunkedArray],
    names: Sequence[str],
    n: int,
    label: str,
    rows: np.ndarray,
) -> pa.Table:
    """A table with exactly ``names`` (absent ones null) plus ``file`` and ``row``."""
    arrays: dict[str, pa.Array | pa.ChunkedArray] = {}
    for name in names:
        if name == "file":
            arrays[name] = _filled(n, label)
        elif name == "row":
            arrays[name] = pa.array(rows, type=pa.int64())
        else:
            arrays[name] = columns.get(name, _null_strings(n))
    return pa.table(arrays)


def _malformed_rows(bad: list[Malformed]) -> dict[str, pa.Array]:
    details = [f"expected {b.expected} fields, found {b.actual}" for b in bad]
    return {
        "problem": _filled(len(bad), "malformed row"),
        "problem_detail": pa.array(details, type=pa.string()),
    }


def _with_malformed(
    table: pa.Table, bad: list[Malformed], names: Sequence[str], label: str
) -> pa.Table:
    """Append one row per malformed line (flagged, values empty) and restore file order."""
    if not bad:
        return table
    rows = np.array([b.row for b in bad], dtype=np.int64)
    extra = _assemble(_malformed_rows(bad), names, len(bad), label, rows)
    both = pa.concat_tables([table, extra.cast(table.schema)])
    return both.take(pc.sort_indices(both, sort_keys=[("row", "ascending")]))


def _schema_problems(
    label: str,
    header: Sequence[str],
    match: ColumnMatch,
    *,
    has_geometry: bool,
    needs: Mapping[str, str],
) -> list[str]:
    """Each missing requirement as a line naming the file and listing its columns."""
    problems = [f"{label}: {p}" for p in match.problems]
    s = match.sources
    has_location = has_geometry or {"lat", "lon"} <= set(s) or {"easting", "northing"} <= set(s)
    if "location" in needs and not has_location and "wkt" not in s:
        problems.append(f"{label}: {needs['location']}")
    for name, text in needs.items():
        if name != "location" and name not in s:
            problems.append(f"{label}: {text}")
    if len(problems) > len(match.problems):
        found = ", ".join(repr(h) for h in header) or "none"
        problems[-1] += f"; columns found: {found}"
    return problems


_INCIDENT_NEEDS = {
    "location": "no usable location columns (need lat/lon, latitude/longitude or easting/northing)",
    "occurred": f"no date column (looked for {', '.join(_DATE_NAMES)}, ...)",
}


# --------------------------------------------------------------------------- incidents
def _xy_as_bng(data: dict[str, Any], match: ColumnMatch) -> dict[str, Any]:
    """Columns called x/y that hold metres are easting/northing, not longitude/latitude."""
    if not match.guessed_xy or {"easting", "northing"} & set(match.sources):
        return data
    if not {"lat", "lon"} <= set(data):
        return data
    lat = pd.to_numeric(pd.Series(data["lat"].to_numpy(), dtype=object), errors="coerce")
    lon = pd.to_numeric(pd.Series(data["lon"].to_numpy(), dtype=object), errors="coerce")
    if not (lat.notna().any() and lon.notna().any()):
        return data
    if np.nanmedian(np.abs(lat)) > 90 or np.nanmedian(np.abs(lon)) > 180:
        data = dict(data)
        data["northing"], data["easting"] = data.pop("lat"), data.pop("lon")
    return data


def _incident_csv(
    path: Path, label: str, columns: Mapping[str, str] | None
) -> tuple[pa.Table | None, list[str], bool]:
    header = read_header(path)
    police = is_police_uk_header(header.names)
    match = match_columns(
        header.names, INCIDENT_ALIASES, columns, fixed=POLICE_UK_STANDARD if police else None
    )
    problems = _schema_problems(
        label, header.names, match, has_geometry=False, needs=_INCIDENT_NEEDS
    )
    if problems:
        return None, problems, police
    include = sorted(set(match.sources.values()))
    table, rows, bad = read_csv_strings(path, header, include)
    data = _xy_as_bng({ours: table.column(theirs) for ours, theirs in match.sources.items()}, match)
    names = list(RAW_INCIDENT_COLUMNS)
    out = _assemble(data, names, table.num_rows, label, rows)
    return _with_malformed(out, bad, names, label), [], police


def _incident_geo(
    path: Path, label: str, columns: Mapping[str, str] | None
) -> tuple[pa.Table | None, list[str], bool]:
    info = _geo_info(path)
    fields = [str(f) for f in info.get("fields", [])]
    has_geometry = info.get("geometry_type") not in (None, "None")
    match = match_columns(fields, INCIDENT_ALIASES, columns)
    problems = _schema_problems(
        label, fields, match, has_geometry=has_geometry, needs=_INCIDENT_NEEDS
    )
    if problems:
        return None, problems, False
    frame = _read_geo(path, sorted(set(match.sources.values())))
    n = len(frame)
    data = _xy_as_bng(
        {ours: _as_strings(frame[theirs]) for ours, theirs in match.sources.items()}, match
    )
    geom = np.asarray(frame.geometry.array, dtype=object)
    types = np.asarray(shapely.get_type_id(geom))
    point = types == 0
    if point.any():
        x = np.where(point, shapely.get_x(np.where(point, geom, _NA)), np.nan)
        y = np.where(point, shapely.get_y(np.where(point, geom, _NA)), np.nan)
        data["lon"] = _where(point, pc.cast(pa.array(x), pa.string()), data.get("lon"), n)
        data["lat"] = _where(point, pc.cast(pa.array(y), pa.string()), data.get("lat"), n)
    other = (types > 0) & ~shapely.is_empty(geom)
    if other.any():
        detail = np.full(n, None, dtype=object)
        detail[other] = GEOMETRY_TYPE_NAMES[types[other]]
        data["problem"] = pa.array(np.where(other, "not a point", _NA), type=pa.string())
        data["problem_detail"] = pa.array(detail, type=pa.string())
    rows = np.arange(1, n + 1, dtype=np.int64)
    return _assemble(data, list(RAW_INCIDENT_COLUMNS), n, label, rows), [], False


def _where(mask: np.ndarray, a: pa.Array, b: pa.Array | None, n: int) -> pa.Array:
    return pc.if_else(pa.array(mask), a, b if b is not None else _null_strings(n))


def read_incidents(
    path: Path, *, source: str | None = None, columns: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Read an incident file, or a folder of police.uk monthly files, as raw text rows.

    Parameters
    ----------
    path
        A CSV (optionally gzipped), GeoJSON or GeoPackage file, a police.uk street-level
        CSV, or a folder of them (every ``*.csv``/``*.csv.gz`` below it, sorted by path).
    source
        The agency that recorded the incidents (``"police"``, ``"emergency department"``);
        fills the ``source`` column of every row. Without it a file's own source column is
        used, police.uk files default to ``"police"`` and anything else stays empty.
    columns
        Our column name → the file's column name, for headers the detection misses
        (``{"occurred": "Date reported", "category": "HO class"}``); wins over detection.

    Returns
    -------
    pandas.DataFrame
        The columns of :data:`geojtai.schema.RAW_INCIDENT_COLUMNS`, all text except ``row``.
        Only those columns are read: personal fields in the file are never loaded.

    Raises
    ------
    InputFileError
        A file is missing, unreadable, corrupt, empty or not a supported format.
    SchemaError
        A file has no usable location or date column (all files are checked first; the
        message has one line per problem and lists the columns found).
    CRSError
        A GeoPackage has geometries but no coordinate reference system.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "ed.csv").write_text("Date,Lat,Lng,Type,Name\\n05/03/2024,51.5,-0.1,assault,X\\n")
    >>> raw = read_incidents(folder / "ed.csv", source="ED")
    >>> raw[["file", "row", "occurred", "lat", "category", "source"]].values.tolist()
    [['ed.csv', 2, '05/03/2024', '51.5', 'assault', 'ED']]
    """
    path = Path(path)
    tables: list[pa.Table] = []
    problems: list[str] = []
    for file in _incident_files(path):
        label = _label(file, path)
        reader = _incident_csv if _kind(file) == "csv" else _incident_geo
        table, found, police = reader(file, label, columns)
        problems.extend(found)
        if table is not None:
            tables.append(_with_source(table, source, police))
    if problems:
        raise SchemaError("\n".join(problems), problems)
    return _to_pandas(pa.concat_tables(tables, promote_options="permissive"))


def _with_source(table: pa.Table, source: str | None, police: bool) -> pa.Table:
    default = source if source is not None else (POLICE_UK_SOURCE if police else None)
    if default is None:
        return table
    n = table.num_rows
    given = table.column("source")
    value = _filled(n, default)
    new = value if source is not None else pc.if_else(pc.is_null(given), value, given)
    return table.set_column(table.schema.get_field_index("source"), "source", new)


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    frame = table.to_pandas()
    frame["row"] = frame["row"].astype(np.int64)
    return frame


# --------------------------------------------------------------------------- interventions
_INTERVENTION_NEEDS = {
    "location": "no geometry (need a geometry, a WKT column, lat/lon or easting/northing)",
    "start": "no start date column (looked for start, start date, from, ...)",
}


def read_interventions(path: Path) -> gpd.GeoDataFrame:
    """Read an interventions file as raw rows (text attributes, geometry in EPSG:4326).

    Parameters
    ----------
    path
        GeoJSON or GeoPackage (points with ``radius_m``, polygons, route lines), or CSV with
        ``lat``/``lon`` or ``easting``/``northing`` (+ ``radius_m``) or a WKT ``geometry``
        column.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`geojtai.schema.RAW_INTERVENTION_COLUMNS` and ``geometry`` (missing for CSV
        rows: :func:`geojtai.schema.validate_interventions` builds it from the text).

    Raises
    ------
    InputFileError, SchemaError, CRSError
        As :func:`read_incidents`.
    """
    path = Path(path)
    if path.is_dir():
        msg = f"{path}: is a folder; give one interventions file"
        raise InputFileError(msg)
    if not path.exists():
        msg = f"{path}: file not found"
        raise InputFileError(msg)
    label = _label(path, path)
    names = list(RAW_INTERVENTION_COLUMNS)
    if _kind(path) == "csv":
        header = read_header(path)
        match = match_columns(header.names, INTERVENTION_ALIASES)
        _raise(
            _schema_problems(
                label, header.names, match, has_geometry=False, needs=_INTERVENTION_NEEDS
            )
        )
        table, rows, bad = read_csv_strings(path, header, sorted(set(match.sources.values())))
        data = {ours: table.column(theirs) for ours, theirs in match.sources.items()}
        out = _with_malformed(
            _assemble(data, names, table.num_rows, label, rows), bad, names, label
        )
        frame = _to_pandas(out)
        return gpd.GeoDataFrame(frame, geometry=np.full(len(frame), None, object), crs=WGS84)
    info = _geo_info(path)
    fields = [str(f) for f in info.get("fields", [])]
    match = match_columns(fields, INTERVENTION_ALIASES)
    has_geometry = info.get("geometry_type") not in (None, "None")
    _raise(
        _schema_problems(label, fields, match, has_geometry=has_geometry, needs=_INTERVENTION_NEEDS)
    )
    geo = _read_geo(path, sorted(set(match.sources.values())))
    data = {ours: _as_strings(geo[theirs]) for ours, theirs in match.sources.items()}
    rows = np.arange(1, len(geo) + 1, dtype=np.int64)
    frame = _to_pandas(_assemble(data, names, len(geo), label, rows))
    return gpd.GeoDataFrame(frame, geometry=geo.geometry.values, crs=WGS84)


def _raise(problems: list[str]) -> None:
    if problems:
        raise SchemaError("\n".join(problems), problems)


# --------------------------------------------------------------------------- study area
def read_area(path: Path) -> BaseGeometry:
    """Read a study area: the union of every polygon in the file, in EPSG:4326.

    Raises
    ------
    InputFileError
        The file is missing or unreadable.
    CRSError
        The file has no coordinate reference system.
    SchemaError
        The file holds no polygons, or geometries that are not polygons.
    """
    path = Path(path)
    _kind(path)
    _geo_info(path)
    frame = _read_geo(path, [])
    geoms = np.asarray(frame.geometry.array, dtype=object)
    present = geoms[~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)]
    if present.size == 0:
        msg = f"{path}: the study area file holds no polygons"
        raise SchemaError(msg)
    types = np.asarray(shapely.get_type_id(present))
    if not np.isin(types, _POLYGONAL).all():
        kinds = sorted(set(GEOMETRY_TYPE_NAMES[types[~np.isin(types, _POLYGONAL)]]))
        msg = f"{path}: a study area must be polygons; the file also holds {', '.join(kinds)}"
        raise SchemaError(msg)
    fixed = shapely.make_valid(present)
    return shapely.union_all(fixed)
