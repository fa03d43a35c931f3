"""Place-layer specifications: what a park, a street or a shopping centre is, as data.

Each place type is one TOML file in ``layers/`` (or in a study's own layers folder), parsed
into a frozen :class:`LayerSpec`. A spec says how to pick the layer's features out of an
OpenStreetMap extract (tag filters) and out of a user's own files (column filters), what
geometry the layer has in cells, how close an incident must be to count as "in" it, which
police.uk ``Location`` labels name it, its influence distances for risk features and its map
style. Adding a place type means adding a file; no code changes.

A minimal spec (``layers/parks.toml``)::

    title = "Parks and open spaces"
    kind = "polygon"
    priority = 50
    context_m = 10

    [osm]
    select = [{ key = "leisure", values = ["park", "playground"] }]

    [style]
    colour = "#2e7d32"
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from geojtai.errors import SettingsError

__all__ = [
    "BUILTIN_LAYERS_DIR",
    "LAYER_KINDS",
    "OSM_GEOMETRIES",
    "FileSelect",
    "LayerSpec",
    "LayerStyle",
    "OsmSelect",
    "Selector",
    "load_layer_specs",
    "parse_layer_spec",
    "select_features",
]

#: The specs shipped with geojtai (``layers/`` beside the package).
BUILTIN_LAYERS_DIR = Path(__file__).resolve().parent.parent / "layers"
LAYER_KINDS = ("polygon", "line", "point")
OSM_GEOMETRIES = ("point", "line", "polygon")
ANY_VALUE = "*"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class Selector:
    """Features whose attribute ``key`` has one of ``values`` (``"*"``: any non-empty value)."""

    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class OsmSelect:
    """How to pick a layer's features out of an OpenStreetMap extract.

    ``geometries`` says which OSM geometries to take: nodes (``point``), open ways (``line``)
    and closed ways or multipolygon relations (``polygon``).
    """

    select: tuple[Selector, ...] = ()
    geometries: tuple[str, ...] = OSM_GEOMETRIES


@dataclass(frozen=True)
class FileSelect:
    """How to pick a layer's features out of a user's own file.

    A file whose name (without extension) is the layer's name or one of ``aliases`` belongs
    wholly to the layer. Any other file is searched with ``select`` (column filters), so one
    mixed file (a points-of-interest extract) can feed several layers.
    """

    aliases: tuple[str, ...] = ()
    select: tuple[Selector, ...] = ()
    name_columns: tuple[str, ...] = ("name",)


@dataclass(frozen=True)
class LayerStyle:
    """How the layer is drawn on maps (Leaflet path options)."""

    colour: str = "#555555"
    fill_colour: str | None = None
    fill_opacity: float = 0.3
    weight: float = 1.0
    radius: float = 4.0


@dataclass(frozen=True)
class LayerSpec:
    """One place type.

    Parameters
    ----------
    name
        Identifier (the file name): lowercase letters, digits and ``_``.
    title
        What people read on maps and in reports.
    kind
        Geometry in cells: ``polygon`` (share of each cell covered), ``line`` (length per cell,
        by ``classes``) or ``point`` (features per cell).
    priority
        Lower wins when an incident is near several place types (a pub inside a shopping
        centre counts as the shopping centre when its priority is lower).
    context_m
        Tolerance in metres: an incident this close to a feature is "in" the place.
    point_radius_m
        Radius in metres given to point features when the layer covers area (a school
        mapped as a node) and used for the cell share of point layers.
    policeuk_labels
        police.uk ``Location`` labels ("Park/Open Space") that name this place type.
    influence_m
        Distances for risk features (proximity and density within each).
    classes
        For line layers: class name -> the feature values in it (road classes).
    """

    name: str
    title: str
    kind: str
    priority: int = 100
    context_m: float = 10.0
    point_radius_m: float = 25.0
    description: str = ""
    policeuk_labels: tuple[str, ...] = ()
    influence_m: tuple[float, ...] = (100.0, 200.0, 400.0)
    classes: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    osm: OsmSelect = OsmSelect()
    file: FileSelect = FileSelect()
    style: LayerStyle = LayerStyle()

    def class_of(self, values: pd.Series) -> pd.Series:
        """The class of each feature value (``other`` when no class lists it)."""
        lookup = {v: name for name, vals in self.classes.items() for v in vals}
        return values.map(lookup).fillna("other").astype(object)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (manifest, web app)."""
        return {
            "name": self.name,
            "title": self.title,
            "kind": self.kind,
            "priority": self.priority,
            "context_m": self.context_m,
            "point_radius_m": self.point_radius_m,
            "description": self.description,
            "policeuk_labels": list(self.policeuk_labels),
            "influence_m": list(self.influence_m),
            "classes": {k: list(v) for k, v in self.classes.items()},
            "style": {
                "colour": self.style.colour,
                "fill_colour": self.style.fill_colour or self.style.colour,
                "fill_opacity": self.style.fill_opacity,
                "weight": self.style.weight,
                "radius": self.style.radius,
            },
        }


