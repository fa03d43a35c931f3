"""The analytical steps of a study: hot spots, risk features, the risk models, backtests.

Orchestrators over the pure core modules (:mod:`hotspots`, :mod:`features`, :mod:`risk`,
:mod:`evaluate`): :func:`analyse_cells` runs inside ``geojtai build``;
:func:`study_panel` and :func:`study_forecasters` set up ``geojtai evaluate``. Frames in,
frames out; no disk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geojtai import aggregate, coverage, evaluate, features, grid, hotspots, impact, risk
from geojtai.crs import WGS84, wgs84_to_bng
from geojtai.errors import SettingsError
from geojtai.layers import LayerSpec

__all__ = [
    "HOTSPOT_COLUMNS",
    "RISK_COLUMNS",
    "Analysis",
    "Deployment",
    "analyse_cells",
    "analyse_interventions",
    "month_range",
    "study_forecasters",
    "study_panel",
    "truth_matrix",
    "work_footprints",
]

HOTSPOT_COLUMNS = (
    "gi_z",
    "gi_p",
    "gi_p_adj",
    "gi_bin",
    "gi_class",
    "emerging",
    "hot_periods",
    "cold_periods",
    "trend_z",
    "trend_p",
)
HARM_HOTSPOT_COLUMNS = ("harm_gi_z", "harm_gi_bin", "harm_gi_class")
RISK_COLUMNS = ("risk", "risk_rtm", "relative_risk", "risk_factors")
MIN_HISTORY = 2  # months before the forecast origin the models need


@dataclass
class Analysis:
    """What the analysis adds to a study: cell columns, the features and the model facts."""

    cells: pd.DataFrame  # one row per cell: HOTSPOT_COLUMNS + RISK_COLUMNS
    features: pd.DataFrame  # one row per cell: the place-exposure features
    model: dict[str, Any] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)


def month_range(months: Sequence[str]) -> list[str]:
    """Every month from the first to the last of ``months`` (gaps filled), in order."""
    if len(months) == 0:
        return []
    index = aggregate.month_index(np.asarray(sorted(months), dtype=object))
    return list(aggregate.month_labels(np.arange(index.min(), index.max() + 1)))


def _count_matrix(
    table: pd.DataFrame, h3: np.ndarray, months: list[str], value: str = "count"
) -> np.ndarray:
    wide = table.pivot_table(index="h3", columns="month", values=value, aggfunc="sum")
    return wide.reindex(index=h3, columns=months).fillna(0.0).to_numpy(dtype=float)


def analyse_cells(
    cell_layer: gpd.GeoDataFrame,
    table: pd.DataFrame,
    places: gpd.GeoDataFrame,
    specs: Sequence[LayerSpec],
    *,
    forecast_from: str | None = None,
) -> Analysis:
    """Hot spots, place features and risk forecasts for every cell of a study.

    Parameters
    ----------
    cell_layer
        The study's cells (``h3``, ``lat``, ``lon``, ``area_fraction``, place columns).
    table
        The cell × month table (``h3``, ``month``, ``count``).
    places
        Prepared place features in BNG.
    specs
        The layer specs.
    forecast_from
        ``YYYY-MM``: forecast that month on, fitting on earlier months only. Default: the
        month after the data.

    Returns
    -------
    Analysis
    """
    h3 = cell_layer["h3"].to_numpy(dtype=object)
    months = month_range(table["month"].astype(str).unique().tolist())
    counts = _count_matrix(table, h3, months)
    cells = grid.cells_from_hex(h3)
    # 1. Hot spots over the whole study, and emerging ones month by month.
    spots = hotspots.hotspots(cells, counts, k=1)
    messages = [m for m in [spots.attrs.get("message", "")] if m]
    # ... and of harm: where the most serious violence concentrates.
    harm = _count_matrix(table, h3, months, "harm") if "harm" in table else counts
    harm_spots = hotspots.hotspots(cells, harm.sum(axis=1, keepdims=True), k=1)
    harm_spots = harm_spots[["gi_z", "gi_bin", "gi_class"]].add_prefix("harm_")
    # 2. Place exposures of every cell (RTM features).
    x, y = wgs84_to_bng(cell_layer["lat"].to_numpy(float), cell_layer["lon"].to_numpy(float))
    static = features.place_features(x, y, cell_layer.reset_index(drop=True), places, specs)
    # 3. The risk models, fitted on the months before the forecast origin.
    origin = _origin(months, forecast_from)
    share = cell_layer["area_fraction"].to_numpy(dtype=float)
    forecast, model, note = _risk(static, counts[:, :origin], share, cells, specs)
    messages += [note] if note else []
    model.update({"forecast_from": _label(months, origin), "fitted_on": months[:origin]})
    out = pd.concat(
        [
            spots[list(HOTSPOT_COLUMNS)].reset_index(drop=True),
            harm_spots.reset_index(drop=True),
            forecast.reset_index(drop=True),
        ],
        axis=1,
    )
    return Analysis(cells=out, features=static, model=model, messages=messages)


def _label(months: list[str], origin: int) -> str:
    first = aggregate.month_index(np.asarray([months[0]], dtype=object))[0]
    return str(aggregate.month_labels(np.asarray([first + origin]))[0])


def _origin(months: list[str], forecast_from: str | None) -> int:
    if forecast_from is None:
        return len(months)
    allowed = [*months[MIN_HISTORY:], _label(months, len(months))]
    if forecast_from not in allowed:
        span = f"{allowed[0]} to {allowed[-1]}" if allowed else "none: too few months"
        msg = (
            f"--forecast-from {forecast_from} is not possible: it needs at least "
            f"{MIN_HISTORY} earlier months of data; possible months are {span}"
        )
        raise SettingsError(msg)
    return allowed.index(forecast_from) + MIN_HISTORY


def _risk(
    static: pd.DataFrame,
    past: np.ndarray,
    share: np.ndarray,
    cells: np.ndarray,
    specs: Sequence[LayerSpec],
) -> tuple[pd.DataFrame, dict[str, Any], str]:
    """Both models' forecasts per cell, the RTM explanation, and the model facts."""
    n = len(static)
    empty = pd.DataFrame(
        {
            "risk": np.zeros(n),
            "risk_rtm": np.zeros(n),
            "relative_risk": np.ones(n),
            "risk_factors": [""] * n,
        }
    )
    if past.shape[1] < MIN_HISTORY or past.sum() == 0:
        note = (
            f"no risk forecast: the models need at least {MIN_HISTORY} months with incidents "
            f"before the forecast month ({past.shape[1]} months, {int(past.sum())} incidents)"
        )
        return empty, {"rtm": None, "boosted": None}, note
    groups = {c: features.layer_of(c, specs) for c in static.columns}
    rtm = risk.ContextualRiskModel(groups=groups)
    rtm.fit(static, past.sum(axis=1), past.shape[1] * share)
    neighbours = grid.neighbour_matrix(cells, 1, include_self=False)
    boosted = risk.BoostedRiskModel().fit(static, past, share, neighbours)
    titles = {s.name: s.title for s in specs}
    explained = rtm.explain(static)
    words = _factor_words(explained, titles)
    forecast = pd.DataFrame(
        {
            "risk": np.round(boosted.predict(static, past, share, neighbours), 6),
            "risk_rtm": np.round(rtm.predict(static, share), 6),
            "relative_risk": np.round(explained["relative_risk"].to_numpy(), 6),
            "risk_factors": words,
        }
    )
    return forecast, _model_facts(rtm, boosted, titles), ""


