"""Filtered cell counts on the fly: :func:`geojtai.filters.filtered_cells` at force scale.

Run ``python benchmarks/bench_filters.py [--repeat 7] [--incidents 1e6] [--json OUT]``.

Data: ``--incidents`` synthetic incidents over the ~20,900 res-9 cells of 61 res-6 cells
around Leeds, 36 months, four categories, two sources, three age bands plus missing ones,
five place types, and a time of day for 80 % of them (the rest month-only, as police.uk's).
The :class:`geojtai.filters.IncidentIndex` is built once (timed as ``build``), then:

* ``no_filter``: every incident, cells at res 9.
* ``typical``: one category, 6 months and after-school hours (15:00–19:00), res 9.
* ``coarser``: every incident, cells at res 7 (counts summed into parents).
* ``typical_coarser``: the typical filter at res 7.
* ``series`` and ``breakdown``: the typical filter per month and per place type.
* ``no_filter_published`` and ``typical_published``: the cells of ``no_filter`` and
  ``typical`` then :func:`geojtai.disclosure.publish_cells` (threshold 10, roll-up to res 7),
  as a publishable view shows them (``counted`` there is what is shown, suppressed rows 0).

Target: each filter under 100 ms for 1M incidents. Each case runs ``--repeat`` times in this
process; the best and median are reported.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from timing import best_and_median, timed

from geojtai import aggregate, grid
from geojtai.disclosure import DisclosureRule, publish_cells
from geojtai.filters import (
    CellFilter,
    IncidentIndex,
    filtered_breakdown,
    filtered_cells,
    filtered_series,
    parse_filter,
)

TARGET_S = 0.1
RESOLUTION = 9


def synthetic_incidents(n: int, seed: int = 42) -> pd.DataFrame:
    """``n`` incidents shaped like a study's ``incidents.parquet`` (the columns filters read)."""
    rng = np.random.default_rng(seed)
    centre = grid.cells_from_points(np.array([53.8]), np.array([-1.55]), resolution=6)
    _, region = grid.grid_disk(centre, 4)
    _, cells = grid.cell_children(region, RESOLUTION)
    # Skewed towards a few cells, as incidents are.
    weights = rng.pareto(1.5, cells.size) + 0.05
    months = aggregate.month_labels(aggregate.month_index(["2022-01"])[0] + np.arange(36))
    start = pd.Timestamp("2022-01-01")
    occurred = start + pd.to_timedelta(rng.integers(0, 36 * 30 * 24 * 60, n), "min")
    return pd.DataFrame(
        {
            "h3": grid.cells_to_hex(rng.choice(cells, n, p=weights / weights.sum())),
            "month": months[np.minimum((occurred - start).days // 30, 35)],
            "category": rng.choice(
                [
                    "violence with injury",
                    "violence without injury",
                    "robbery",
                    "possession of weapons",
                ],
                n,
                p=[0.45, 0.3, 0.15, 0.1],
            ),
            "source": rng.choice(["police", "emergency department"], n, p=[0.75, 0.25]),
            "age_band": rng.choice(np.array(["10-17", "18-24", "25+", None], dtype=object), n),
            "place_type": rng.choice(
                ["streets", "parks", "shopping_centres", "schools", "other"], n
            ),
            "occurred": occurred,
            "time_known": rng.random(n) < 0.8,
            "harm": rng.choice([20.0, 180.0, 365.0], n),
            "in_scope": np.ones(n, dtype=bool),
        }
    )


def _report(name: str, times: list[float], extra: dict[str, Any]) -> dict[str, Any]:
    row = {
        "case": name,
        **best_and_median(times, digits=4),
        "target_s": TARGET_S,
        "meets_target": min(times) < TARGET_S,
        **extra,
    }
    print(json.dumps(row))
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--incidents", type=float, default=1e6)
    parser.add_argument("--json", type=Path, help="Write the results here too.")
    args = parser.parse_args()
    frame = synthetic_incidents(int(args.incidents))
    times, index = timed(lambda: IncidentIndex.from_incidents(frame, resolution=RESOLUTION), 1)
    memory = sum(getattr(index, a).nbytes for a in ("cell", "month", "harm", "category", "source"))
    memory += sum(getattr(index, a).nbytes for a in ("age_band", "place_type", "weekday", "hour"))
    print(
        json.dumps(
            {
                "case": "build",
                "best_s": round(min(times), 3),
                "incidents": len(index),
                "cells": int(index.cell_ids.size),
                "months": len(index.months),
                "index_mb": round(memory / 2**20, 1),
            }
        )
    )
    typical = parse_filter(
        {"category": "robbery", "from": "2024-01", "to": "2024-06", "hours": "after_school"},
        index,
    )

    def by_place(index: IncidentIndex, flt: CellFilter) -> pd.DataFrame:
        return filtered_breakdown(index, flt, "place_type")

    def published(index: IncidentIndex, flt: CellFilter) -> pd.DataFrame:
        cells = filtered_cells(index, flt)
        out = publish_cells(cells["h3"], cells["count"], DisclosureRule(), min_resolution=7)
        shown = out.assign(count=out["count"].fillna(0))
        shown.attrs.update(cells.attrs)
        return shown

    cases: dict[str, tuple[Callable[[IncidentIndex, CellFilter], pd.DataFrame], CellFilter]] = {
        "no_filter": (filtered_cells, CellFilter()),
        "typical": (filtered_cells, typical),
        "coarser": (filtered_cells, CellFilter(resolution=7)),
        "typical_coarser": (filtered_cells, CellFilter(**{**typical.__dict__, "resolution": 7})),
        "series": (filtered_series, typical),
        "breakdown": (by_place, typical),
        "no_filter_published": (published, CellFilter()),
        "typical_published": (published, typical),
    }
    rows = []
    for name, (fn, flt) in cases.items():
        times, out = timed(partial(fn, index, flt), args.repeat)
        rows.append(
            _report(
                name,
                times,
                {
                    "incidents": len(index),
                    "rows": len(out),
                    "counted": int(out["count"].sum()),
                    "unknown_time_excluded": out.attrs.get("unknown_time_excluded", 0),
                },
            )
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0 if all(r["meets_target"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
