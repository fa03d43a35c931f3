"""The study folder: its file names, and loading a built study for maps, exports and the web.

A built study folder holds::

    manifest.json        inputs (sha256), settings, versions, rows read/valid/rejected, timings
    rejects.csv          every unusable input row: file, row, id, reason, detail
    incidents.parquet    validated incidents (GeoParquet points, EPSG:4326; internal only)
    cells.parquet        one row per H3 cell (GeoParquet polygons, EPSG:4326)
    cell_months.parquet  one row per cell × month with counts (plain Parquet)
    places.parquet       place features in the study region (GeoParquet, EPSG:4326)
    layers.json          the place-layer specs used (titles, kinds, map styles)
    place_share.parquet  share of incidents and harm per place type, overall and per month
    top_places.parquet   the named places with most incidents, per place type
    features.parquet     the place-exposure (risk-terrain) features of every cell
    risk_model.json      the fitted risk models: factors with their RRVs, settings
    temporal_profile.parquet  incidents by weekday × hour (where the time is known)
    evaluation.json      the last backtest (``geojtai evaluate``)
    gaps.parquet         high-risk cells with no or single-agency coverage (GeoParquet)
    coverage.json        coverage of risk by the interventions: overall, by agency, type, month
    plan.json            the last suggested deployments (``geojtai plan``)

``h3`` is a hex string in every file. Nothing here recomputes the core.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq

from geojtai.errors import GeojtaiError, StudyError
from geojtai.filters import IncidentIndex

__all__ = [
    "ANALYSIS_FILES",
    "CELLS",
    "COVERAGE",
    "CELL_MONTHS",
    "EVALUATION",
    "FEATURES",
    "GAPS",
    "INCIDENTS",
    "INTERVENTIONS",
    "LAYERS",
    "MANIFEST",
    "PLAN",
    "PLACES",
    "PLACE_SHARE",
    "REJECTS",
    "RISK_MODEL",
    "Study",
    "StudyPlaces",
    "TEMPORAL_PROFILE",
    "TOP_PLACES",
    "load_study",
]

MANIFEST = "manifest.json"
REJECTS = "rejects.csv"
INCIDENTS = "incidents.parquet"
CELLS = "cells.parquet"
CELL_MONTHS = "cell_months.parquet"
PLACES = "places.parquet"
LAYERS = "layers.json"
PLACE_SHARE = "place_share.parquet"
TOP_PLACES = "top_places.parquet"
FEATURES = "features.parquet"
RISK_MODEL = "risk_model.json"
TEMPORAL_PROFILE = "temporal_profile.parquet"
EVALUATION = "evaluation.json"
GAPS = "gaps.parquet"
COVERAGE = "coverage.json"
PLAN = "plan.json"
INTERVENTIONS = "interventions.parquet"
ANALYSIS_FILES = (FEATURES, RISK_MODEL, TEMPORAL_PROFILE)
_REQUIRED = (MANIFEST, CELLS, CELL_MONTHS)
_INDEX_COLUMNS = ("h3", "month", "category", "source", "in_scope", "harm", "age_band",
                  "place_type", "occurred", "time_known")  # fmt: skip


@dataclass(frozen=True)
class Study:
    """A built study, loaded once per process.

    Attributes
    ----------
    path
        The study folder.
    manifest
        The parsed ``manifest.json``.
    cells
        One row per cell: ``h3`` (hex), ``geometry`` (EPSG:4326 polygon), ``count``, ``harm``,
        ``first_month``, ``last_month``, ``months_active`` and ``count_<category>`` columns.
    cell_months
        One row per cell × month: ``h3``, ``month`` (``YYYY-MM``), ``count``, ``harm`` and
        ``count_<category>``, ``count_source_<source>``, ``count_age_<band>`` columns.
    """

    path: Path
    manifest: dict[str, Any]
    cells: gpd.GeoDataFrame
    cell_months: pd.DataFrame
    # Parts read on demand, kept once read (a report asks for the places many times).
    _read: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def name(self) -> str:
        """The study's title."""
        return str(self.manifest.get("settings", {}).get("name", self.path.name))

    @property
    def months(self) -> list[str]:
        """The months the study covers, in order."""
        return list(self.manifest.get("months", []))

    def incidents(self) -> gpd.GeoDataFrame:
        """The validated incidents (internal profile only; read on demand)."""
        return gpd.read_parquet(self.path / INCIDENTS)

    def incident_index(self, resolution: int | None = None) -> IncidentIndex | None:
        """The in-scope incidents indexed for filters (:mod:`geojtai.filters`); only the
        columns filters use are read (never names, location text or outcomes). ``None``
        without ``incidents.parquet``.

        Raises
        ------
        StudyError
            The incidents file is there but cannot be read or indexed.
        """
        path = self.path / INCIDENTS
        if not path.is_file():
            return None
        if resolution is None:
            resolution = int(self.manifest.get("settings", {}).get("resolution", 9))
        try:
            present = set(pq.read_schema(path).names)
            columns = [c for c in _INDEX_COLUMNS if c in present]
            frame = pq.read_table(path, columns=columns).to_pandas()
            return IncidentIndex.from_incidents(
                frame, resolution=resolution, months=self.months or None
            )
        except (OSError, ValueError, GeojtaiError) as exc:
            msg = f"{path}: cannot index the study's incidents for filters: {exc}"
            raise StudyError(msg) from exc

    def gaps(self) -> gpd.GeoDataFrame | None:
        """The gap layer (``gaps.parquet``), or None for a study built without interventions."""
        return _geo_or_none(self.path / GAPS)

    def interventions(self) -> gpd.GeoDataFrame | None:
        """The validated interventions, or None for a study built without them."""
        return _geo_or_none(self.path / INTERVENTIONS)

    def document(self, name: str) -> dict[str, Any]:
        """A JSON part of the study (``risk_model.json``, ``evaluation.json``, ...) as a
        dict; empty when the study has none.

        Raises
        ------
        StudyError
            The file is there but is not a JSON object.
        """
        file = self.path / name
        if not file.is_file():
            return {}
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            msg = f"{file}: cannot read this part of the study: {exc}"
            raise StudyError(msg) from exc
        if not isinstance(data, dict):
            msg = f"{file}: expected a JSON object, found a {type(data).__name__}."
            raise StudyError(msg)
        return data

    def coverage(self) -> dict[str, Any]:
        """The coverage figures (``coverage.json``); empty without interventions."""
        file = self.path / COVERAGE
        if not file.is_file():
            return {}
        try:
            data: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            msg = f"{file}: cannot read the study's coverage: {exc}"
            raise StudyError(msg) from exc
        return data

    def places(self) -> StudyPlaces:
        """The study's place layers and its place question (read on demand).

        A study built before place layers existed gives empty tables.

        Raises
        ------
        StudyError
            A place file is there but cannot be read.
        """
        if "places" not in self._read:
            self._read["places"] = self._places()
        places: StudyPlaces = self._read["places"]
        return places

    def _places(self) -> StudyPlaces:
        if not (self.path / PLACES).is_file() or not (self.path / LAYERS).is_file():
            return StudyPlaces()
        try:
            return StudyPlaces(
                layers=json.loads((self.path / LAYERS).read_text(encoding="utf-8")),
                features=gpd.read_parquet(self.path / PLACES),
                share=_table(self.path / PLACE_SHARE),
                top=_table(self.path / TOP_PLACES),
            )
        except (OSError, ValueError) as exc:
            msg = f"{self.path}: cannot read the study's places: {exc!r}"
            raise StudyError(msg) from exc


