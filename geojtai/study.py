"""Build a study: read and validate the inputs, index to H3, aggregate, write the study folder.

The orchestrator reads like the data flow (DESIGN §2)::

    inputs ─► read & validate (rejects kept) ─► cells ─► places (cells, incident context)
           ─► cell × month table ─► study folder

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
import shapely
from shapely.geometry.base import BaseGeometry

from geojtai import (
    __version__,
    aggregate,
    analysis,
    grid,
    hotspots,
    places,
    schema,
)
from geojtai import io as gio
from geojtai.crs import BNG, WGS84, wgs84_to_bng
from geojtai.errors import SchemaError
from geojtai.io.studydir import atomic_directory
from geojtai.io.studyfolder import (
    ANALYSIS_FILES,
    CELL_MONTHS,
    CELLS,
    COVERAGE,
    FEATURES,
    GAPS,
    INCIDENTS,
    INTERVENTIONS,
    LAYERS,
    MANIFEST,
    PLACE_SHARE,
    PLACES,
    REJECTS,
    RISK_MODEL,
    TEMPORAL_PROFILE,
    TOP_PLACES,
)
from geojtai.layers import BUILTIN_LAYERS_DIR, LayerSpec, load_layer_specs
from geojtai.settings import StudyInputs, StudySettings

__all__ = ["BuildResult", "build_study", "STEPS"]

STEPS = ("read", "validate", "index", "places", "aggregate", "analyse", "write")
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


@dataclass
class _Places:
    """What the places step produced (empty frames when the study has no place input)."""

    specs: tuple[LayerSpec, ...]
    features: gpd.GeoDataFrame
    cells: pd.DataFrame
    context: pd.DataFrame
    share: pd.DataFrame
    top: pd.DataFrame
    rejects: pd.DataFrame
    summary: dict[str, Any]


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
        specs = load_layer_specs(
            [BUILTIN_LAYERS_DIR, inputs.layers] if inputs.layers else [BUILTIN_LAYERS_DIR]
        )
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
        x, y = _incidents_bng(incidents)
        region = _region(area, x, y)
    # 4. Places: clip to the study region, into cells, and onto every incident.
    with timer.step("places"):
        place = _places_step(inputs, specs, settings, region, incidents, x, y)
        incidents = pd.concat([incidents, place.context], axis=1)
        place.share, place.top = _place_question(incidents, place.specs)
        place.summary["share"] = _share_summary(place.share)
        place.summary["top_places"] = _top_summary(place.top)
    with timer.step("aggregate"):
        table = _cell_month_table(incidents, cells, settings)
        cell_layer = _cell_layer(table, settings.resolution, region, place.cells)
    # 5. Hot spots, place exposures and the risk forecast of every cell.
    with timer.step("analyse"):
        result = analysis.analyse_cells(
            cell_layer, table, place.features, place.specs, forecast_from=settings.forecast_from
        )
        cell_layer = _with_analysis(cell_layer, result)
        profile = _profile(incidents)
        deployment = (
            analysis.analyse_interventions(
                cell_layer, table, interventions, resolution=settings.resolution
            )
            if interventions is not None and len(interventions)
            else None
        )
        if deployment is not None:
            cell_layer = _with_analysis(cell_layer, deployment)
    # 6. Write everything into a fresh folder, then swap it in; the manifest comes last.
    all_rejects = pd.concat([rejects, rejects_iv, place.rejects], ignore_index=True)
    with atomic_directory(out) as tmp:
        with timer.step("write"):
            _write_tables(tmp, incidents, table, cell_layer, interventions, all_rejects)
            _write_places(tmp, place)
            _write_analysis(tmp, cell_layer, result, profile)
            if deployment is not None:
                gio.write_geoparquet(deployment.gaps, tmp / GAPS)
                gio.write_json(deployment.summary, tmp / COVERAGE)
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
        manifest["places"] = place.summary
        manifest["analysis"] = {
            "messages": result.messages + [m for m in [profile.attrs.get("message")] if m],
            "hotspot_classes": _counts(cell_layer["gi_class"]),
            "emerging": _counts(cell_layer["emerging"]),
            "times_known": int(profile.attrs.get("n", 0)),
            "forecast_from": result.model.get("forecast_from"),
            "risk_factors": (result.model.get("rtm") or {}).get("factors", []),
        }
        manifest["outputs"] = sorted(
            [*manifest["outputs"], PLACES, LAYERS, PLACE_SHARE, TOP_PLACES, *ANALYSIS_FILES]
            + ([GAPS, COVERAGE] if deployment is not None else [])
        )
        if deployment is not None:
            manifest["coverage"] = _coverage_headline(deployment)
        gio.write_json(manifest, tmp / MANIFEST)
    manifest["timings"] = timer.timings
    return BuildResult(path=Path(out), manifest=manifest, timings=timer.timings)


def _coverage_headline(deployment: analysis.Deployment) -> dict[str, Any]:
    overall = deployment.summary["overall"]
    gaps = deployment.gaps
    top = (
        gaps.drop_duplicates("cluster")
        .sort_values("cluster")
        .head(5)[["cluster", "place_type", "place_name", "risk"]]
        if len(gaps)
        else gaps
    )
    return {
        "period": deployment.summary["period"],
        "active_now": deployment.summary["active_now"],
        "top_10pct": overall["top"].get("10%", {}),
        "risk_covered": overall["risk_covered"],
        "concentration_index": overall["concentration_index"],
        "gap_cells": len(gaps),
        "gap_clusters": int(gaps["cluster"].nunique()) if len(gaps) else 0,
        "impact": [
            {
                "id": r["id"],
                "name": r["name"],
                "change_pct": round(r["did"]["percent_change"], 1) if r.get("did") else None,
                "ci": [round(r["did"]["ci_low"], 3), round(r["did"]["ci_high"], 3)]
                if r.get("did")
                else None,
                "wdq": (r.get("wdq") or {}).get("interpretation"),
                "warning": r.get("warning"),
            }
            for r in deployment.summary.get("impact", [])
        ],
        "top_gaps": [
            {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
            for row in top.astype(object).where(top.notna(), None).to_dict("records")
        ],
    }


def _with_analysis(
    cell_layer: gpd.GeoDataFrame, result: analysis.Analysis | analysis.Deployment
) -> gpd.GeoDataFrame:
    extra = result.cells.set_axis(cell_layer.index)
    geometry = cell_layer.geometry
    plain = pd.concat([pd.DataFrame(cell_layer.drop(columns="geometry")), extra], axis=1)
    return gpd.GeoDataFrame(plain, geometry=geometry, crs=WGS84)


def _profile(incidents: pd.DataFrame) -> pd.DataFrame:
    """Hour × weekday counts of the in-scope incidents whose time of day is known."""
    scope = incidents[incidents["in_scope"].to_numpy()]
    occurred = pd.to_datetime(scope["occurred"], errors="coerce").to_numpy()
    known = scope["time_known"].fillna(False).to_numpy(dtype=bool) & ~pd.isna(occurred)
    return hotspots.temporal_profile(occurred, known)


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.value_counts().sort_index().items()}


def _write_analysis(
    folder: Path, cell_layer: gpd.GeoDataFrame, result: analysis.Analysis, profile: pd.DataFrame
) -> None:
    feats = result.features.reset_index(drop=True)
    feats.insert(0, "h3", cell_layer["h3"].to_numpy())
    gio.write_parquet(feats, folder / FEATURES)
    gio.write_json(result.model, folder / RISK_MODEL)
    table = profile.reset_index().rename(columns={"index": "weekday"})
    table.columns = [str(c) for c in table.columns]
    gio.write_parquet(table, folder / TEMPORAL_PROFILE)


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


def _cell_layer(
    table: pd.DataFrame,
    resolution: int,
    region: BaseGeometry,
    place_cells: pd.DataFrame,
) -> gpd.GeoDataFrame:
    """One row per cell of the study region (and every cell with an incident).

    Totals over months, first/last month, the share of the cell inside the region, place
    fractions and the dominant place type, centre and polygon.
    """
    numeric = table.assign(month=aggregate.month_index(table["month"].to_numpy())).rename(
        columns={"h3": "cell"}
    )
    totals = aggregate.cell_totals(numeric)
    totals["cell"] = grid.cells_from_hex(totals["cell"].to_numpy())
    covered = grid.polygons_to_cells(_bng_to_wgs84([region]), resolution=resolution)
    inside = covered.groupby("cell")["fraction"].sum().clip(upper=1.0)
    cells = np.union1d(totals["cell"].to_numpy(), inside.index.to_numpy())
    frame = totals.set_index("cell").reindex(cells)
    counts = [c for c in frame.columns if c not in ("first_month", "last_month")]
    frame[counts] = frame[counts].fillna(0).astype(totals[counts].dtypes.to_dict())
    frame["area_fraction"] = np.round(inside.reindex(cells).fillna(0.0).to_numpy(), 6)
    frame = _with_places(frame, place_cells)
    lat, lon = grid.cell_centres(cells)
    frame = frame.reset_index(drop=True).assign(
        first_month=_labels_or_none(frame["first_month"].to_numpy()),
        last_month=_labels_or_none(frame["last_month"].to_numpy()),
        lat=np.round(lat, 7),
        lon=np.round(lon, 7),
        resolution=resolution,
    )
    frame.insert(0, "h3", grid.cells_to_hex(cells))
    return gpd.GeoDataFrame(frame, geometry=grid.cell_polygons(cells), crs=WGS84)


def _labels_or_none(months: np.ndarray) -> np.ndarray:
    known = ~pd.isna(months)
    out = np.full(months.size, None, dtype=object)
    out[known] = aggregate.month_labels(months[known].astype(np.int64))
    return out


def _with_places(frame: pd.DataFrame, place_cells: pd.DataFrame) -> pd.DataFrame:
    """Place columns for every cell (0 where no place touches it; type ``other``)."""
    joined = place_cells.set_index("cell").reindex(frame.index)
    joined.index.name = frame.index.name
    numeric = [c for c in joined.columns if c not in ("place_type", "place_name")]
    joined[numeric] = joined[numeric].fillna(0.0).round(6)
    kind = joined["place_type"].astype(object)
    joined["place_type"] = kind.where(kind.notna(), places.OTHER)
    name = joined["place_name"].astype(object)
    joined["place_name"] = name.where(name.notna(), None)
    return pd.concat([frame, joined], axis=1)


# --------------------------------------------------------------------------- places


def _incidents_bng(incidents: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """BNG coordinates of the incidents, transforming each distinct point once."""
    lat, lon = incidents["lat"].to_numpy(float), incidents["lon"].to_numpy(float)
    codes, uniq = pd.factorize(pd.Series(lat + 1j * lon))
    x, y = wgs84_to_bng(np.real(uniq.to_numpy()), np.imag(uniq.to_numpy()))
    return np.asarray(x)[codes], np.asarray(y)[codes]


def _bng_to_wgs84(geoms: list[BaseGeometry]) -> np.ndarray:
    return np.asarray(gpd.GeoSeries(geoms, crs=BNG).to_crs(WGS84).array, dtype=object)


def _region(area: BaseGeometry | None, x: np.ndarray, y: np.ndarray) -> BaseGeometry:
    """The study region in BNG: the area, or the incidents' convex hull."""
    if area is not None:
        return gpd.GeoSeries([area], crs=WGS84).to_crs(BNG).iloc[0]
    hull: BaseGeometry = shapely.MultiPoint(np.column_stack([x, y])).convex_hull
    return hull if hull.area > 0 else hull.buffer(1.0)