def _factor_words(explained: pd.DataFrame, titles: dict[str, str], top: int = 3) -> np.ndarray:
    """ "shopping centre within 200 m ×2.84; park ×2.17" per cell, built slot by slot."""
    text = np.full(len(explained), "", dtype=object)
    for slot in range(1, top + 1):
        names = explained[f"factor_{slot}"].to_numpy(dtype=object)
        have = pd.notna(names)
        if not have.any():
            break
        # A factor's RRV is the same in every cell: one label per distinct factor.
        first = pd.DataFrame({"f": names[have], "v": explained[f"rrv_{slot}"].to_numpy()[have]})
        first = first.drop_duplicates("f")
        labels = {
            f: f"{risk.describe_factor(str(f), titles)} ×{v:.2f}"
            for f, v in zip(first["f"], first["v"], strict=True)
        }
        piece = pd.Series(names, dtype=object).map(labels).fillna("").to_numpy(dtype=object)
        sep = np.where((text != "") & have, "; ", "")
        text = text + sep + piece
    return text


def _model_facts(
    rtm: risk.ContextualRiskModel, boosted: risk.BoostedRiskModel, titles: dict[str, str]
) -> dict[str, Any]:
    factors = [
        {
            "feature": f,
            "description": risk.describe_factor(f, titles),
            "layer": (rtm.groups or {}).get(f, ""),
            "rrv": round(float(rrv), 4),
            "beta": round(float(np.log(rrv)), 6),
            "lr_statistic": round(float(rtm.gain_.get(f, 0.0)), 3),
        }
        for f, rrv in zip(map(str, rtm.rrv_.index), rtm.rrv_.to_numpy(), strict=True)
    ]
    return {
        "rtm": {
            "kind": "penalised Poisson GLM (ridge), one binary exposure per place layer",
            "alpha": rtm.alpha,
            "base_rate_per_cell_month": round(float(np.exp(rtm.intercept_)), 6),
            "factors": factors,
        },
        "boosted": {
            "kind": "HistGradientBoostingRegressor(loss='poisson') on place features and lags",
            "params": boosted.get_params(),
            "features": list(boosted.columns_),
        },
    }


