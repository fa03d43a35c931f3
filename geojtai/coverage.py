"""Interventions against risk: where place-based work is, month by month; coverage; gaps.

**Footprint rule** (the cells an intervention covers): cells covered at least
:data:`MIN_COVER` (25 %) by its polygon — or by the circle of ``radius_m`` around its point —
or holding at least :data:`MIN_ROUTE_M` (100 m) of its route, plus the cell holding its
point, the representative point of its polygon or the midpoint of its route (so a small
site never vanishes). An intervention is active from its start month to its end month
(open-ended: to the last month of the study).

**Coverage of risk** (one period, usually the latest month): for the top 1, 5 and 10 % of
cells by risk, the share covered; the share of all risk inside covered cells; the
**concentration index** of deployment against risk (``C = 2·cov(d, r)/mean(d)`` with ``r``
the cells' fractional rank by ascending risk and ``d`` the number of agencies present:
+1 all work in the riskiest cell, 0 spread regardless of risk, negative where work sits in
low-risk cells); **multi-agency depth** in the top cells (no agency, one, two or more
distinct agencies); and deployments in low-risk cells (covered cells in the lower half of
risk).

**Gaps**: high-risk cells (top :data:`GAP_SHARE` by risk) with no or single-agency coverage
now, ranked by risk, grouped into contiguous clusters (H3 neighbours).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from geojtai import aggregate, grid
from geojtai.crs import BNG, WGS84

__all__ = [
    "GAP_SHARE",
    "MIN_COVER",
    "MIN_ROUTE_M",
    "TOP_SHARES",
    "active_months",
    "agency_depth",
    "concentration_index",
    "coverage_summary",
    "footprints",
    "gaps",
]

MIN_COVER = 0.25
MIN_ROUTE_M = 100.0
TOP_SHARES = (0.01, 0.05, 0.10)
GAP_SHARE = 0.10


def footprints(geoms: np.ndarray, radius_m: np.ndarray, *, resolution: int) -> pd.DataFrame:
    """The cells each intervention covers (see the module docstring).

    Parameters
    ----------
    geoms
        Shapely geometries in WGS84: points (with a radius), polygons or route lines.
    radius_m
        Radius of each point's circle in metres (ignored for polygons and lines; a point
        with no radius covers only its own cell).
    resolution
        H3 resolution.

    Returns
    -------
    pandas.DataFrame
        ``item`` (position in ``geoms``) and ``cell`` (uint64), one row per covered cell,
        sorted.
    """
    geoms = np.asarray(geoms, dtype=object)
    radius = np.nan_to_num(np.asarray(radius_m, dtype=float), nan=0.0)
    types = shapely.get_type_id(geoms)
    is_line = np.isin(types, (1, 2, 5))
    areas = np.array(geoms, dtype=object)
    circle = np.isin(types, (0, 4)) & (radius > 0)
    if circle.any():
        metric = gpd.GeoSeries(geoms[circle], crs=WGS84).to_crs(BNG)
        areas[circle] = np.asarray(
            metric.buffer(radius[circle], quad_segs=16).to_crs(WGS84).array, dtype=object
        )
    parts = [_anchor_cells(geoms, types, resolution)]
    poly = np.flatnonzero(np.isin(shapely.get_type_id(areas), (3, 6)))
    if poly.size:
        cover = grid.polygons_to_cells(areas[poly], resolution=resolution)
        cover = cover[cover["fraction"] >= MIN_COVER]
        parts.append(pd.DataFrame({"item": poly[cover["geom"]], "cell": cover["cell"]}))
    line = np.flatnonzero(is_line)
    if line.size:
        run = grid.lines_to_cells(geoms[line], resolution=resolution)
        run = run[run["length_m"] >= MIN_ROUTE_M]
        parts.append(pd.DataFrame({"item": line[run["geom"]], "cell": run["cell"]}))
    out = pd.concat(parts, ignore_index=True).drop_duplicates()
    return out.sort_values(["item", "cell"]).reset_index(drop=True)


def _anchor_cells(geoms: np.ndarray, types: np.ndarray, resolution: int) -> pd.DataFrame:
    """The cell holding each point, polygon's representative point or route's midpoint."""
    line = np.isin(types, (1, 2, 5))
    anchor = np.asarray(shapely.point_on_surface(geoms), dtype=object)
    if line.any():
        anchor[line] = shapely.line_interpolate_point(geoms[line], 0.5, normalized=True)
    cells = grid.cells_from_points(
        shapely.get_y(anchor), shapely.get_x(anchor), resolution=resolution
    )
    return pd.DataFrame({"item": np.arange(geoms.size), "cell": cells})


def active_months(
    start: Sequence[str], end: Sequence[str | None], months: Sequence[str]
) -> np.ndarray:
    """(items × months) True where an intervention is active (open end: to the last month)."""
    idx = aggregate.month_index(np.asarray(list(months), dtype=object))
    first = aggregate.month_index(np.asarray([str(s) for s in start], dtype=object))
    ends = pd.Series(list(end), dtype=object)
    last = np.full(len(ends), idx.max() if idx.size else 0)
    known = ends.notna().to_numpy() & (ends.astype(str) != "")
    if known.any():
        last[known] = aggregate.month_index(ends[known].astype(str).to_numpy(dtype=object))
    return (idx[None, :] >= first[:, None]) & (idx[None, :] <= last[:, None])


def agency_depth(
    fp: pd.DataFrame, agencies: Sequence[str] | np.ndarray, active: np.ndarray, cells: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct agencies and active interventions per cell, in one period.

    Parameters
    ----------
    fp
        Footprints (``item``, ``cell``).
    agencies
        Each intervention's agencies, ``;``-separated.
    active
        (items,) True where the intervention is active in the period.
    cells
        The study's cells (uint64), in the order wanted.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Distinct agencies per cell, and active interventions per cell.
    """
    live = fp[active[fp["item"].to_numpy()]]
    pos = pd.Index(cells).get_indexer(live["cell"].to_numpy())
    live = live.assign(pos=pos)[pos >= 0]
    n_items = np.bincount(live["pos"], minlength=cells.size)
    names = pd.Series(list(agencies), dtype=object).fillna("").str.split(";")
    pairs = live.assign(agency=names.to_numpy()[live["item"].to_numpy()]).explode("agency")
    pairs = pairs[pairs["agency"].astype(str).str.strip() != ""]
    distinct = pairs.drop_duplicates(["pos", "agency"])
    return np.bincount(distinct["pos"], minlength=cells.size), n_items