def _places_step(
    inputs: StudyInputs,
    specs: tuple[LayerSpec, ...],
    settings: StudySettings,
    region: BaseGeometry,
    incidents: pd.DataFrame,
    x: np.ndarray,
    y: np.ndarray,
) -> _Places:
    """Read, clip and index the places; give every incident its place context."""
    zone = region.buffer(settings.area_margin_m) if settings.area_margin_m > 0 else region
    bbox = tuple(float(v) for v in _bng_to_wgs84([shapely.box(*zone.bounds)])[0].bounds)
    raw = gio.read_places(list(inputs.places), specs, bbox=bbox)  # type: ignore[arg-type]
    features, rejects = places.prepare_places(raw, specs, region=zone)
    cells = places.place_cells(features, specs, resolution=settings.resolution)
    context = places.incident_context(
        x, y, features, specs, location=incidents["location"].to_numpy(dtype=object)
    )
    read = raw.groupby("layer").size()
    kept = features.groupby("layer").size()
    summary: dict[str, Any] = {
        "layers": {
            s.name: {
                "title": s.title,
                "kind": s.kind,
                "features_read": int(read.get(s.name, 0)),
                "features_in_region": int(kept.get(s.name, 0)),
            }
            for s in specs
        },
        "sources": sorted(str(p.path) for p in inputs.places),
        "features_rejected": len(rejects),
        "context_rule": "geometry within each layer's context_m, lowest priority wins; "
        "police.uk Location text decides where geometry is missing or ambiguous",
        "context_methods": {
            str(k): int(v) for k, v in context["place_method"].value_counts().sort_index().items()
        },
    }
    empty = pd.DataFrame()
    return _Places(specs, features, cells, context, empty, empty, rejects, summary)


