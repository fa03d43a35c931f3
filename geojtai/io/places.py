"""Place reader: OpenStreetMap extracts and users' own files into raw place features.

A place source is an OSM extract (``.osm.pbf`` or ``.osm`` XML, through GDAL's OSM driver),
a GeoJSON (optionally gzipped), GeoPackage (every layer), Shapefile, zipped Shapefile
(every ``.shp`` inside) or FlatGeobuf file, or a folder of them. The layer specs
(:mod:`geojtai.layers`) say which features are parks, streets, shopping centres, ...:

* OSM: each spec's ``[osm]`` tag filters, on the geometries it takes (nodes are ``point``,
  open ways ``line``, closed ways and multipolygon relations ``polygon``).
* Files: a file or inner layer named for a spec (its name or an alias) belongs wholly to
  it, as does every file of a :class:`PlaceInput` with a ``layer``. Any other file is mixed:
  each spec takes the features its ``[file]`` filters select, among the geometries its
  ``[osm]`` section takes (so a Geofabrik landuse area with ``fclass = residential`` is not
  a street).

Readers only read: null and empty geometries are kept (the caller turns them into rejects
with a reason), and a feature several specs select appears once per layer.
"""

from __future__ import annotations

import fnmatch
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError

from geojtai.crs import WGS84
from geojtai.errors import CRSError, GeojtaiError, InputFileError, SettingsError
from geojtai.io.readers import _first_line, _geo_path, _in_wgs84
from geojtai.layers import OSM_GEOMETRIES, LayerSpec, Selector, select_features
from geojtai.settings import PlaceInput

__all__ = ["RAW_PLACE_COLUMNS", "read_places"]

#: The columns :func:`read_places` returns, in order (then ``geometry``).
RAW_PLACE_COLUMNS = ("layer", "name", "value", "source", "row", "feature_id")

# Suffix -> format; longer suffixes first so ``x.geojson.gz`` is not taken for ``.json.gz``.
_FORMATS = {
    **dict.fromkeys((".osm.pbf", ".osm"), "OpenStreetMap"),
    **dict.fromkeys((".geojson.gz", ".json.gz", ".geojson", ".json"), "GeoJSON"),
    **dict.fromkeys((".shp.zip", ".zip"), "zipped Shapefile"),
    **{".gpkg": "GeoPackage", ".shp": "Shapefile", ".fgb": "FlatGeobuf"},
}
_CONTAINERS = ("OpenStreetMap", "GeoPackage", "zipped Shapefile")  # layers named in source
_OSM_LAYERS = (("points", "point"), ("lines", "line"), ("multipolygons", "polygon"))
_TYPE_IDS = {"point": (0, 4), "line": (1, 2, 5), "polygon": (3, 6)}  # shapely type ids
_ID_COLUMNS = ("id", "fid", "osm_id")
_GDAL_ERRORS = (DataSourceError, DataLayerError, OSError, ValueError)
# Closed ways with these keys are areas (GDAL's default list plus public transport). Other
# closed ways stay lines, so a highway loop is a street unless tagged area=yes (which the
# OSM driver honours by itself).
_AREA_KEYS: tuple[str, ...] = ("aeroway", "amenity", "boundary", "building", "craft")
_AREA_KEYS += ("geological", "historic", "landuse", "leisure", "military", "natural")
_AREA_KEYS += ("office", "place", "shop", "sport", "tourism", "public_transport")
_AREA_TAGS = ("highway=platform", "railway=platform", "railway=station")
_LINEAR_KEYS = frozenset({"highway", "railway", "waterway", "barrier", "route", "power"})

_BBox = tuple[float, float, float, float]
# A spec's share of a layer: its filters, and the geometries it takes (None: every feature).
_Choice = tuple[LayerSpec, Sequence[Selector], tuple[str, ...] | None]
_Piece = dict[str, np.ndarray]


