"""Coverage of risk and gaps: 500 interventions over 100k cells and 36 months.

Run ``python benchmarks/bench_coverage.py [--cells 100000] [--interventions 500] [--repeat 3]``.

Synthetic interventions on real res-9 H3 geometry around Leeds: a third points with a 150–500 m
radius, a third polygons (300–800 m squares), a third routes (1–3 km lines), each with 1–3
of 7 agencies and a start/end month within 36 months. Timed, end to end as a build does it:
footprints (:func:`geojtai.coverage.footprints`), active months, multi-agency depth now,
coverage of risk overall and by agency, coverage per month (36 passes), and the gaps with
their clusters. Target: under 10 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import geopandas as gpd
import numpy as np
import shapely

from geojtai import coverage, grid
from geojtai.crs import BNG, WGS84, wgs84_to_bng

AGENCIES = ("police", "council", "health", "education", "youth justice", "social care", "voluntary")
TARGET_S = 10.0


def _interventions(cells: np.ndarray, n: int, rng: np.random.Generator) -> gpd.GeoDataFrame:
    lat, lon = grid.cell_centres(cells[rng.choice(cells.size, n, replace=False)])
    x, y = (np.asarray(v) for v in wgs84_to_bng(lat, lon))
    kind = np.arange(n) % 3
    geoms = np.empty(n, dtype=object)
    size = rng.uniform(300, 800, n)
    geoms[kind == 0] = shapely.points(x[kind == 0], y[kind == 0])
    geoms[kind == 1] = shapely.box(
        x[kind == 1], y[kind == 1], x[kind == 1] + size[kind == 1], y[kind == 1] + size[kind == 1]
    )
    angle = rng.uniform(0, np.pi, n)
    length = rng.uniform(1000, 3000, n)
    ends = np.column_stack([x + length * np.cos(angle), y + length * np.sin(angle)])
    lines = kind == 2
    geoms[lines] = shapely.linestrings(
        np.stack([np.column_stack([x, y])[lines], ends[lines]], axis=1)
    )
    wgs = gpd.GeoSeries(geoms, crs=BNG).to_crs(WGS84)
    start = rng.integers(0, 30, n)
    end = np.minimum(start + rng.integers(3, 24, n), 35)
    month = np.array([f"{2023 + m // 12}-{m % 12 + 1:02d}" for m in range(36)])
    agencies = [";".join(rng.choice(AGENCIES, rng.integers(1, 4), replace=False)) for _ in range(n)]
    return gpd.GeoDataFrame(
        {
            "radius_m": np.where(kind == 0, rng.uniform(150, 500, n), np.nan),
            "start_month": month[start],
            "end_month": np.where(rng.random(n) < 0.3, None, month[end]),
            "agencies": agencies,
        },
        geometry=wgs,
        crs=WGS84,
    )


def run(cells: np.ndarray, frame: gpd.GeoDataFrame, risk: np.ndarray) -> dict[str, float]:
    steps: dict[str, float] = {}
    t = time.perf_counter()
    fp = coverage.footprints(
        np.asarray(frame.geometry.array), frame["radius_m"].to_numpy(), resolution=9
    )
    steps["footprints"] = time.perf_counter() - t
    t = time.perf_counter()
    months = [f"{2023 + m // 12}-{m % 12 + 1:02d}" for m in range(36)]
    active = coverage.active_months(frame["start_month"], frame["end_month"], months)
    agencies = frame["agencies"].to_numpy()
    depth, _ = coverage.agency_depth(fp, agencies, active[:, -1], cells)
    coverage.coverage_summary(risk, depth)
    for name in AGENCIES:  # by agency
        mask = np.array([name in a.split(";") for a in agencies])  # 500 strings, not cells
        coverage.coverage_summary(
            risk, coverage.agency_depth(fp, agencies, active[:, -1] & mask, cells)[0]
        )
    for m in range(36):  # per month
        coverage.agency_depth(fp, agencies, active[:, m], cells)
    steps["coverage"] = time.perf_counter() - t
    t = time.perf_counter()
    gaps = coverage.gaps(cells, risk, depth)
    steps["gaps"] = time.perf_counter() - t
    steps["footprint_pairs"] = float(len(fp))
    steps["gap_cells"] = float(len(gaps))
    return steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--interventions", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    centre = grid.cells_from_points(np.array([53.80]), np.array([-1.55]), resolution=9)
    k = int(np.ceil((-3 + np.sqrt(9 - 12 * (1 - args.cells))) / 6))
    cells = np.sort(grid.grid_disk(centre, k)[1])[: args.cells]
    risk = rng.gamma(0.5, 1.0, cells.size)
    frame = _interventions(cells, args.interventions, rng)
    totals = []
    for _ in range(args.repeat):
        steps = run(cells, frame, risk)
        totals.append(steps["footprints"] + steps["coverage"] + steps["gaps"])
    row = {
        "case": "coverage_and_gaps",
        "cells": int(cells.size),
        "months": 36,
        "interventions": args.interventions,
        "best_s": round(min(totals), 3),
        "median_s": round(statistics.median(totals), 3),
        "last_steps_s": {k: round(v, 3) for k, v in steps.items()},
        "target_s": TARGET_S,
    }
    print(json.dumps(row))
    return 0 if min(totals) < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