def concentration_index(deployment: np.ndarray, risk: np.ndarray) -> float:
    """``2·cov(d, r)/mean(d)`` with ``r`` the fractional rank by ascending risk (0 if no work).

    Examples
    --------
    >>> concentration_index(np.array([0, 0, 0, 1.0]), np.array([1, 2, 3, 4.0]))
    0.75
    """
    d = np.asarray(deployment, dtype=float)
    if d.size == 0 or d.sum() <= 0:
        return 0.0
    order = np.argsort(np.asarray(risk, dtype=float), kind="stable")
    rank = np.empty(d.size)
    rank[order] = (np.arange(d.size) + 0.5) / d.size
    return float(2 * np.mean(d * (rank - rank.mean())) / d.mean())


def coverage_summary(
    risk: np.ndarray, depth: np.ndarray, *, shares: Sequence[float] = TOP_SHARES
) -> dict[str, object]:
    """How well deployment (agencies per cell) matches risk, for one period.

    Returns
    -------
    dict
        ``top`` (per share: cells, share covered, depth 0/1/2+ shares), ``risk_covered``
        (share of all risk inside covered cells), ``concentration_index``,
        ``covered_cells``, ``covered_low_risk`` (covered cells in the lower half of risk)
        and ``concentration_curve`` (cumulative share of cells by descending risk against
        cumulative share of deployment, at 20 points).
    """
    risk = np.asarray(risk, dtype=float)
    depth = np.asarray(depth, dtype=float)
    n = risk.size
    order = np.argsort(-risk, kind="stable")
    covered = depth > 0
    top = {}
    for share in shares:
        k = max(1, int(np.ceil(share * n))) if n else 0
        chosen = depth[order[:k]]
        top[f"{share:.0%}"] = {
            "cells": k,
            "covered": _share(np.count_nonzero(chosen > 0), k),
            "no_agency": _share(np.count_nonzero(chosen == 0), k),
            "one_agency": _share(np.count_nonzero(chosen == 1), k),
            "two_or_more": _share(np.count_nonzero(chosen >= 2), k),
        }
    low = risk <= np.median(risk) if n else np.zeros(0, bool)
    cum_dep = np.cumsum(depth[order]) / depth.sum() if depth.sum() > 0 else np.zeros(n)
    points = np.linspace(0, 1, 21)[1:]
    at = np.clip(np.ceil(points * n).astype(int) - 1, 0, max(n - 1, 0))
    return {
        "top": top,
        "risk_covered": _share(float(risk[covered].sum()), float(risk.sum())),
        "concentration_index": round(concentration_index(depth, risk), 4),
        "covered_cells": int(covered.sum()),
        "covered_low_risk": int((covered & low).sum()),
        "concentration_curve": [
            {"cells": round(float(p), 2), "deployment": round(float(cum_dep[i]), 4) if n else 0.0}
            for p, i in zip(points, at, strict=True)
        ],
    }


