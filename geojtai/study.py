"""Build a study: read and validate the inputs, index to H3, aggregate, write the study folder.

The orchestrator reads like the data flow (DESIGN §2)::

    inputs ─► read & validate (rejects kept) ─► cells ─► cell × month table ─► study folder

Rebuilding from the same inputs gives byte-identical tables; the folder is swapped in
atomically, so a failed or killed build leaves an earlier study intact.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry

from geojtai import __version__, aggregate, grid, schema
from geojtai import io as gio
from geojtai.crs import WGS84
from geojtai.errors import SchemaError
from geojtai.io.studydir import atomic_directory
from geojtai.io.studyfolder import CELL_MONTHS, CELLS, INCIDENTS, MANIFEST, REJECTS
from geojtai.settings import StudyInputs, StudySettings

__all__ = ["BuildResult", "build_study", "STEPS"]

STEPS = ("read", "validate", "index", "aggregate", "write")
_VERSIONED = (
    "numpy",
    "pandas",
    "pyarrow",
    "geopandas",
    "shapely",
    "pyproj",
    "pyogrio",
    "h3",
    "h3ronpy",
)
INTERVENTIONS = "interventions.parquet"


@dataclass
class BuildResult:
    """What a build did: where it wrote and the manifest it wrote there."""

    path: Path
    manifest: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)


class _Timer:
    def __init__(self, on_step: Callable[[str], None] | None) -> None:
        self.timings: dict[str, float] = {}
        self._on_step = on_step

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        if self._on_step:
            self._on_step(name)
        start = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - start, 3)


def build_study(
    settings: StudySettings,
    inputs: StudyInputs,
    out: Path,
    *,
    on_step: Callable[[str], None] | None = None,
) -> BuildResult:
    """Build a study folder from ``inputs`` with ``settings``.

    Parameters
    ----------
    settings
        How to build (resolution, categories in scope, harm weights, ...).
    inputs
        Incident files (at least one), optional interventions and study area.
    out
        The study folder to (re)write.
    on_step
        Called with each step's name as it starts (for progress display).

    Returns
    -------
    BuildResult

    Raises
    ------
    SchemaError, InputFileError, CRSError
        An input cannot be read at all, or no row at all is usable.
    """
    timer = _Timer(on_step)
    # 1. Read every input, keeping per-input row counts.
    with timer.step("read"):
        if not inputs.incidents:
            msg = "No incident input was given (use --incidents PATH or a study.toml)."
            raise SchemaError(msg)
        raws = [gio.read_incidents(inp.path, source=inp.source) for inp in inputs.incidents]
        area = gio.read_area(inputs.area) if inputs.area else None
        raw_interventions = (
            gio.read_interventions(inputs.interventions) if inputs.interventions else None
        )
    # 2. Validate: unusable rows go to the rejects table with their reason.
    with timer.step("validate"):
        incidents, rejects = _validate_incidents(raws, settings, area)
        interventions, rejects_iv = (
            schema.validate_interventions(raw_interventions)
            if raw_interventions is not None
            else (None, pd.DataFrame(columns=list(schema.REJECT_COLUMNS)))
        )
    # 3. Index to H3 and 4. aggregate the in-scope incidents per cell × month.
    with timer.step("index"):
        cells = grid.cells_from_points(
            incidents["lat"].to_numpy(),
            incidents["lon"].to_numpy(),
            resolution=settings.resolution,
            distinct=True,
        )
        incidents = incidents.assign(
            h3=grid.cells_to_hex(cells), in_scope=_in_scope(incidents, settings)
        )
    with timer.step("aggregate"):
        table = _cell_month_table(incidents, cells, settings)
        cell_layer = _cell_layer(table, settings.resolution)
    # 5. Write everything into a fresh folder, then swap it in; the manifest comes last.
    all_rejects = pd.concat([rejects, rejects_iv], ignore_index=True)
    with atomic_directory(out) as tmp:
        with timer.step("write"):
            _write_tables(tmp, incidents, table, cell_layer, interventions, all_rejects)
        manifest = _manifest(
            settings,
            inputs,
            raws,
            raw_interventions,
            incidents,
            rejects,
            all_rejects,
            table,
            cell_layer,
            timer.timings,
        )
        gio.write_json(manifest, tmp / MANIFEST)
    manifest["timings"] = timer.timings
    return BuildResult(path=Path(out), manifest=manifest, timings=timer.timings)


def _validate_incidents(
    raws: list[pd.DataFrame], settings: StudySettings, area: BaseGeometry | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    raw = pd.concat(raws, ignore_index=True) if len(raws) > 1 else raws[0]
    valid, rejects = schema.validate_incidents(
        raw,
        area=area,
        area_margin_m=settings.area_margin_m,
        outlier_km=settings.outlier_km,
        harm_weights=dict(settings.harm_weights),
    )
    if valid.empty:
        reasons = rejects["reason"].value_counts().head(3).to_dict() if len(rejects) else {}
        msg = f"No usable incident rows in {len(raw)} read (most common problems: {reasons})."
        raise SchemaError(msg)
    return valid.reset_index(drop=True), rejects


def _in_scope(incidents: pd.DataFrame, settings: StudySettings) -> np.ndarray:
    if settings.categories is None:
        return np.ones(len(incidents), dtype=bool)
    return incidents["category"].isin(settings.categories).to_numpy()


def _cell_month_table(
    incidents: pd.DataFrame, cells: np.ndarray, settings: StudySettings
) -> pd.DataFrame:
    scope = incidents["in_scope"].to_numpy()
    chosen = incidents[scope]
    table = aggregate.cell_month_table(
        cells[scope],
        aggregate.month_index(chosen["month"].to_numpy()),
        resolution=settings.resolution,
        harm=chosen["harm"].to_numpy(dtype=float),
        groups={
            "category": chosen["category"].to_numpy(),
            "source": chosen["source"].to_numpy(),
            "age": chosen["age_band"].fillna("unknown").to_numpy(),
        },
    )
    table.insert(0, "h3", grid.cells_to_hex(table["cell"].to_numpy()))
    table["month"] = aggregate.month_labels(table["month"].to_numpy())
    return table.drop(columns="cell")


def _cell_layer(table: pd.DataFrame, resolution: int) -> gpd.GeoDataFrame:
    """One row per cell: totals over months, first/last month, centre and polygon."""
    numeric = table.assign(month=aggregate.month_index(table["month"].to_numpy())).rename(
        columns={"h3": "cell"}
    )
    totals = aggregate.cell_totals(numeric)
    cells = grid.cells_from_hex(totals["cell"].to_numpy())
    lat, lon = grid.cell_centres(cells)
    totals = totals.rename(columns={"cell": "h3"}).assign(
        first_month=aggregate.month_labels(totals["first_month"].to_numpy()),
        last_month=aggregate.month_labels(totals["last_month"].to_numpy()),
        lat=np.round(lat, 7),
        lon=np.round(lon, 7),
        resolution=resolution,
    )
    return gpd.GeoDataFrame(totals, geometry=grid.cell_polygons(cells), crs=WGS84)


def _write_tables(
    folder: Path,
    incidents: pd.DataFrame,
    table: pd.DataFrame,
    cell_layer: gpd.GeoDataFrame,
    interventions: gpd.GeoDataFrame | None,
    rejects: pd.DataFrame,
) -> None:
    points = gpd.GeoDataFrame(
        incidents, geometry=gpd.points_from_xy(incidents["lon"], incidents["lat"]), crs=WGS84
    )
    gio.write_geoparquet(points, folder / INCIDENTS)
    gio.write_geoparquet(cell_layer, folder / CELLS)
    gio.write_parquet(table, folder / CELL_MONTHS)
    if interventions is not None:
        gio.write_geoparquet(interventions, folder / INTERVENTIONS)
    gio.write_csv(rejects[list(schema.REJECT_COLUMNS)], folder / REJECTS)


def _input_record(path: Path, kind: str, source: str | None, raw: pd.DataFrame) -> dict[str, Any]:
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return {
        "kind": kind,
        "path": str(path),
        "source": source,
        "files": [
            {"name": str(f.relative_to(path.parent)), "sha256": gio.sha256_file(f)} for f in files
        ],
        "rows_read": len(raw),
    }


def _manifest(
    settings: StudySettings,
    inputs: StudyInputs,
    raws: list[pd.DataFrame],
    raw_interventions: gpd.GeoDataFrame | None,
    incidents: pd.DataFrame,
    rejects: pd.DataFrame,
    all_rejects: pd.DataFrame,
    table: pd.DataFrame,
    cell_layer: gpd.GeoDataFrame,
    timings: dict[str, float],
) -> dict[str, Any]:
    records = [
        _input_record(inp.path, "incidents", inp.source, raw)
        for inp, raw in zip(inputs.incidents, raws, strict=True)
    ]
    for rec, raw in zip(records, raws, strict=True):
        names = set(raw["file"].unique())
        rec["rows_valid"] = int(incidents["file"].isin(names).sum())
        rec["rows_rejected"] = int(rejects["file"].isin(names).sum())
    if inputs.interventions is not None and raw_interventions is not None:
        records.append(
            _input_record(inputs.interventions, "interventions", None, raw_interventions)
        )
    if inputs.area is not None:
        records.append(
            {"kind": "area", "path": str(inputs.area), "sha256": gio.sha256_file(inputs.area)}
        )
    months = sorted(table["month"].unique().tolist())
    return {
        "geojtai": __version__,
        "settings": settings.to_dict(),
        "inputs": records,
        "rows": {
            "read": int(sum(len(r) for r in raws)),
            "valid": len(incidents),
            "rejected": int(
                (rejects["file"].isin(set().union(*(set(r["file"]) for r in raws)))).sum()
            ),
            "in_scope": int(incidents["in_scope"].sum()),
            "out_of_scope": int((~incidents["in_scope"]).sum()),
        },
        "reject_reasons": {
            str(k): int(v) for k, v in rejects["reason"].value_counts().sort_index().items()
        },
        "months": months,
        "cells": len(cell_layer),
        "outputs": sorted(
            [MANIFEST, REJECTS, INCIDENTS, CELLS, CELL_MONTHS]
            + ([INTERVENTIONS] if raw_interventions is not None else [])
        ),
        "versions": {"python": platform.python_version(), **{p: _version(p) for p in _VERSIONED}},
        "timings": dict(timings),
    }


def _reason_counts(rejects: pd.DataFrame) -> dict[str, int]:
    counts = rejects["reason"].value_counts().sort_index()
    return {str(k): int(v) for k, v in counts.items()}


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