def _place_question(
    incidents: pd.DataFrame, specs: tuple[LayerSpec, ...]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Share of in-scope incidents and harm per place type and period; top named places."""
    scope = incidents[incidents["in_scope"].to_numpy()]
    layers = [s.name for s in specs]
    share = places.place_share(
        scope["place_type"].to_numpy(), scope["month"].to_numpy(), scope["harm"].to_numpy(), layers
    )
    top = places.top_places(
        scope["place_type"].to_numpy(), scope["place_name"].to_numpy(), scope["harm"].to_numpy()
    )
    return share, top


def _share_summary(share: pd.DataFrame) -> dict[str, dict[str, float]]:
    overall = share[share["period"] == "all"].to_dict("records")
    return {
        str(r["place_type"]): {
            "incidents": int(r["incidents"]),
            "harm": round(float(r["harm"]), 3),
            "share_incidents": round(float(r["share_incidents"]), 4),
            "share_harm": round(float(r["share_harm"]), 4),
        }
        for r in overall
    }


def _top_summary(top: pd.DataFrame) -> dict[str, list[tuple[str, int]]]:
    return {
        str(kind): [(str(r["place_name"]), int(r["incidents"])) for r in group.to_dict("records")]
        for kind, group in top.groupby("place_type", sort=True)
    }


def _write_places(folder: Path, place: _Places) -> None:
    features = place.features.to_crs(WGS84)
    gio.write_geoparquet(features, folder / PLACES)
    gio.write_json([s.to_dict() for s in place.specs], folder / LAYERS)
    gio.write_parquet(place.share, folder / PLACE_SHARE)
    gio.write_parquet(place.top, folder / TOP_PLACES)


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