def read_places(
    inputs: Sequence[PlaceInput], specs: Sequence[LayerSpec], *, bbox: _BBox | None = None
) -> gpd.GeoDataFrame:
    """Read place sources into one frame of raw features, one row per feature and layer.

    Parameters
    ----------
    inputs
        OSM extracts, files, or folders (every supported file directly inside, by name;
        other files are not place files). With ``layer``, every feature of the files belongs
        to that spec (from an OSM extract, only that spec's features are taken).
    specs
        The layer specs that say what each place type is.
    bbox
        ``(minx, miny, maxx, maxy)`` in EPSG:4326: only features intersecting it are kept,
        and features without geometry (kept for the caller to reject with a reason).

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`RAW_PLACE_COLUMNS` and ``geometry`` (as read, null/empty kept) in EPSG:4326,
        ordered by input, source layer and ``row`` (1-based position in the source layer).
        ``value`` is what the spec's filter matched (None when a whole file belongs to the
        layer and no filter matched); ``source`` is the file name, plus ``:layer`` for OSM,
        GeoPackage and zip files; ``feature_id`` is ``node/1``, ``way/2`` or ``relation/3``
        for OSM, else an ``id``/``fid``/``osm_id`` column's value when there is one.

    Raises
    ------
    SettingsError
        An input names a layer no spec has (the message lists the valid names).
    InputFileError
        A path is missing, of an unsupported type, or unreadable as its format.
    CRSError
        A file has geometries but no coordinate reference system.

    Examples
    --------
    >>> from geojtai.layers import load_layer_specs
    >>> folder = Path(tempfile.mkdtemp())
    >>> points = gpd.points_from_xy([-0.1, -0.2], [51.5, 51.6])
    >>> gpd.GeoDataFrame({"fclass": ["pub", "bench"]}, geometry=points, crs=WGS84).to_file(
    ...     folder / "pois.geojson")
    >>> read_places([PlaceInput(folder)], load_layer_specs())[["layer", "value", "row"]].values
    array([['licensed_premises', 'pub', 1]], dtype=object)
    """
    # Check: layer names first, then that every path is there and of a supported type.
    files = _input_files(inputs, _forced_specs(inputs, specs))
    # Read: each file's layers as the specs pick them; problems are collected, raised once.
    pieces: list[_Piece] = []
    problems: list[GeojtaiError] = []
    for path, spec in files:
        chosen = list(specs) if spec is None else [spec]
        try:
            if _format(path) == "OpenStreetMap":
                pieces += _read_osm(path, chosen, bbox)
            else:
                pieces += _read_file(path, chosen, spec is not None, bbox)
        except (InputFileError, CRSError) as exc:
            problems.append(exc)
    if problems:
        lines = [line for exc in problems for line in exc.problems]
        raise type(problems[0])("\n".join(lines), lines)
    # Assemble: one frame, in input, source and row order.
    return _assemble(pieces)


# --------------------------------------------------------------------------- inputs
def _forced_specs(
    inputs: Sequence[PlaceInput], specs: Sequence[LayerSpec]
) -> list[LayerSpec | None]:
    by_name = {s.name: s for s in specs}
    problems = [
        f"{p.path}: unknown place layer {p.layer!r}; valid layers are {sorted(by_name)}"
        for p in inputs
        if p.layer is not None and p.layer not in by_name
    ]
    if problems:
        raise SettingsError("\n".join(problems), problems)
    return [None if p.layer is None else by_name[p.layer] for p in inputs]


def _suffix(path: Path) -> str:
    return next((s for s in _FORMATS if path.name.lower().endswith(s)), "")


def _format(path: Path) -> str | None:
    return _FORMATS.get(_suffix(path))


def _input_files(
    inputs: Sequence[PlaceInput], forced: Sequence[LayerSpec | None]
) -> list[tuple[Path, LayerSpec | None]]:
    """Every place file of every input, with the spec it wholly belongs to (if given)."""
    files: list[tuple[Path, LayerSpec | None]] = []
    problems: list[str] = []
    supported = ", ".join(_FORMATS)
    for place, spec in zip(inputs, forced, strict=True):
        path = Path(place.path)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and _format(p))
            found = [p for p in found if not p.name.startswith(".")]
            if not found:
                problems.append(f"{path}: folder holds no place files ({supported})")
            files += [(p, spec) for p in found]
        elif not path.exists():
            problems.append(f"{path}: file not found")
        elif _format(path) is None:
            problems.append(f"{path}: unsupported place file type; use one of {supported}")
        else:
            files.append((path, spec))
    if problems:
        raise InputFileError("\n".join(problems), problems)
    return files


