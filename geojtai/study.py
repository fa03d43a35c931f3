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
from collections.abc import Callable, Iterator, Sequence
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
    coverage,
    evaluate,
    grid,
    hotspots,
    places,
    plan,
    schema,
)
from geojtai import io as gio
from geojtai.crs import BNG, WGS84, wgs84_to_bng
from geojtai.errors import SchemaError, SettingsError
from geojtai.features import layer_of
from geojtai.io.studydir import atomic_directory
from geojtai.io.studyfolder import (
    ANALYSIS_FILES,
    CELL_MONTHS,
    CELLS,
    COVERAGE,
    EVALUATION,
    FEATURES,
    GAPS,
    INCIDENTS,
    LAYERS,
    MANIFEST,
    PLACE_SHARE,
    PLACES,
    PLAN,
    REJECTS,
    RISK_MODEL,
    TEMPORAL_PROFILE,
    TOP_PLACES,
    load_study,
)
from geojtai.layers import BUILTIN_LAYERS_DIR, LayerSpec, load_layer_specs, parse_layer_spec
from geojtai.settings import StudyInputs, StudySettings

__all__ = ["BuildResult", "build_study", "evaluate_study", "plan_study", "what_if_study", "STEPS"]

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
INTERVENTIONS = "interventions.parquet"


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


# --------------------------------------------------------------------------- backtest


def evaluate_study(
    path: Path,
    *,
    test_months: int = 6,
    horizon: int = 1,
    truth: Path | None = None,
) -> dict[str, Any]:
    """Backtest a built study: the risk models against the baselines (``geojtai evaluate``).

    Rolling origin over the last ``test_months`` months: at each origin every method sees
    only the months before it. With ``truth`` (a synthetic town's ``intensity.parquet``)
    the oracle joins, and the methods are also scored against the expected counts.

    Returns
    -------
    dict
        ``text`` (the summary tables for a terminal) and ``report`` (what is written to
        ``evaluation.json`` in the study folder).
    """
    from geojtai.io.sample import read_intensity  # the synthetic town's truth only

    # Check and load: the study's region cells as a panel, with their place features.
    study = load_study(path)
    panel, rows = analysis.study_panel(study.cells, study.cell_months)
    static = pd.read_parquet(path / FEATURES).iloc[rows].drop(columns="h3")
    specs = [parse_layer_spec(d["name"], _spec_data(d)) for d in study.places().layers]
    groups = {c: layer_of(c, specs) for c in static.columns}
    share = study.cells["area_fraction"].to_numpy(dtype=float)[rows]
    forecasters = analysis.study_forecasters(panel, static, share, groups)
    expected = None
    if truth is not None:
        expected = analysis.truth_matrix(read_intensity(truth), panel)
        forecasters["oracle"] = evaluate.oracle(expected)
    # Compute: observed counts, and (with the truth) expected counts.
    runs = {"observed": evaluate.rolling_origin(panel, forecasters, test_months=test_months,
                                                horizon=horizon)}  # fmt: skip
    if expected is not None:
        runs["expected"] = evaluate.rolling_origin(
            panel, forecasters, test_months=test_months, horizon=horizon, truth=expected
        )
    # Assemble: the tables and the report, written into the study folder.
    report = {
        "study": study.name,
        "cells": panel.n_cells,
        "test_months": test_months,
        "horizon": horizon,
        **{name: _backtest_record(res) for name, res in runs.items()},
    }
    gio.write_json(report, path / EVALUATION)
    text = "\n\n".join(
        f"scored against the {name} counts:\n{evaluate.format_summary(res)}"
        for name, res in runs.items()
    )
    return {"text": text, "report": report}


def _spec_data(entry: dict[str, Any]) -> dict[str, Any]:
    """A ``layers.json`` entry back into the keys of a layer TOML file."""
    data = {k: v for k, v in entry.items() if k not in ("name", "style")}
    style = dict(entry.get("style", {}))
    if style.get("fill_colour") == style.get("colour"):
        style.pop("fill_colour", None)
    return {**data, "style": style}


