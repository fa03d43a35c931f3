"""The studies (areas) an app serves, read once per process, and their live deployment.

An app serves one study (``STUDY_DIR``) or several, one per area (``STUDIES``: a mapping of
short names to study folders, e.g. ``{"city": "studies/city", "rutland": "studies/rutland"}``,
given in the instance ``config.py`` or as JSON in ``GEOJTAI_STUDIES``). Each is read when the
app is created into an :class:`Area`: the study's tables, its place layers turned into GeoJSON
bytes, and its interventions with the coverage they give. A request picks its area with
``?study=NAME`` (the first area when absent).

The interventions and what follows from them (coverage per cell, gaps, coverage figures) are
the area's :class:`LiveDeployment`. It starts as the study build left it and is replaced
whole, under the area's lock, when the interventions register changes, so a request always
sees one consistent version.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from flask import Flask, current_app, request
from werkzeug.exceptions import NotFound

from geojtai.errors import StudyError
from geojtai.filters import IncidentIndex
from geojtai.io.studyfolder import Study, load_study
from geojtai.maps import cell_geometries, interventions_geojson, places_geojson

__all__ = [
    "AREAS_KEY",
    "COVERAGE_COLUMNS",
    "Area",
    "GeometryCache",
    "LayerCache",
    "LiveDeployment",
    "PlaceLayer",
    "ServedPlaces",
    "area_names",
    "configured_studies",
    "current_area",
    "load_areas",
    "load_deployment",
    "load_index",
    "load_places",
    "requested_area_name",
]

AREAS_KEY = "geojtai.areas"
#: The columns of ``cells.parquet`` that come from the interventions, replaced when they change.
COVERAGE_COLUMNS = ("agencies_now", "interventions_now", "intervention_ids")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


@dataclass(frozen=True)
class PlaceLayer:
    """One place layer, ready to serve.

    Attributes
    ----------
    spec
        The layer's spec as ``layers.json`` has it (``name``, ``title``, ``kind``, ``style``,
        ...).
    count
        Features in the study region.
    geojson
        The layer as a GeoJSON FeatureCollection (:func:`geojtai.maps.places_geojson`).
    """

    spec: dict[str, Any]
    count: int
    geojson: bytes

    @property
    def name(self) -> str:
        """The layer's name (``parks``)."""
        return str(self.spec["name"])


@dataclass(frozen=True)
class ServedPlaces:
    """A study's place layers in priority order, and its answer to "where did it happen?".

    Empty for a study built before place layers existed.
    """

    layers: dict[str, PlaceLayer] = field(default_factory=dict)
    share: pd.DataFrame = field(default_factory=pd.DataFrame)
    top: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass(frozen=True)
class LiveDeployment:
    """The interventions of an area and what follows from them, as one consistent version.

    Attributes
    ----------
    interventions
        The interventions (EPSG:4326, the columns of ``interventions.parquet``); no rows when
        the area has none.
    geojson
        ``interventions`` as GeoJSON (:func:`geojtai.maps.interventions_geojson`).
    gaps
        High-risk cells with no or single-agency coverage, or ``None`` without interventions.
    cells
        One row per cell of the study, in the study's cell order: ``h3`` and
        :data:`COVERAGE_COLUMNS`.
    coverage
        The coverage figures (``coverage.json``'s shape); empty without interventions.
    version
        0 as built; one more after each change to the register.
    """

    interventions: gpd.GeoDataFrame
    geojson: bytes
    gaps: gpd.GeoDataFrame | None
    cells: pd.DataFrame
    coverage: dict[str, Any]
    version: int = 0


class LayerCache:
    """The most recently used layer answers (bytes), by what was asked; thread-safe.

    A layer's GeoJSON depends only on the study, the live deployment's version, the
    filter and the disclosure rule, so the same question is answered once: the first
    answer for 20k cells takes about 0.15 s, a repeat well under 1 ms.
    """

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], bytes]) -> bytes:
        """The answer for ``key``, made with ``make()`` when it is not held."""
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        data = make()  # outside the lock: other questions need not wait
        with self._lock:
            if key not in self._items and len(data) <= self.max_bytes:
                self._items[key] = data
                self._size += len(data)
                while self._size > self.max_bytes:
                    _, dropped = self._items.popitem(last=False)
                    self._size -= len(dropped)
        return data

    def __len__(self) -> int:
        return len(self._items)