@dataclass(frozen=True)
class StudyPlaces:
    """A study's place layers (``layers.json`` specs, in priority order), their features
    (``places.parquet``), the share of incidents per place type and the top named places."""

    layers: list[dict[str, Any]] = field(default_factory=list)
    features: gpd.GeoDataFrame = field(
        default_factory=lambda: gpd.GeoDataFrame({"layer": []}, geometry=[], crs=4326)
    )
    share: pd.DataFrame = field(default_factory=pd.DataFrame)
    top: pd.DataFrame = field(default_factory=pd.DataFrame)


def _geo_or_none(path: Path) -> gpd.GeoDataFrame | None:
    if not path.is_file():
        return None
    try:
        return gpd.read_parquet(path)
    except (OSError, ValueError) as exc:
        msg = f"{path}: cannot read this part of the study: {exc}"
        raise StudyError(msg) from exc


def _table(path: Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas() if path.is_file() else pd.DataFrame()


def load_study(path: Path | str) -> Study:
    """Load a built study folder.

    Raises
    ------
    StudyError
        The folder is missing or incomplete (names what is missing).
    """
    path = Path(path)
    if not path.is_dir():
        msg = f"{path}: no study folder here; build one with `geojtai build ... --out {path}`."
        raise StudyError(msg)
    missing = [name for name in _REQUIRED if not (path / name).is_file()]
    if missing:
        msg = f"{path}: not a complete study folder (missing {', '.join(missing)})."
        raise StudyError(msg)
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        cells = gpd.read_parquet(path / CELLS)
        cell_months = pq.read_table(path / CELL_MONTHS).to_pandas()
    except (OSError, ValueError) as exc:
        msg = f"{path}: cannot read the study: {exc}"
        raise StudyError(msg) from exc
    return Study(path=path, manifest=manifest, cells=cells, cell_months=cell_months)