def _backtest_record(result: evaluate.BacktestResult) -> dict[str, Any]:
    return {
        "origins": list(result.origins),
        "rri_variant": result.rri_variant,
        "summary": _records(result.summary),
        "folds": _records(result.folds),
        "curve": _records(result.curve),
    }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    clean = frame.replace({np.nan: None})
    return [
        {str(k): (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}
        for row in clean.to_dict("records")
    ]


# --------------------------------------------------------------------------- planning


def plan_study(
    path: Path,
    *,
    teams: int,
    radius_m: float,
    place_types: Sequence[str] = (),
) -> dict[str, Any]:
    """Suggest where ``teams`` teams of footprint ``radius_m`` would cover most expected harm.

    The value of a cell is its forecast incidents (``risk``) times its harm per incident
    (the study's mean where the cell has no history); cells that existing work covers now
    count nothing; sites must lie in cells of the given place types (any when empty).
    Writes ``plan.json`` into the study folder.

    Returns
    -------
    dict
        ``text`` (a table for a terminal) and ``report`` (what ``plan.json`` holds).
    """
    study = load_study(path)
    cells = study.cells[study.cells["area_fraction"].to_numpy(dtype=float) > 0].reset_index(
        drop=True
    )
    allowed = _allowed_sites(cells, place_types, [d["name"] for d in study.places().layers])
    value = _expected_harm(cells)
    covered = cells["agencies_now"].to_numpy() > 0 if "agencies_now" in cells else None
    x, y = wgs84_to_bng(cells["lat"].to_numpy(float), cells["lon"].to_numpy(float))
    footprints = plan.site_footprints(np.asarray(x), np.asarray(y), radius_m=radius_m)
    chosen = plan.suggest(value, footprints, n_teams=teams, allowed=allowed, covered=covered)
    sites = cells.iloc[chosen["site"].to_numpy()].reset_index(drop=True)
    table = pd.concat(
        [chosen.drop(columns="site").reset_index(drop=True),
         sites[["h3", "lat", "lon", "place_type", "place_name"]]], axis=1,
    )  # fmt: skip
    report = {
        "teams": teams,
        "radius_m": radius_m,
        "place_types": list(place_types),
        "value": "expected harm next month (risk × harm per incident)",
        "message": chosen.attrs.get("message", ""),
        "suggestions": _records(table),
    }
    gio.write_json(report, path / PLAN)
    return {"text": _plan_text(table, report), "report": report}


def _allowed_sites(
    cells: pd.DataFrame, place_types: Sequence[str], layers: list[str]
) -> np.ndarray | None:
    if not place_types:
        return None
    valid = [*layers, places.OTHER]
    unknown = sorted(set(place_types) - set(valid))
    if unknown:
        msg = f"unknown place types {unknown}; valid ones are {valid}"
        raise SettingsError(msg)
    mask = cells["place_type"].isin(list(place_types)).to_numpy().copy()
    for kind in place_types:  # a site may also be any cell the place type touches
        for column in (f"frac_{kind}", f"n_{kind}"):
            if column in cells:
                mask |= cells[column].to_numpy(dtype=float) > 0
    return mask


def _expected_harm(cells: pd.DataFrame) -> np.ndarray:
    count = cells["count"].to_numpy(dtype=float)
    harm = cells["harm"].to_numpy(dtype=float) if "harm" in cells else count
    mean = harm.sum() / count.sum() if count.sum() > 0 else 1.0
    per = np.divide(harm, count, out=np.full(count.size, mean), where=count > 0)
    return np.clip(cells["risk"].to_numpy(dtype=float), 0, None) * per


def _plan_text(table: pd.DataFrame, report: dict[str, Any]) -> str:
    lines = [
        f"{report['teams']} teams, {report['radius_m']:g} m each: {report['message']}",
        f"{'rank':>4}  {'cell':<16} {'place':<34} {'gain':>9} {'share':>6}",
    ]
    for row in table.to_dict("records"):
        place = row["place_name"] or row["place_type"]
        lines.append(
            f"{row['rank']:>4}  {row['h3']:<16} {str(place)[:34]:<34} {row['gain']:>9.1f} "
            f"{row['share_of_total']:>6.1%}"
        )
    return "\n".join(lines)


def what_if_study(path: Path, proposals: Path) -> dict[str, Any]:
    """What proposed interventions would add to the coverage of risk now.

    The proposals (an interventions file: points with a radius, polygons or routes, with
    their agencies) are taken as active alongside the work active in the latest month.

    Returns
    -------
    dict
        ``text`` and ``report``: coverage of risk before and after, the expected harm newly
        covered in all, and per proposal the cells it covers and the harm only it adds.

    Raises
    ------
    SchemaError
        A proposal cannot be used (the message names the file, row and reason).
    """
    study = load_study(path)
    valid, rejects = schema.validate_interventions(gio.read_interventions(proposals))
    if len(rejects):
        problems = [f"{r.file}: row {r.row}: {r.reason} ({r.detail})" for r in rejects.itertuples()]
        raise SchemaError("\n".join(problems), problems)
    cells = grid.cells_from_hex(study.cells["h3"].to_numpy(dtype=object))
    resolution = int(study.manifest["settings"]["resolution"])
    value = _expected_harm(study.cells)
    existing = _existing_work(path, study.months)
    new_fp = coverage.footprints(
        np.asarray(valid.geometry.array, dtype=object),
        valid["radius_m"].to_numpy(dtype=float),
        resolution=resolution,
    )
    before, _ = coverage.agency_depth(existing[0], existing[1], existing[2], cells)
    shifted = new_fp.assign(item=new_fp["item"] + len(existing[1]))
    both = pd.concat([existing[0], shifted], ignore_index=True)
    agencies = np.concatenate([existing[1], valid["agencies"].fillna("").astype(str).to_numpy()])
    active = np.concatenate([existing[2], np.ones(len(valid), dtype=bool)])
    after, _ = coverage.agency_depth(both, agencies, active, cells)
    risk_now = study.cells["risk"].to_numpy(dtype=float)
    newly = (after > 0) & (before == 0)
    rows: list[dict[str, Any]] = []
    for item, row in enumerate(valid.itertuples()):  # a handful of proposals
        pos = pd.Index(cells).get_indexer(new_fp.loc[new_fp["item"] == item, "cell"].to_numpy())
        pos = pos[pos >= 0]
        rows.append(
            {
                "id": str(row.id),
                "name": str(row.name),
                "cells": int(pos.size),
                "harm_newly_covered": round(float(value[pos][before[pos] == 0].sum()), 3),
            }
        )
    report: dict[str, Any] = {
        "proposals": rows,
        "harm_newly_covered": round(float(value[newly].sum()), 3),
        "share_of_uncovered_harm": round(
            float(value[newly].sum() / value[before == 0].sum())
            if value[before == 0].sum()
            else 0.0,
            4,
        ),
    }
    summary_before = coverage.coverage_summary(risk_now, before)
    summary_after = coverage.coverage_summary(risk_now, after)
    report |= {"before": summary_before, "after": summary_after}
    top_b: dict[str, Any] = summary_before["top"]["10%"]  # type: ignore[index]
    top_a: dict[str, Any] = summary_after["top"]["10%"]  # type: ignore[index]
    text = "\n".join(
        [
            f"{len(rows)} proposals would newly cover {report['harm_newly_covered']:.1f} expected "
            f"harm ({report['share_of_uncovered_harm']:.1%} of what is uncovered now)",
            f"top 10 % risk cells covered: {top_b['covered']:.0%} → {top_a['covered']:.0%}; "
            f"two or more agencies: {top_b['two_or_more']:.0%} → {top_a['two_or_more']:.0%}",
            *(
                f"  {r['id']} {str(r['name'])[:40]}: {r['cells']} cells, "
                f"{r['harm_newly_covered']:.1f} newly covered"
                for r in rows
            ),
        ]
    )
    return {"text": text, "report": report}


def _existing_work(path: Path, months: list[str]) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Footprints, agencies and whether active in the latest month, of the study's work."""
    file = path / INTERVENTIONS
    if not file.is_file():
        return (
            pd.DataFrame({"item": [], "cell": np.zeros(0, np.uint64)}),
            np.zeros(0, object),
            np.zeros(0, bool),
        )
    frame = gpd.read_parquet(file)
    load = load_study(path)
    fp = coverage.footprints(
        np.asarray(frame.geometry.array, dtype=object),
        frame["radius_m"].to_numpy(dtype=float),
        resolution=int(load.manifest["settings"]["resolution"]),
    )
    all_months = analysis.month_range(months)
    active = coverage.active_months(
        frame["start_month"].astype(str).to_numpy(),
        frame["end_month"].to_numpy(dtype=object),
        all_months,
    )[:, -1]
    return fp, frame["agencies"].fillna("").astype(str).to_numpy(), active
