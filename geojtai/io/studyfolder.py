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

``h3`` is a hex string in every file. Nothing here recomputes the core.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq

from geojtai.errors import StudyError

__all__ = [
    "CELLS",
    "CELL_MONTHS",
    "INCIDENTS",
    "LAYERS",
    "MANIFEST",
    "PLACES",
    "PLACE_SHARE",
    "REJECTS",
    "Study",
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
_REQUIRED = (MANIFEST, CELLS, CELL_MONTHS)


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
