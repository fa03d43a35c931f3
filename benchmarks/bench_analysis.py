"""Hot spots, risk models and backtests at force scale.

Run ``python benchmarks/bench_analysis.py [--hotspot-cells 100000] [--model-cells 20000]``.

Synthetic data on real H3 geometry (res 9 cells in a disk around Leeds), 36 months:

* ``hotspots``: :func:`geojtai.hotspots.hotspots` (Gi* on the totals with FDR, emerging hot
  spots over 36 months with Mann-Kendall) on ``--hotspot-cells`` cells.
* ``rtm_fit``: :class:`geojtai.risk.ContextualRiskModel` on ``--model-cells`` cells with 8
  layers × 5 candidate exposures (RRVs 3.0, 2.0, 1.5 on three of them).
* ``boosted_fit``: :class:`geojtai.risk.BoostedRiskModel` (12 training months).
* ``backtest``: :func:`geojtai.evaluate.rolling_origin`, 6 folds, the four baselines plus
  both models.

Each case runs ``--repeat`` times; best and median are printed as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from typing import Any

import numpy as np
import pandas as pd
from timing import timed

from geojtai import evaluate, grid, hotspots, risk
from geojtai.crs import wgs84_to_bng

CENTRE = (53.80, -1.55)  # Leeds


def _disk(n: int) -> np.ndarray:
    """About ``n`` res-9 cells: a k-ring disk (3k² + 3k + 1 cells)."""
    k = int(np.ceil((-3 + np.sqrt(9 - 12 * (1 - n))) / 6))
    centre = grid.cells_from_points(np.array([CENTRE[0]]), np.array([CENTRE[1]]), resolution=9)
    return np.sort(grid.grid_disk(centre, k)[1])[:n]


def _report(case: str, times: list[float], **extra: Any) -> None:
    row = {
        "case": case,
        "best_s": round(min(times), 3),
        "median_s": round(statistics.median(times), 3),
    }
    print(json.dumps(row | extra))


def _panel(
    n: int, months: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    cells = _disk(n)
    exposures = {
        f"within_l{j}_{d}": (rng.random(cells.size) < p).astype(float)
        for j in range(8)
        for d, p in zip((50, 100, 200, 300, 400), (0.02, 0.05, 0.1, 0.15, 0.2), strict=True)
    }
    X = pd.DataFrame(exposures)
    log_rr = (
        np.log(3.0) * X["within_l0_200"]
        + np.log(2.0) * X["within_l1_100"]
        + np.log(1.5) * X["within_l2_400"]
    )
    rate = 0.05 * np.exp(log_rr.to_numpy())
    counts = rng.poisson(rate[:, None] * np.ones((cells.size, months))).astype(float)
    return cells, counts, X


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hotspot-cells", type=int, default=100_000)
    parser.add_argument("--model-cells", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(1)

    cells, counts, _ = _panel(args.hotspot_cells, 36, rng)
    times, _ = timed(lambda: hotspots.hotspots(cells, counts, k=1), args.repeat)
    _report("hotspots", times, cells=int(cells.size), months=36)

    cells, counts, X = _panel(args.model_cells, 36, rng)
    groups = {c: c.split("_")[1] for c in X.columns}
    share = np.ones(cells.size)
    model = risk.ContextualRiskModel(groups=groups)
    times, _ = timed(lambda: model.fit(X, counts.sum(axis=1), 36 * share), args.repeat)
    _report("rtm_fit", times, cells=int(cells.size), candidates=X.shape[1],
            rrv={k: round(float(v), 3) for k, v in model.rrv_.items()})  # fmt: skip
    ring = grid.neighbour_matrix(cells, 1, include_self=False)
    static = X.rename(columns=lambda c: c.replace("within_", "count_"))
    boosted = risk.BoostedRiskModel()
    times, _ = timed(lambda: boosted.fit(static, counts, share, ring), args.repeat)
    _report("boosted_fit", times, cells=int(cells.size), rows=int(cells.size * 12))

    lat, lon = grid.cell_centres(cells)
    x, y = wgs84_to_bng(lat, lon)
    panel = evaluate.Panel(
        cells=cells, months=tuple(f"2023-{m:02d}" for m in range(1, 13))
        + tuple(f"2024-{m:02d}" for m in range(1, 13)) + tuple(f"2025-{m:02d}" for m in range(1, 13)),
        counts=counts, x=np.asarray(x), y=np.asarray(y), area=grid.cell_areas_m2(cells),
    )  # fmt: skip
    forecasters = {name: evaluate.baseline(name) for name in evaluate.BASELINES}
    forecasters["rtm"] = risk.rtm_forecaster(X, share, groups)
    forecasters["boosted"] = risk.boosted_forecaster(static, share, ring)
    times, _ = timed(lambda: evaluate.rolling_origin(panel, forecasters, test_months=6), 1)
    _report("backtest", times, cells=int(cells.size), folds=6, methods=len(forecasters))
    return 0


if __name__ == "__main__":
    sys.exit(main())