# --------------------------------------------------------------------------- backtests


def study_panel(cell_layer: gpd.GeoDataFrame, table: pd.DataFrame) -> tuple[Any, np.ndarray]:
    """The backtest panel of a study's region cells, and which rows of the layer they are.

    Cells with no share inside the region (incident cells in the margin) are left out: the
    area statistics are about the study region.
    """
    inside = cell_layer["area_fraction"].to_numpy(dtype=float) > 0
    layer = cell_layer[inside]
    h3 = layer["h3"].to_numpy(dtype=object)
    months = month_range(table["month"].astype(str).unique().tolist())
    cells = grid.cells_from_hex(h3)
    x, y = wgs84_to_bng(layer["lat"].to_numpy(float), layer["lon"].to_numpy(float))
    panel = evaluate.Panel(
        cells=cells,
        months=tuple(months),
        counts=_count_matrix(table, h3, months),
        x=np.asarray(x),
        y=np.asarray(y),
        area=grid.cell_areas_m2(cells) * layer["area_fraction"].to_numpy(dtype=float),
    )
    return panel, np.flatnonzero(inside)


def truth_matrix(intensity: pd.DataFrame, panel: Any) -> np.ndarray:
    """A synthetic town's expected counts (``h3``, ``month``, ``expected``) on the panel."""
    wide = intensity.pivot_table(index="h3", columns="month", values="expected", aggfunc="sum")
    h3 = grid.cells_to_hex(panel.cells)
    return wide.reindex(index=h3, columns=list(panel.months)).fillna(0.0).to_numpy(dtype=float)


def study_forecasters(
    panel: Any,
    static: pd.DataFrame,
    share: np.ndarray,
    specs_groups: dict[str, str],
) -> dict[str, evaluate.Forecaster]:
    """The baselines and both models, ready for :func:`geojtai.evaluate.rolling_origin`."""
    neighbours = grid.neighbour_matrix(panel.cells, 1, include_self=False)
    out: dict[str, evaluate.Forecaster] = {
        name: evaluate.baseline(name) for name in evaluate.BASELINES
    }
    out["rtm"] = risk.rtm_forecaster(static, share, specs_groups)
    out["boosted"] = risk.boosted_forecaster(static, share, neighbours)
    return out


# --------------------------------------------------------------------------- interventions


@dataclass
class Deployment:
    """What the interventions add to a study: cell columns, gaps and the coverage figures."""

    cells: pd.DataFrame  # one row per cell: agencies_now, interventions_now, intervention_ids
    gaps: pd.DataFrame  # coverage.gaps rows with place, explanation and trend columns
    summary: dict[str, Any] = field(default_factory=dict)
    footprints: pd.DataFrame = field(default_factory=pd.DataFrame)


def _groups(values: pd.Series) -> dict[str, np.ndarray]:
    """Each distinct ``;``-separated value → mask of the interventions that have it."""
    split = values.fillna("").astype(str).str.split(";")
    names = sorted({v.strip() for parts in split for v in parts if v.strip()})
    return {
        n: split.map(lambda parts, n=n: n in [p.strip() for p in parts]).to_numpy() for n in names
    }