# --------------------------------------------------------------------------- OSM
def _osm_config(specs: Sequence[LayerSpec]) -> str:
    """A GDAL ``osmconf.ini`` whose columns are the tags the specs select on and name by."""
    keys = ["name", "ref", *(c for s in specs for c in s.file.name_columns)]
    keys += [sel.key for s in specs for sel in s.osm.select]
    areas = [*_AREA_KEYS, *_AREA_TAGS]
    for sel in (sel for s in specs if "polygon" in s.osm.geometries for sel in s.osm.select):
        whole_key = "*" in sel.values and sel.key not in _LINEAR_KEYS
        areas += [sel.key] if whole_key else [f"{sel.key}={v}" for v in sel.values if v != "*"]
    # A key=value entry says nothing more beside its whole key.
    whole = {a for a in areas if "=" not in a}
    areas = [a for a in dict.fromkeys(areas) if a.split("=")[0] not in whole or "=" not in a]
    lines = ["# Written by geojtai from its place-layer specs.", "[general]"]
    lines += [f"closed_ways_are_polygons={','.join(areas)}", "attribute_name_laundering=no"]
    for layer, _ in _OSM_LAYERS:
        lines += [f"[{layer}]", "osm_id=yes", "other_tags=no"]
        lines += [f"attributes={','.join(dict.fromkeys(keys))}"]
        lines += ["osm_way_id=yes"] if layer == "multipolygons" else []
    return "\n".join(lines) + "\n"


def _read_osm(path: Path, specs: Sequence[LayerSpec], bbox: _BBox | None) -> list[_Piece]:
    pieces: list[_Piece] = []
    with tempfile.TemporaryDirectory(prefix="geojtai-osm-") as tmp:
        config = Path(tmp) / "osmconf.ini"
        config.write_text(_osm_config(specs), encoding="utf-8")
        for layer, geometry in _OSM_LAYERS:
            chosen = [(s, s.osm.select, OSM_GEOMETRIES) for s in specs if s.osm.select]
            chosen = [c for c in chosen if geometry in c[0].osm.geometries]
            if not chosen:
                continue
            frame, rows = _read_layer(path, str(path), layer, None, bbox, config)
            label = f"{path.name}:{layer}"
            pieces.append(_pick(frame, rows, _osm_ids(frame, geometry), label, chosen))
    return pieces


def _osm_ids(frame: pd.DataFrame, geometry: str) -> np.ndarray:
    """``node/1``, ``way/2``, ``relation/3`` (in multipolygons relations have ``osm_id``)."""
    ids = _text(frame["osm_id"]) if "osm_id" in frame else np.full(len(frame), None, object)
    if geometry != "polygon":
        return _prefixed("node/" if geometry == "point" else "way/", ids)
    ways = _text(frame["osm_way_id"]) if "osm_way_id" in frame else ids
    return np.where(pd.isna(ids), _prefixed("way/", ways), _prefixed("relation/", ids))


def _prefixed(prefix: str, ids: np.ndarray) -> np.ndarray:
    out = np.full(len(ids), None, dtype=object)
    ok = ~pd.isna(ids)
    out[ok] = np.char.add(prefix, ids[ok].astype(str)).astype(object)
    return out


# --------------------------------------------------------------------------- files
def _read_file(
    path: Path, specs: Sequence[LayerSpec], whole: bool, bbox: _BBox | None
) -> list[_Piece]:
    fmt = _format(path)
    gdal = f"/vsizip/{path.resolve()}" if fmt == "zipped Shapefile" else _geo_path(path)
    layers: list[str | None] = [None]
    if fmt in _CONTAINERS:
        try:
            layers = [str(name) for name in pyogrio.list_layers(gdal)[:, 0]]
        except _GDAL_ERRORS as exc:
            raise _unreadable(path, exc) from exc
    stem = path.name[: -len(_suffix(path))]
    pieces = []
    for layer in layers:
        named = specs[0] if whole else _named_spec([layer, stem], specs)
        chosen: list[_Choice] = [(named, named.file.select, None)] if named else []
        chosen = chosen or [(s, s.file.select, s.osm.geometries) for s in specs]
        columns = [*_ID_COLUMNS, *(c for s, _, _ in chosen for c in s.file.name_columns)]
        columns += [sel.key for _, select, _ in chosen for sel in select]
        frame, rows = _read_layer(path, gdal, layer, list(dict.fromkeys(columns)), bbox, None)
        label = path.name if layer is None else f"{path.name}:{layer}"
        ids = next((_text(frame[c]) for c in _ID_COLUMNS if c in frame), None)
        pieces.append(_pick(frame, rows, ids, label, chosen))
    return pieces


def _named_spec(names: Sequence[str | None], specs: Sequence[LayerSpec]) -> LayerSpec | None:
    """The first spec whose name or an alias (``*`` wildcards) matches a name, in order."""
    for name in (n.lower() for n in names if n):
        for spec in specs:
            patterns = [spec.name, *(a.lower() for a in spec.file.aliases)]
            if any(fnmatch.fnmatchcase(name, p) for p in patterns):
                return spec
    return None