class GeometryCache:
    """H3 cell polygons as serialised GeoJSON geometries, made once per cell and kept
    (thread-safe)."""

    def __init__(self) -> None:
        self._known: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def __call__(self, ids: Sequence[str]) -> list[bytes]:
        """The geometries of ``ids`` (hex), in order."""
        known = self._known
        missing = [h for h in dict.fromkeys(ids) if h not in known]
        if missing:
            made = dict(zip(missing, cell_geometries(missing), strict=True))
            with self._lock:
                known.update(made)
        return [known[h] for h in ids]


@dataclass
class Area:
    """One served study: its tables, place layers and live deployment.

    Attributes
    ----------
    name
        The short name used in URLs (``?study=NAME``).
    study
        The built study, read once.
    places
        Its place layers, turned into GeoJSON once.
    deployment
        The live interventions and coverage; replace it only through :meth:`replace`.
    index
        The in-scope incidents indexed for filters (:class:`geojtai.filters.IncidentIndex`),
        or ``None`` for a study folder without ``incidents.parquet``.
    layers
        Layer answers already made (:class:`LayerCache`).
    geometries
        Cell polygons already made (:class:`GeometryCache`).
    """

    name: str
    study: Study
    places: ServedPlaces
    deployment: LiveDeployment
    index: IncidentIndex | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    layers: LayerCache = field(default_factory=LayerCache, repr=False)
    geometries: GeometryCache = field(default_factory=GeometryCache, repr=False)

    @property
    def title(self) -> str:
        """The study's title (``Kingsmere (synthetic sample town)``)."""
        return self.study.name

    @property
    def resolution(self) -> int:
        """The study's H3 resolution."""
        settings = self.study.manifest.get("settings", {})
        if "resolution" in settings:
            return int(settings["resolution"])
        return int(self.study.cells["resolution"].iloc[0]) if len(self.study.cells) else 9

    @property
    def cells(self) -> gpd.GeoDataFrame:
        """The study's cells with the live deployment's coverage columns."""
        cells = self.study.cells
        live = self.deployment.cells
        if self.deployment.version == 0 or live.empty:
            return cells
        kept = cells.drop(columns=[c for c in COVERAGE_COLUMNS if c in cells.columns])
        return kept.assign(**{c: live[c].to_numpy() for c in COVERAGE_COLUMNS})

    def replace(self, deployment: LiveDeployment) -> LiveDeployment:
        """Swap in a new deployment (numbered one after the current) and return it."""
        with self.lock:
            new = LiveDeployment(
                interventions=deployment.interventions,
                geojson=deployment.geojson,
                gaps=deployment.gaps,
                cells=deployment.cells,
                coverage=deployment.coverage,
                version=self.deployment.version + 1,
            )
            self.deployment = new
            return new


# -- reading, once per app -------------------------------------------------------------------


def load_places(study: Study) -> ServedPlaces:
    """Read a study's place files and turn each layer into GeoJSON, once.

    Layers come in ``layers.json`` order (priority); a layer with no feature in the region
    is kept, empty. A study without ``places.parquet`` gives no layers.

    Raises
    ------
    StudyError
        A place file is there but cannot be read (the message names the study).
    """
    tables = study.places()
    groups = dict(iter(tables.features.groupby("layer", sort=False)))
    layers = {
        spec["name"]: _place_layer(spec, groups.get(spec["name"], tables.features.iloc[:0]))
        for spec in tables.layers
    }
    return ServedPlaces(layers=layers, share=tables.share, top=tables.top)


def _place_layer(spec: dict[str, Any], features: gpd.GeoDataFrame) -> PlaceLayer:
    data = places_geojson(features, kind=spec["kind"], style=spec["style"])
    return PlaceLayer(spec=spec, count=len(features), geojson=data)


