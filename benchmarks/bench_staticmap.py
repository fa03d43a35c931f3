"""Static maps: 50,000 H3 cells drawn on an A4 page and rendered to PNG at 150 dpi.

Run ``python benchmarks/bench_staticmap.py [--cells 50000] [--repeat 3] [--dpi 150] [--json OUT]``.

The cells are real resolution-9 H3 cells (a disk around Leeds, from :func:`geojtai.grid.grid_disk`
and :func:`geojtai.grid.cell_polygons`, in EPSG:4326), with a Poisson count per cell of which
10 % are withheld (NaN), styled as a graduated layer of four classes plus "withheld", under a
park and over two streets, as a board-paper map is. Cases, each timed ``--repeat`` times in
this process (best and median reported):

* ``build``: :func:`geojtai.staticmap.static_map` (reprojection to BNG, one compound path per
  colour, furniture) without rendering;
* ``png``: :func:`geojtai.staticmap.figure_png` of that figure;
* ``end_to_end``: both, the case the target applies to (under 5 s);
* ``pdf``: :func:`geojtai.staticmap.figure_pdf` of the figure, for reference.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
from shapely.geometry import LineString, box
from timing import best_and_median, timed

from geojtai import grid
from geojtai.crs import BNG, WGS84
from geojtai.staticmap import MapLayer, figure_pdf, figure_png, static_map
from geojtai.symbology import LayerStyle, StyleClass

TARGET_S = 5.0
RAMP = ("#ffffb2", "#fecc5c", "#fd8d3c", "#e31a1c")


def cells_frame(n: int, seed: int = 0) -> gpd.GeoDataFrame:
    """``n`` resolution-9 cells around Leeds with a count, 10 % withheld."""
    centre = grid.cells_from_points(np.array([53.80]), np.array([-1.55]), resolution=9)
    k = int(np.ceil((-3 + np.sqrt(9 - 12 * (1 - n))) / 6))  # a disk of k rings holds ≥ n
    cells = np.sort(grid.grid_disk(centre, k)[1])[:n]
    rng = np.random.default_rng(seed)
    counts = rng.poisson(3.0, n).astype(float)
    counts[rng.random(n) < 0.1] = np.nan
    return gpd.GeoDataFrame({"count": counts}, geometry=grid.cell_polygons(cells), crs=WGS84)


def layers(cells: gpd.GeoDataFrame) -> list[MapLayer]:
    """Parks below, the cells, streets above: the usual stack of a board-paper map."""
    x0, y0, x1, y1 = cells.to_crs(BNG).total_bounds
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    parks = gpd.GeoDataFrame(
        {"name": ["Park"]}, geometry=[box(cx, cy, cx + 1500, cy + 1000)], crs=BNG
    )
    streets = gpd.GeoDataFrame(
        {"name": ["A road", "B road"]},
        geometry=[LineString([(x0, y0), (x1, y1)]), LineString([(x0, y1), (x1, y0)])],
        crs=BNG,
    )
    classes = tuple(
        StyleClass(None, f"{2 * i}–{2 * i + 1}", c, 2 * i - 0.5, 2 * i + 1.5)
        for i, c in enumerate(RAMP[:-1])
    ) + (StyleClass(None, "6 or more", RAMP[-1], 5.5, 1e9),)
    style = LayerStyle(
        title="Incidents per cell",
        kind="polygon",
        renderer="graduated",
        attribute="count",
        classes=classes,
        line_width=0.2,
        no_data="fewer than 10: withheld",
    )
    return [
        MapLayer(
            parks, LayerStyle(title="Parks", kind="polygon", colour="#a1d99b"), label_column="name"
        ),
        MapLayer(cells, style),
        MapLayer(
            streets,
            LayerStyle(title="Main roads", kind="line", line_width=1.2),
            label_column="name",
        ),
    ]


def draw(stack: list[MapLayer]) -> Any:
    return static_map(
        stack,
        title="Incidents per H3 cell",
        subtitle="Benchmark: synthetic counts",
        marking="OFFICIAL",
        attribution="Contains OS data © Crown copyright and database right 2025.",
        disclosure="Cells with fewer than 10 incidents are withheld.",
        extent_from=1,
    )


def _row(
    case: str, times: list[float], n: int, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    row = {"case": case, "cells": n, **best_and_median(times), **(extra or {})}
    print(json.dumps(row))
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dpi", type=int, default=150)
    parser.add_argument("--json", type=Path, default=None, help="write the rows here")
    args = parser.parse_args(argv)
    stack = layers(cells_frame(args.cells))
    build_times, fig = timed(lambda: draw(stack), args.repeat)
    png_times, png = timed(lambda: figure_png(fig, dpi=args.dpi), args.repeat)
    both, _ = timed(lambda: figure_png(draw(stack), dpi=args.dpi), args.repeat)
    pdf_times, pdf = timed(lambda: figure_pdf(fig), args.repeat)
    rows = [
        _row("build", build_times, args.cells),
        _row("png", png_times, args.cells, {"dpi": args.dpi, "bytes": len(png)}),
        _row(
            "end_to_end",
            both,
            args.cells,
            {"dpi": args.dpi, "target_s": TARGET_S, "meets_target": min(both) < TARGET_S},
        ),
        _row("pdf", pdf_times, args.cells, {"bytes": len(pdf)}),
    ]
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0 if min(both) < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