def work_footprints(
    interventions: gpd.GeoDataFrame, months: Sequence[str], *, resolution: int
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Where and when each intervention works: its footprint cells, its active months and
    its agencies (the one reading of an interventions table that coverage, the register's
    recompute and the planner share).

    Returns
    -------
    (footprints, active, agencies)
        ``item``/``cell`` pairs (:func:`geojtai.coverage.footprints`), a boolean
        interventions × ``months`` matrix, and each intervention's ``";"``-joined agencies.
    """
    fp = coverage.footprints(
        np.asarray(interventions.geometry.array, dtype=object),
        interventions["radius_m"].to_numpy(dtype=float),
        resolution=resolution,
    )
    active = coverage.active_months(
        interventions["start_month"].astype(str).to_numpy(),
        interventions["end_month"].to_numpy(dtype=object),
        list(months),
    )
    return fp, active, interventions["agencies"].fillna("").astype(str).to_numpy()


def analyse_interventions(
    cell_layer: gpd.GeoDataFrame,
    table: pd.DataFrame,
    interventions: gpd.GeoDataFrame,
    *,
    resolution: int,
) -> Deployment:
    """Coverage of risk by the interventions active in the latest month, and the gaps.

    Risk is the study's ``risk`` column (expected incidents next month).
    """
    h3 = cell_layer["h3"].to_numpy(dtype=object)
    cells = grid.cells_from_hex(h3)
    months = month_range(table["month"].astype(str).unique().tolist())
    risk_now = cell_layer["risk"].to_numpy(dtype=float)
    # 1. Footprints and active months of every intervention.
    fp, active, agencies = work_footprints(interventions, months, resolution=resolution)
    now = active[:, -1]
    depth, count = coverage.agency_depth(fp, agencies, now, cells)
    # 2. Coverage of risk now: overall, and by agency, intervention type and place type.
    summary: dict[str, Any] = {
        "period": months[-1],
        "overall": coverage.coverage_summary(risk_now, depth),
    }
    for key, column in (
        ("by_agency", "agencies"),
        ("by_type", "type"),
        ("by_place_type", "place_types"),
    ):
        summary[key] = {
            name: coverage.coverage_summary(
                risk_now, coverage.agency_depth(fp, agencies, now & mask, cells)[0]
            )
            | {"interventions": int((now & mask).sum())}
            for name, mask in _groups(interventions[column]).items()
        }
    summary["by_month"] = _monthly(table, h3, months, fp, agencies, active, cells, risk_now)
    summary["active_now"] = int(now.sum())
    # 3. Gaps: high-risk cells with no or single-agency coverage now.
    found = coverage.gaps(cells, risk_now, depth)
    # 4. Impact of each intervention: treated cells against their ring and matched controls.
    summary["impact"] = _impacts(cell_layer, table, interventions, fp, months)
    summary["impact_by_type"] = _group_impacts(summary["impact"])
    return Deployment(
        cells=pd.DataFrame(
            {
                "agencies_now": depth.astype(int),
                "interventions_now": count.astype(int),
                "intervention_ids": _ids_per_cell(fp, interventions["id"], now, cells),
            }
        ),
        gaps=_describe_gaps(found, cell_layer, table, months),
        summary=summary,
        footprints=fp,
    )


def _impacts(
    cell_layer: gpd.GeoDataFrame,
    table: pd.DataFrame,
    interventions: gpd.GeoDataFrame,
    fp: pd.DataFrame,
    months: list[str],
) -> list[dict[str, Any]]:
    """WDQ, WDD and difference-in-differences for every intervention (a loop over a few
    dozen interventions; each is vectorised over cells and months)."""
    h3 = cell_layer["h3"].to_numpy(dtype=object)
    cells = grid.cells_from_hex(h3)
    counts = _count_matrix(table, h3, months)
    harm = _count_matrix(table, h3, months, "harm") if "harm" in table else None
    index = pd.Index(cells)
    ring_origin, ring_cells = grid.grid_disk(fp["cell"].to_numpy(), 1)
    rings = pd.DataFrame({"item": fp["item"].to_numpy()[ring_origin], "cell": ring_cells})
    touched = index.get_indexer(np.concatenate([fp["cell"].to_numpy(), ring_cells]))
    inside = cell_layer["area_fraction"].to_numpy(dtype=float) > 0
    pool = np.flatnonzero(inside & ~np.isin(np.arange(cells.size), touched))
    # Matched on contextual risk (the place-based model's expected rate), not on the
    # noisy counts before the start: matching on past counts picks cells that were
    # unluckily high and regress towards their mean afterwards, which hides real effects.
    prior = cell_layer["risk_rtm"].to_numpy(dtype=float)
    out = []
    for item, row in enumerate(interventions.itertuples()):
        treated = index.get_indexer(fp.loc[fp["item"] == item, "cell"].to_numpy())
        treated = np.unique(treated[treated >= 0])
        ring = index.get_indexer(rings.loc[rings["item"] == item, "cell"].to_numpy())
        buffer = np.setdiff1d(np.unique(ring[ring >= 0]), treated)
        record: dict[str, Any] = {"id": str(row.id), "name": str(row.name), "type": str(row.type)}
        start = str(row.start_month)
        end = None if pd.isna(row.end_month) or str(row.end_month) == "" else str(row.end_month)
        if treated.size == 0 or start not in months[1:]:
            record["warning"] = "no before period or no treated cell in the study: not assessed"
            out.append(record)
            continue
        chosen = np.concatenate([treated, buffer])
        controls = impact.matched_controls(prior, chosen, pool, n=treated.size, k=5)
        record.update(
            impact.intervention_impact(
                counts, months, treated, buffer, controls, start, end, harm=harm
            )
        )
        out.append(record)
    return out


def _group_impacts(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Impact of each intervention type, pooling its interventions' before/after counts.

    Each intervention keeps its own windows, ring and matched controls; the group's rate
    ratio is (ΣA₁/ΣA₀)/(ΣC₁/ΣC₀) and its WDQ uses the pooled counts likewise.
    """
    out: dict[str, Any] = {}
    assessed = [r for r in records if "counts" in r]
    for kind in sorted({r["type"] for r in assessed}):
        members = [r for r in assessed if r["type"] == kind]
        total = {k: float(sum(m["counts"][k] for m in members)) for k in members[0]["counts"]}
        out[kind] = {
            "interventions": [m["id"] for m in members],
            "counts": total,
            "did": impact.did_ratio(total["A0"], total["A1"], total["C0"], total["C1"]),
            "wdq": impact.wdq_summary(
                total["A0"], total["A1"], total["B0"], total["B1"], total["C0"], total["C1"]
            ),
            "warning": impact.too_few(total["A0"], total["A1"]),
        }
    return out


def _ids_per_cell(
    fp: pd.DataFrame, ids: pd.Series, active: np.ndarray, cells: np.ndarray
) -> np.ndarray:
    live = fp[active[fp["item"].to_numpy()]]
    live = live.assign(id=ids.astype(str).to_numpy()[live["item"].to_numpy()])
    joined = live.groupby("cell")["id"].agg(lambda s: ";".join(sorted(s)))  # per covered cell
    return joined.reindex(cells).fillna("").to_numpy(dtype=object)


def _monthly(
    table: pd.DataFrame,
    h3: np.ndarray,
    months: list[str],
    fp: pd.DataFrame,
    agencies: np.ndarray,
    active: np.ndarray,
    cells: np.ndarray,
    risk_now: np.ndarray,
) -> list[dict[str, Any]]:
    """Per month: interventions active, cells covered, share of that month's harm inside,
    and the share of today's top 10 % risk cells that were covered then."""
    harm = _count_matrix(table, h3, months, "harm" if "harm" in table else "count")
    top = np.argsort(-risk_now, kind="stable")[: max(1, int(np.ceil(0.1 * risk_now.size)))]
    rows = []
    for t, month in enumerate(months):  # one pass per month (36), vectorised over cells
        depth, _ = coverage.agency_depth(fp, agencies, active[:, t], cells)
        total = harm[:, t].sum()
        rows.append(
            {
                "month": month,
                "active": int(active[:, t].sum()),
                "cells_covered": int((depth > 0).sum()),
                "harm_covered": round(float(harm[depth > 0, t].sum() / total), 4) if total else 0.0,
                "top_10pct_covered": round(float((depth[top] > 0).mean()), 4),
                "top_10pct_multi_agency": round(float((depth[top] >= 2).mean()), 4),
            }
        )
    return rows


def _describe_gaps(
    found: pd.DataFrame, cell_layer: gpd.GeoDataFrame, table: pd.DataFrame, months: list[str]
) -> pd.DataFrame:
    """The gap rows with their place, what raises their risk and their recent trend."""
    pos = found["position"].to_numpy(dtype=int)
    layer = cell_layer.iloc[pos].reset_index(drop=True)
    counts = _count_matrix(table, layer["h3"].to_numpy(dtype=object), months)
    recent = counts[:, -3:].sum(axis=1)
    before = counts[:, -6:-3].sum(axis=1)
    keep = ["h3", "place_type", "place_name", "risk_factors", "emerging", "gi_class", "count"]
    out = pd.concat([found.drop(columns=["position", "cell"]).reset_index(drop=True),
                     layer[[c for c in keep if c in layer]]], axis=1)  # fmt: skip
    out["last_3_months"] = recent.astype(int)
    out["previous_3_months"] = before.astype(int)
    return gpd.GeoDataFrame(out, geometry=layer.geometry.to_numpy(), crs=WGS84)