# --------------------------------------------------------------------------- parsing

_TOP_KEYS = {
    "title",
    "kind",
    "priority",
    "context_m",
    "point_radius_m",
    "description",
    "policeuk_labels",
    "influence_m",
    "classes",
    "osm",
    "file",
    "style",
}
_STYLE_KEYS = {"colour", "fill_colour", "fill_opacity", "weight", "radius"}


class _Problems:
    """Collects every problem in one spec so they are raised together."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.items: list[str] = []

    def add(self, text: str) -> None:
        self.items.append(f"{self.where}: {text}")

    def unknown(self, table: Mapping[str, Any], known: set[str], section: str) -> None:
        extra = sorted(set(table) - known)
        if extra:
            self.add(f"unknown {section} keys {extra}; valid ones are {sorted(known)}")


def _strings(value: Any, what: str, problems: _Problems) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        problems.add(f"{what} must be a list of non-empty strings")
        return ()
    return tuple(value)


def _number(value: Any, what: str, problems: _Problems, *, low: float = 0.0) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= low:
        problems.add(f"{what} must be a number >= {low:g}, not {value!r}")
        return None
    return float(value)


def _selectors(value: Any, what: str, problems: _Problems) -> tuple[Selector, ...]:
    if not isinstance(value, list):
        problems.add(f"{what} must be a list of {{ key = ..., values = [...] }} tables")
        return ()
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or set(item) != {"key", "values"}:
            problems.add(f"{what}[{i}] must have exactly 'key' and 'values'")
            continue
        key = item["key"]
        if not isinstance(key, str) or not key:
            problems.add(f"{what}[{i}].key must be a non-empty string")
            continue
        out.append(Selector(key, _strings(item["values"], f"{what}[{i}].values", problems)))
    return tuple(out)


def _osm(table: Any, problems: _Problems) -> OsmSelect:
    if not isinstance(table, dict):
        problems.add("[osm] must be a table")
        return OsmSelect()
    problems.unknown(table, {"select", "geometries"}, "[osm]")
    geometries = _strings(table.get("geometries", list(OSM_GEOMETRIES)), "osm.geometries", problems)
    bad = sorted(set(geometries) - set(OSM_GEOMETRIES))
    if bad:
        problems.add(f"osm.geometries {bad} are not among {list(OSM_GEOMETRIES)}")
    return OsmSelect(_selectors(table.get("select", []), "osm.select", problems), geometries)


def _file(table: Any, problems: _Problems) -> FileSelect:
    if not isinstance(table, dict):
        problems.add("[file] must be a table")
        return FileSelect()
    problems.unknown(table, {"aliases", "select", "name_columns"}, "[file]")
    return FileSelect(
        aliases=_strings(table.get("aliases", []), "file.aliases", problems),
        select=_selectors(table.get("select", []), "file.select", problems),
        name_columns=_strings(table.get("name_columns", ["name"]), "file.name_columns", problems),
    )


def _style(table: Any, problems: _Problems) -> LayerStyle:
    if not isinstance(table, dict):
        problems.add("[style] must be a table")
        return LayerStyle()
    problems.unknown(table, _STYLE_KEYS, "[style]")
    for key in ("colour", "fill_colour"):
        if key in table and not (isinstance(table[key], str) and _COLOUR.match(table[key])):
            problems.add(f"style.{key} must be a colour like '#2e7d32', not {table[key]!r}")
            return LayerStyle()
    numbers = {
        k: _number(table[k], f"style.{k}", problems)
        for k in ("fill_opacity", "weight", "radius")
        if k in table
    }
    if "fill_opacity" in numbers and (numbers["fill_opacity"] or 0.0) > 1:
        problems.add("style.fill_opacity must be between 0 and 1")
    clean = {k: v for k, v in numbers.items() if v is not None}
    return LayerStyle(
        colour=table.get("colour", LayerStyle.colour),
        fill_colour=table.get("fill_colour"),
        **clean,
    )


def _classes(table: Any, problems: _Problems) -> Mapping[str, tuple[str, ...]]:
    if not isinstance(table, dict):
        problems.add("[classes] must be a table of class = [values]")
        return MappingProxyType({})
    return MappingProxyType(
        {str(k): _strings(v, f"classes.{k}", problems) for k, v in table.items()}
    )


def parse_layer_spec(name: str, data: Mapping[str, Any], *, where: str = "") -> LayerSpec:
    """Build a :class:`LayerSpec` from parsed TOML, collecting every problem before raising.

    Raises
    ------
    SettingsError
        Unknown keys, missing title or kind, values of the wrong type.

    Examples
    --------
    >>> parse_layer_spec("parks", {"title": "Parks", "kind": "polygon"}).kind
    'polygon'
    """
    problems = _Problems(where or f"layer {name!r}")
    if not _NAME.match(name):
        problems.add("the layer name (file name) must be lowercase letters, digits and '_'")
    problems.unknown(data, _TOP_KEYS, "top-level")
    title, kind = data.get("title"), data.get("kind")
    if not isinstance(title, str) or not title:
        problems.add("'title' is required (a non-empty string)")
    if kind not in LAYER_KINDS:
        problems.add(f"'kind' must be one of {list(LAYER_KINDS)}, not {kind!r}")
    priority = data.get("priority", 100)
    if isinstance(priority, bool) or not isinstance(priority, int):
        problems.add(f"'priority' must be an integer, not {priority!r}")
    numbers = {
        k: _number(data[k], k, problems) for k in ("context_m", "point_radius_m") if k in data
    }
    influence = data.get("influence_m", [100, 200, 400])
    if not isinstance(influence, list) or not influence:
        problems.add("'influence_m' must be a non-empty list of distances in metres")
        influence = []
    distances = tuple(_number(d, "influence_m", problems, low=1.0) or 0.0 for d in influence)
    description = str(data.get("description", ""))
    labels = _strings(data.get("policeuk_labels", []), "policeuk_labels", problems)
    classes = _classes(data.get("classes", {}), problems)
    osm, file, style = (
        _osm(data.get("osm", {}), problems),
        _file(data.get("file", {}), problems),
        _style(data.get("style", {}), problems),
    )
    if problems.items:
        raise SettingsError("\n".join(problems.items), problems.items)
    return LayerSpec(
        name=name,
        title=str(title),
        kind=str(kind),
        priority=int(priority),
        context_m=_given(numbers.get("context_m"), LayerSpec.context_m),
        point_radius_m=_given(numbers.get("point_radius_m"), LayerSpec.point_radius_m),
        description=description,
        policeuk_labels=labels,
        influence_m=tuple(sorted(distances)),
        classes=classes,
        osm=osm,
        file=file,
        style=style,
    )


def _given(value: float | None, default: float) -> float:
    return default if value is None else value


def _toml_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        msg = f"{folder}: layers folder not found"
        raise SettingsError(msg)
    return sorted(p for p in folder.glob("*.toml") if not p.name.startswith("."))


def load_layer_specs(folders: Iterable[Path] | None = None) -> tuple[LayerSpec, ...]:
    """Read every ``*.toml`` spec from ``folders`` (built-in specs when ``None``).

    A later folder's spec replaces an earlier one of the same name, so a study can override
    a built-in place type or add its own. The result is ordered by ``priority`` then name.

    Raises
    ------
    SettingsError
        A spec is not valid TOML or not a valid spec; every problem of every file is listed.
    """
    specs: dict[str, LayerSpec] = {}
    problems: list[str] = []
    for folder in [BUILTIN_LAYERS_DIR] if folders is None else folders:
        for path in _toml_files(Path(folder)):
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
                specs[path.stem] = parse_layer_spec(path.stem, data, where=str(path))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                problems.append(f"{path}: cannot read layer spec: {exc}")
            except SettingsError as exc:
                problems.extend(exc.problems)
    if problems:
        raise SettingsError("\n".join(problems), problems)
    return tuple(sorted(specs.values(), key=lambda s: (s.priority, s.name)))


# --------------------------------------------------------------------------- selection


def select_features(
    frame: pd.DataFrame, selectors: Sequence[Selector]
) -> tuple[np.ndarray, pd.Series]:
    """Which rows the selectors pick, and the value that matched (vectorised).

    The first selector that matches a row gives its value; a selector whose key is not a
    column of ``frame`` matches nothing.

    Returns
    -------
    (numpy.ndarray, pandas.Series)
        A boolean mask over the rows and, for every row, the matched value (None if none).

    Examples
    --------
    >>> f = pd.DataFrame({"leisure": ["park", "pitch", None]})
    >>> mask, value = select_features(f, [Selector("leisure", ("park",))])
    >>> mask.tolist(), value.tolist()
    ([True, False, False], ['park', None, None])
    """
    value = pd.Series(np.full(len(frame), None, dtype=object), index=frame.index)
    mask = np.zeros(len(frame), dtype=bool)
    for sel in selectors:
        if sel.key not in frame.columns:
            continue
        column = frame[sel.key].astype(object)
        text = column.where(column.notna(), "").astype(str).str.strip()
        if ANY_VALUE in sel.values:
            hit = (text != "").to_numpy()
        else:
            hit = text.isin(sel.values).to_numpy()
        new = hit & ~mask
        value[new] = text[new]
        mask |= hit
    return mask, value