def no_interventions() -> gpd.GeoDataFrame:
    """An empty interventions table with the columns the map needs."""
    return gpd.GeoDataFrame({"id": [], "name": [], "agencies": []}, geometry=[], crs=4326)


def load_deployment(study: Study) -> LiveDeployment:
    """The deployment as the study build left it: interventions, gaps, coverage columns."""
    frame = study.interventions()
    interventions = no_interventions() if frame is None else frame
    cells = study.cells
    coverage_cells = pd.DataFrame({"h3": cells["h3"].to_numpy()})
    for column, empty in zip(COVERAGE_COLUMNS, (0, 0, ""), strict=True):
        values = cells[column] if column in cells.columns else pd.Series(empty, index=cells.index)
        coverage_cells[column] = values.to_numpy()
    return LiveDeployment(
        interventions=interventions,
        geojson=interventions_geojson(interventions),
        gaps=study.gaps(),
        cells=coverage_cells,
        coverage=study.coverage(),
    )


def load_index(study: Study, resolution: int) -> IncidentIndex | None:
    """The study's in-scope incidents indexed for filters (:meth:`Study.incident_index`)."""
    return study.incident_index(resolution)


def configured_studies(config: Mapping[str, Any]) -> dict[str, Path]:
    """The areas to serve, by name, from ``STUDIES`` and ``STUDY_DIR``.

    ``STUDY_DIR`` alone gives one area named after its folder. Names are lower-case letters,
    digits, ``-`` and ``_``.

    Raises
    ------
    StudyError
        ``STUDIES`` is not a mapping of names to folders, or a name is not usable in a URL.
    """
    studies = config.get("STUDIES") or {}
    if not isinstance(studies, Mapping):
        msg = f"STUDIES must map area names to study folders, not {type(studies).__name__}."
        raise StudyError(msg)
    found = {str(name): Path(str(path)) for name, path in studies.items()}
    if config.get("STUDY_DIR"):
        path = Path(str(config["STUDY_DIR"]))
        name = re.sub(r"[^a-z0-9_-]+", "-", path.name.lower()).strip("-") or "study"
        found.setdefault(name[:40], path)
    bad = [name for name in found if not _NAME.fullmatch(name)]
    if bad:
        msg = (
            f"Area names must be 1-40 lower-case letters, digits, '-' or '_' "
            f"(starting with a letter or digit); these are not: {', '.join(bad)}."
        )
        raise StudyError(msg)
    return found


def load_areas(app: Flask, loader: Any = load_study) -> dict[str, Area]:
    """Read every configured study of ``app`` once, in the configured order.

    Raises
    ------
    StudyError
        A study folder is missing, incomplete or unreadable (the message names it).
    """
    areas = {}
    for name, path in configured_studies(app.config).items():
        study = loader(str(path))
        area = Area(
            name=name, study=study, places=load_places(study), deployment=load_deployment(study)
        )
        area.index = load_index(study, area.resolution)
        area.geometries(study.cells["h3"].tolist())  # every cell's polygon, made once now
        areas[name] = area
    return areas


# -- per request -----------------------------------------------------------------------------


def area_names() -> list[str]:
    """The names of the app's areas, in order."""
    return list(current_app.extensions.get(AREAS_KEY, {}))


def requested_area_name() -> str | None:
    """The ``?study=`` of the request, or ``None`` when absent."""
    return request.args.get("study", "").strip() or None


def current_area() -> Area:
    """The area the request asks for with ``?study=NAME``, else the first.

    Raises
    ------
    StudyError
        The app serves no study (the message says what to set).
    werkzeug.exceptions.NotFound
        No area of that name; the message lists them.
    """
    areas: dict[str, Area] = current_app.extensions.get(AREAS_KEY, {})
    if not areas:
        msg = (
            "No study to show: set STUDY_DIR (environment variable GEOJTAI_STUDY_DIR) "
            "to a built study folder, or STUDIES to several, and restart."
        )
        raise StudyError(msg)
    name = requested_area_name()
    if name is None:
        return next(iter(areas.values()))
    if name not in areas:
        raise NotFound(f"No study {name!r} here; the studies are: {', '.join(areas)}.")
    return areas[name]