def _share(part: float | np.integer[Any], whole: float) -> float:
    return round(float(part) / float(whole), 4) if whole else 0.0


def gaps(
    cells: np.ndarray,
    risk: np.ndarray,
    depth: np.ndarray,
    *,
    share: float = GAP_SHARE,
) -> pd.DataFrame:
    """High-risk cells with no or single-agency coverage, ranked, with their clusters.

    Returns
    -------
    pandas.DataFrame
        ``position`` (row in ``cells``), ``cell``, ``rank`` (1 = riskiest gap), ``risk``,
        ``agencies`` (0 or 1), ``gap`` (``no coverage`` / ``single agency``), ``cluster``
        (contiguous gap cells share a number, 1 = the cluster with most risk) and
        ``cluster_cells``, ``cluster_risk``.
    """
    cells = np.asarray(cells, dtype=np.uint64)
    risk = np.asarray(risk, dtype=float)
    n = cells.size
    k = max(1, int(np.ceil(share * n))) if n else 0
    top = np.argsort(-risk, kind="stable")[:k]
    top = top[(depth[top] <= 1) & (risk[top] > 0)]
    if top.size == 0:
        return pd.DataFrame(
            columns=["position", "cell", "rank", "risk", "agencies", "gap", "cluster",
                     "cluster_cells", "cluster_risk"]
        )  # fmt: skip
    adjacency = grid.neighbour_matrix(cells[top], 1, include_self=False)
    _, label = csgraph.connected_components(sparse.csr_matrix(adjacency), directed=False)
    frame = pd.DataFrame(
        {
            "position": top,
            "cell": cells[top],
            "risk": risk[top],
            "agencies": depth[top].astype(int),
            "label": label,
        }
    )
    totals = frame.groupby("label")["risk"].agg(["size", "sum"])
    order = totals.sort_values("sum", ascending=False).index
    renumber = pd.Series(np.arange(1, len(order) + 1), index=order)
    frame["cluster"] = renumber.reindex(frame["label"]).to_numpy()
    frame["cluster_cells"] = totals["size"].reindex(frame["label"]).to_numpy()
    frame["cluster_risk"] = totals["sum"].reindex(frame["label"]).to_numpy()
    frame["gap"] = np.where(frame["agencies"] == 0, "no coverage", "single agency")
    frame = frame.sort_values("risk", ascending=False, kind="stable").reset_index(drop=True)
    frame["rank"] = np.arange(1, len(frame) + 1)
    return frame[
        ["position", "cell", "rank", "risk", "agencies", "gap", "cluster", "cluster_cells",
         "cluster_risk"]
    ]  # fmt: skip