# --------------------------------------------------------------------------- reading
def _read_layer(
    path: Path,
    gdal: str,
    layer: str | None,
    columns: list[str] | None,
    bbox: _BBox | None,
    osm_config: Path | None,
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """One layer in EPSG:4326, and each feature's 1-based position in the layer.

    The layer is read whole and filtered to ``bbox`` here, keeping features with no
    geometry (the caller rejects them with a reason). GDAL's own spatial filter would be
    faster on a large GeoPackage, but it drops features without geometry silently, and the
    OSM driver builds every geometry whatever the filter.
    """
    options: Mapping[str, str] = {"CONFIG_FILE": str(osm_config)} if osm_config else {}
    try:
        frame = pyogrio.read_dataframe(
            gdal, layer=layer, columns=columns, use_arrow=True, **options
        )
    except _GDAL_ERRORS as exc:
        raise _unreadable(path, exc) from exc
    rows = np.arange(1, len(frame) + 1, dtype=np.int64)
    geo = _in_wgs84(frame, path)
    if bbox is not None:
        geoms = np.asarray(geo.geometry.array, dtype=object)
        keep = shapely.intersects(geoms, shapely.box(*bbox)) | shapely.is_missing(geoms)
        keep |= shapely.is_empty(geoms)
        geo, rows = geo[keep], rows[keep]
    return geo.reset_index(drop=True), rows


def _unreadable(path: Path, exc: BaseException) -> InputFileError:
    msg = f"{path}: not a readable {_format(path) or 'place'} file ({_first_line(exc)})"
    return InputFileError(msg)


# --------------------------------------------------------------------------- assembly
def _pick(
    frame: gpd.GeoDataFrame,
    rows: np.ndarray,
    ids: np.ndarray | None,
    label: str,
    chosen: Sequence[_Choice],
) -> _Piece:
    """The features each spec takes from one layer, in row order (ties in spec order)."""
    n = len(frame)
    geoms = np.asarray(frame.geometry.array, dtype=object)
    types = np.asarray(shapely.get_type_id(geoms))
    unknown = (types < 0) | (types == 7)  # no geometry, or a collection: the caller decides
    at, layer = [np.empty(0, dtype=np.int64)], [np.empty(0, dtype=object)]
    value, name = [np.empty(0, dtype=object)], [np.empty(0, dtype=object)]
    for spec, selectors, geometries in chosen:
        mask, matched = select_features(frame, selectors)
        if geometries is None:
            mask = np.ones(n, dtype=bool)
        else:
            allowed = [t for g in geometries for t in _TYPE_IDS[g]]
            mask &= unknown | np.isin(types, allowed)
        take = np.flatnonzero(mask)
        at.append(take)
        layer.append(np.full(take.size, spec.name, dtype=object))
        value.append(matched.to_numpy(dtype=object)[take])
        name.append(_first_text(frame, spec.file.name_columns)[take])
    order = np.argsort(np.concatenate(at), kind="stable")
    index = np.concatenate(at)[order]
    return {
        "layer": np.concatenate(layer)[order],
        "name": np.concatenate(name)[order],
        "value": np.concatenate(value)[order],
        "source": np.full(index.size, label, dtype=object),
        "row": rows[index],
        "feature_id": np.full(n, None, dtype=object)[index] if ids is None else ids[index],
        "geometry": geoms[index],
    }


def _text(values: pd.Series) -> np.ndarray:
    """Values as stripped text (whole floats without ``.0``); missing or blank -> None."""
    out = np.full(len(values), None, dtype=object)
    present = values.notna().to_numpy()
    if pd.api.types.is_float_dtype(values.dtype):
        number = values.to_numpy(dtype=float)
        whole = present & np.isfinite(number) & (number == np.round(number))
        out[whole] = number[whole].astype(np.int64).astype(str).astype(object)
        out[present & ~whole] = number[present & ~whole].astype(str).astype(object)
    else:
        out[present] = values[present].astype(str).str.strip().to_numpy(dtype=object)
    out[out == ""] = None
    return out


def _first_text(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Per row, the first non-blank value among ``columns`` (absent columns skipped)."""
    out = np.full(len(frame), None, dtype=object)
    for column in (c for c in columns if c in frame.columns):
        out = np.where(pd.isna(out), _text(frame[column]), out)
    return out


def _assemble(pieces: Sequence[_Piece]) -> gpd.GeoDataFrame:
    def column(name: str) -> np.ndarray:
        parts = [p[name] for p in pieces] or [np.empty(0, dtype=object)]
        return np.concatenate(parts)

    data = {c: pd.Series(column(c), dtype=object) for c in RAW_PLACE_COLUMNS}
    data["row"] = pd.Series(column("row"), dtype=np.int64)
    return gpd.GeoDataFrame(data, geometry=column("geometry"), crs=WGS84)
