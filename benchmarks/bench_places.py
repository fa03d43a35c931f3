"""Place layers: OSM extract → clipped place layers → H3 cells, and place context of incidents.

Run ``python benchmarks/bench_places.py [--repeat 3] [--incidents 1e6] [--json OUT]``.

Cases (real data from ``../shared/data/real/rutland``; the script exits with a message when
it is absent):

* ``layers_res10``: :func:`geojtai.io.read_places` on ``rutland-latest.osm.pbf`` (all six
  built-in layers), :func:`geojtai.places.prepare_places` (clip to the Rutland boundary plus
  1 km) and :func:`geojtai.places.place_cells` at H3 resolution 10. Target: under 10 s.
* ``context_distinct``: :func:`geojtai.places.incident_context` for ``--incidents`` points
  uniform over the Rutland extract, every point different (the worst case), no text.
* ``context_policeuk``: the same number of incidents drawn from the 281 real police.uk map
  points of the Rutland crime files, with their ``Location`` text (the usual case: police.uk
  snaps crimes to a few map points). Target for both: under 10 s for 1M incidents.

Each case runs ``--repeat`` times in this process; the best and median are reported.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from timing import best_and_median, timed

from geojtai import io as gio
from geojtai import places
from geojtai.crs import BNG, WGS84, wgs84_to_bng
from geojtai.layers import load_layer_specs
from geojtai.settings import PlaceInput

ROOT = Path(__file__).resolve().parents[1]
RUTLAND = ROOT.parent / "shared" / "data" / "real" / "rutland"
PBF = RUTLAND / "osm" / "rutland-latest.osm.pbf"
AREA = RUTLAND / "boundaries" / "rutland_lad2017_super_generalised.geojson"
CRIME = RUTLAND / "crime" / "rutland_only_2024-01_to_2024-04.csv.gz"
TARGET_S = 10.0


def _report(name: str, times: list[float], extra: dict[str, Any]) -> dict[str, Any]:
    row = {
        "case": name,
        **best_and_median(times),
        "target_s": TARGET_S,
        "meets_target": min(times) < TARGET_S,
        **extra,
    }
    print(json.dumps(row))
    return row


def layers_case(repeat: int) -> tuple[dict[str, Any], Any]:
    specs = load_layer_specs()
    # The study region as a build makes it: the boundary plus the 1 km margin, in BNG.
    zone = gpd.GeoSeries([gio.read_area(AREA)], crs=WGS84).to_crs(BNG).iloc[0].buffer(1000)
    bbox = tuple(float(v) for v in gpd.GeoSeries([zone], crs=BNG).to_crs(WGS84).total_bounds)
    steps: dict[str, list[float]] = {"read": [], "prepare": [], "cells": []}

    def run() -> tuple[Any, Any]:
        t0 = time.perf_counter()
        raw = gio.read_places([PlaceInput(PBF)], specs, bbox=bbox)  # type: ignore[arg-type]
        t1 = time.perf_counter()
        kept, _ = places.prepare_places(raw, specs, region=zone)
        t2 = time.perf_counter()
        cells = places.place_cells(kept, specs, resolution=10)
        t3 = time.perf_counter()
        steps["read"].append(t1 - t0)
        steps["prepare"].append(t2 - t1)
        steps["cells"].append(t3 - t2)
        return kept, cells

    times, (kept, cells) = timed(run, repeat)
    counts = kept.groupby("layer").size().to_dict()
    extra = {
        "features": {k: int(v) for k, v in counts.items()},
        "cells": len(cells),
        "steps_best_s": {k: round(min(v), 3) for k, v in steps.items()},
    }
    return _report("layers_res10", times, extra), (specs, kept)


def context_cases(specs: Any, kept: Any, n: int, repeat: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(42)
    x0, y0, x1, y1 = kept.total_bounds
    x, y = rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)
    times, got = timed(lambda: places.incident_context(x, y, kept, specs), repeat)
    rows = [
        _report(
            "context_distinct",
            times,
            {"incidents": n, "per_s": round(n / min(times)), "types": _types(got)},
        )
    ]
    crime = pd.read_csv(CRIME, usecols=["Longitude", "Latitude", "Location"])
    pick = rng.integers(0, len(crime), n)
    px, py = wgs84_to_bng(crime["Latitude"].to_numpy()[pick], crime["Longitude"].to_numpy()[pick])
    text = crime["Location"].to_numpy(dtype=object)[pick]
    run = lambda: places.incident_context(px, py, kept, specs, location=text)  # noqa: E731
    times, got = timed(run, repeat)
    rows.append(
        _report(
            "context_policeuk",
            times,
            {
                "incidents": n,
                "map_points": int(crime[["Longitude", "Latitude"]].drop_duplicates().shape[0]),
                "per_s": round(n / min(times)),
                "types": _types(got),
            },
        )
    )
    return rows


def _types(context: pd.DataFrame) -> dict[str, float]:
    share = context["place_type"].value_counts(normalize=True)
    return {str(k): round(float(v), 4) for k, v in share.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--incidents", type=float, default=1e6)
    parser.add_argument("--json", type=Path, help="Write the results here too.")
    args = parser.parse_args()
    if not (PBF.exists() and AREA.exists() and CRIME.exists()):
        print(f"real data not present under {RUTLAND}; nothing to measure", file=sys.stderr)
        return 0
    first, (specs, kept) = layers_case(args.repeat)
    rows = [first, *context_cases(specs, kept, int(args.incidents), args.repeat)]
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0 if all(r["meets_target"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
