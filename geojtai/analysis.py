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

from geojtai import aggregate, deployment, evaluate, features, grid, hotspots, risk
from geojtai.crs import wgs84_to_bng
from geojtai.errors import SettingsError
from geojtai.layers import LayerSpec

__all__ = [
    "HOTSPOT_COLUMNS",
    "RISK_COLUMNS",
    "Analysis",
    "Deployment",
    "analyse_cells",
    "analyse_interventions",
    "study_forecasters",
    "study_panel",
    "truth_matrix",
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
    months = aggregate.month_range(table["month"].astype(str).unique().tolist())
    counts = aggregate.count_matrix(table, h3, months)
    cells = grid.cells_from_hex(h3)
    # 1. Hot spots over the whole study, and emerging ones month by month.
    spots = hotspots.hotspots(cells, counts, k=1)
    messages = [m for m in [spots.attrs.get("message", "")] if m]
    # ... and of harm: where the most serious violence concentrates.
    harm = aggregate.count_matrix(table, h3, months, "harm") if "harm" in table else counts
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
    months = aggregate.month_range(table["month"].astype(str).unique().tolist())
    cells = grid.cells_from_hex(h3)
    x, y = wgs84_to_bng(layer["lat"].to_numpy(float), layer["lon"].to_numpy(float))
    panel = evaluate.Panel(
        cells=cells,
        months=tuple(months),
        counts=aggregate.count_matrix(table, h3, months),
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


def analyse_interventions(
    cell_layer: gpd.GeoDataFrame,
    table: pd.DataFrame,
    interventions: gpd.GeoDataFrame,
    *,
    resolution: int,
) -> Deployment:
    """Coverage of risk by the interventions active in the latest month, and the gaps.

    Risk is the study's ``risk`` column (expected incidents next month). The same
    computation as the web register's (:func:`geojtai.deployment.recompute`).
    """
    out = deployment.recompute(cell_layer, table, interventions, resolution=resolution)
    return Deployment(cells=out.cells.drop(columns="h3"), gaps=out.gaps, summary=out.coverage)
