"""Points → H3 cells → cell × month counts: the fast path against h3-py and pandas.

Run ``python benchmarks/bench_grid.py [--sizes 1e6,1e7] [--repeat 3] [--json OUT]``.

Every measurement runs in a fresh subprocess, so its peak memory (``ru_maxrss``) is its own
and no case warms the allocator for the next. Each subprocess builds the same synthetic data
from a fixed seed:

* ``distinct``: uniform random points over West Yorkshire (lat 53.55–53.95, lon −2.2 to
  −1.2), every coordinate different, months spread over 36 months;
* ``repeating``: the same area, but every incident snapped to one of 50,000 map points, as
  police.uk publishes them.

Paths measured (points/second always counts the input points):

* ``index_only``: :func:`geojtai.grid.cells_from_points` alone (indexing, no counting): the
  floor the fused path can approach;
* ``fused``: :func:`geojtai.aggregate.cell_month_counts_from_points`, end to end;
* ``fused_distinct``: the same with ``distinct=True`` (each map point indexed once);
* ``distinct_then_table``: :func:`geojtai.grid.cells_from_points` with ``distinct=True``,
  then :func:`geojtai.aggregate.cell_month_table` (repeating case only);
* ``h3py_loop``: h3-py's scalar ``h3.api.numpy_int.latlng_to_cell`` in a Python loop, timed
  on a sample of ``--sample`` points and extrapolated (marked as such);
* ``pandas_groupby``: counting alone, ``DataFrame.groupby(["cell", "month"]).size()`` on
  cells given by the fast path;
* ``baseline`` (derived): ``h3py_loop`` (extrapolated) + ``pandas_groupby``.

Correctness is checked in the same run: on the h3-py sample, the fused counts (both modes)
must equal counts built from h3-py's cells with :class:`collections.Counter`; on the full
data, the fused counts must equal pandas' counts.

The machine is shared, so each path runs ``--repeat`` times and the best run is reported,
with the CPU seconds the process used and the CPU seconds other processes took meanwhile
(``others``, from ``/proc/stat``): a run with ``others`` near zero had the machine to itself.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

RESOLUTION = 9
AREA = {"lat": (53.55, 53.95), "lon": (-2.2, -1.2)}  # West Yorkshire, about 2,900 km²
MONTHS = (24_240, 36)  # 2020-01, 36 months
MAP_POINTS = 50_000  # police.uk snaps crimes to a few tens of thousands of points per force
TARGET_MPS = 4.0  # M points/s, 10M distinct points, indexing plus counting
TARGET_RSS_MB = 1536.0  # peak memory for 10M points
PATHS = {
    "distinct": ("index_only", "fused", "fused_distinct", "h3py_loop", "pandas_groupby"),
    "repeating": (
        "index_only",
        "fused",
        "fused_distinct",
        "distinct_then_table",
        "h3py_loop",
        "pandas_groupby",
    ),
}


# --- inside a worker subprocess ---------------------------------------------------------


def make_points(case: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic ``lat, lon, months`` for one case (the same in every subprocess)."""
    rng = np.random.default_rng(seed)
    size = MAP_POINTS if case == "repeating" else n
    lat = rng.uniform(*AREA["lat"], size)
    lon = rng.uniform(*AREA["lon"], size)
    if case == "repeating":
        which = rng.integers(0, MAP_POINTS, n)
        lat, lon = lat[which], lon[which]
    months = MONTHS[0] + rng.integers(0, MONTHS[1], n)
    return lat, lon, months


def _busy_seconds() -> float:
    """CPU seconds every process on the machine has used (Linux ``/proc/stat``)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def _wait_until_idle(max_wait: float, step: float = 0.5) -> None:
    """Wait (at most ``max_wait`` s) until other processes use < 10 % of a core."""
    deadline = time.monotonic() + max_wait
    while time.monotonic() < deadline:
        busy = _busy_seconds()
        time.sleep(step)
        if _busy_seconds() - busy < 0.1 * step:
            return


def _timed(fn, repeat: int, idle_wait: float = 0.0) -> tuple[object, list[dict[str, float]]]:
    runs = []
    result = None
    for _ in range(repeat):
        _wait_until_idle(idle_wait)
        busy, cpu, t0 = _busy_seconds(), time.process_time(), time.perf_counter()
        result = fn()
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu
        runs.append({"wall": wall, "cpu": cpu, "others": max(0.0, _busy_seconds() - busy - cpu)})
    return result, runs


def _counts_frame_equal(a, b) -> bool:
    return all(np.array_equal(a[c].to_numpy(), b[c].to_numpy()) for c in ("cell", "month", "count"))


def _reference_counts(lat: np.ndarray, lon: np.ndarray, months: np.ndarray) -> dict:
    """A deliberately simple reference: h3-py per point and a Counter."""
    from h3.api import numpy_int as h3i

    cells = [
        int(h3i.latlng_to_cell(a, b, RESOLUTION))
        for a, b in zip(lat.tolist(), lon.tolist(), strict=True)
    ]
    return dict(Counter(zip(cells, months.tolist(), strict=True)))


def _as_dict(frame) -> dict:
    return {
        (int(c), int(m)): int(k)
        for c, m, k in zip(frame["cell"], frame["month"], frame["count"], strict=True)
    }


def worker(case: str, n: int, path: str, repeat: int, sample: int, idle_wait: float) -> dict:
    """Run one path on one case in this (fresh) process and report times, memory, checks."""
    import pandas as pd

    from geojtai import aggregate, grid

    lat, lon, months = make_points(case, n)
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out: dict[str, object] = {"case": case, "n": n, "path": path}
    if path == "index_only":
        _, runs = _timed(
            lambda: grid.cells_from_points(lat, lon, resolution=RESOLUTION), repeat, idle_wait
        )
    elif path in ("fused", "fused_distinct"):
        distinct = path == "fused_distinct"
        _, runs = _timed(
            lambda: aggregate.cell_month_counts_from_points(
                lat, lon, months, resolution=RESOLUTION, distinct=distinct
            ),
            repeat,
            idle_wait,
        )
    elif path == "distinct_then_table":

        def run():
            cells = grid.cells_from_points(lat, lon, resolution=RESOLUTION, distinct=True)
            return aggregate.cell_month_table(cells, months, resolution=RESOLUTION)

        _, runs = _timed(run, repeat, idle_wait)
    elif path == "h3py_loop":
        from h3.api import numpy_int as h3i

        k = min(sample, n)
        la, lo = lat[:k].tolist(), lon[:k].tolist()
        _, runs = _timed(
            lambda: np.fromiter(
                (h3i.latlng_to_cell(a, b, RESOLUTION) for a, b in zip(la, lo, strict=True)),
                dtype=np.uint64,
                count=k,
            ),
            repeat,
            idle_wait,
        )
        for r in runs:  # extrapolate the sample to n points
            for key in ("wall", "cpu", "others"):
                r[key] *= n / k
        out["extrapolated_from"] = k

        def check() -> None:  # on the sample: both fused modes against h3-py + Counter
            ref = _reference_counts(lat[:k], lon[:k], months[:k])
            out["check_sample"] = all(
                _as_dict(
                    aggregate.cell_month_counts_from_points(
                        lat[:k], lon[:k], months[:k], resolution=RESOLUTION, distinct=d
                    )
                )
                == ref
                for d in (False, True)
            )
    elif path == "pandas_groupby":
        cells = grid.cells_from_points(lat, lon, resolution=RESOLUTION)
        frame = pd.DataFrame({"cell": cells, "month": months})
        counted, runs = _timed(
            lambda: frame.groupby(["cell", "month"]).size().rename("count").reset_index(),
            repeat,
            idle_wait,
        )

        def check() -> None:  # on all points: the fused counts equal pandas' counts
            fused = aggregate.cell_month_counts_from_points(lat, lon, months, resolution=RESOLUTION)
            out["check_full"] = _counts_frame_equal(fused, counted)
    else:
        msg = f"unknown path {path!r}; expected one of {sorted(set().union(*PATHS.values()))}"
        raise ValueError(msg)
    out["runs"] = runs
    out["rss_data_mb"] = rss_data
    out["rss_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if path in ("h3py_loop", "pandas_groupby"):
        check()  # after reading the peak, which is the measured path's alone
    return out


# --- in the parent ---------------------------------------------------------------------


def run_case(case: str, n: int, path: str, repeat: int, sample: int, idle_wait: float) -> dict:
    spec = json.dumps(
        {
            "case": case,
            "n": n,
            "path": path,
            "repeat": repeat,
            "sample": sample,
            "idle_wait": idle_wait,
        }
    )
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", spec],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        msg = f"{case}/{n}/{path} failed:\n{proc.stderr}"
        raise RuntimeError(msg)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarise(result: dict) -> dict:
    """Best run (least wall time) and its rate."""
    best = min(result["runs"], key=lambda r: r["wall"])
    walls = sorted(r["wall"] for r in result["runs"])
    return {
        **best,
        "median_wall": walls[len(walls) // 2],
        "first_wall": result["runs"][0]["wall"],
        "mps": result["n"] / best["wall"] / 1e6,
    }


def report(results: list[dict]) -> list[str]:
    lines = []
    header = (
        f"{'case':<10} {'points':>10} {'path':<24} {'best s':>8} {'M pts/s':>8} "
        f"{'median s':>8} {'cpu s':>7} {'others':>7} {'peak MB':>8}  checks"
    )
    lines += [header, "-" * len(header)]
    by_key: dict[tuple[str, int], dict[str, dict]] = {}
    for r in results:
        s = summarise(r)
        by_key.setdefault((r["case"], r["n"]), {})[r["path"]] = {**r, **s}
        label = r["path"] + (" (extrapolated)" if "extrapolated_from" in r else "")
        checks = " ".join(
            f"{k}={'ok' if r[k] else 'FAILED'}" for k in ("check_sample", "check_full") if k in r
        )
        lines.append(
            f"{r['case']:<10} {r['n']:>10,} {label:<24} {s['wall']:>8.3f} {s['mps']:>8.2f} "
            f"{s['median_wall']:>8.3f} {s['cpu']:>7.2f} {s['others']:>7.2f} "
            f"{r['rss_peak_mb']:>8.0f}  {checks}"
        )
    lines.append("")
    for (case, n), paths in by_key.items():
        if "h3py_loop" not in paths or "pandas_groupby" not in paths:
            continue
        base = paths["h3py_loop"]["wall"] + paths["pandas_groupby"]["wall"]
        lines.append(
            f"{case} {n:,}: baseline h3-py loop (extrapolated) + pandas groupby "
            f"{base:.2f} s = {n / base / 1e6:.2f} M pts/s"
        )
        for p in ("index_only", "fused", "fused_distinct", "distinct_then_table"):
            if p in paths:
                lines.append(
                    f"  {p:<22} {paths[p]['mps']:6.2f} M pts/s, {base / paths[p]['wall']:5.1f}× "
                    f"the baseline, peak {paths[p]['rss_peak_mb']:.0f} MB"
                    f" (imports + data {paths[p]['rss_data_mb']:.0f} MB)"
                )
    big = by_key.get(("distinct", 10_000_000), {})
    if "fused" in big:
        f = big["fused"]
        lines.append("")
        lines.append(
            f"target ≥ {TARGET_MPS} M pts/s (10M distinct, fused): {f['mps']:.2f} → "
            f"{'met' if f['mps'] >= TARGET_MPS else 'NOT met'}; peak {f['rss_peak_mb']:.0f} MB "
            f"< {TARGET_RSS_MB:.0f} MB → {'met' if f['rss_peak_mb'] < TARGET_RSS_MB else 'NOT met'}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e6,1e7", help="comma-separated point counts")
    parser.add_argument("--repeat", type=int, default=3, help="runs per path (best reported)")
    parser.add_argument("--sample", type=int, default=200_000, help="points for the h3-py loop")
    parser.add_argument(
        "--idle-wait",
        type=float,
        default=20.0,
        help="before each run, wait up to this many seconds for other processes to go quiet",
    )
    parser.add_argument("--cases", default="distinct,repeating")
    parser.add_argument("--paths", default=None, help="only these paths (comma-separated)")
    parser.add_argument("--json", type=Path, default=None, help="write all runs here")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(**json.loads(args.worker))))
        return 0
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    only = set(args.paths.split(",")) if args.paths else None
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.2f} at start")
    results = []
    for case in args.cases.split(","):
        for n in sizes:
            for path in PATHS[case]:
                if only is None or path in only:
                    results.append(
                        run_case(case, n, path, args.repeat, args.sample, args.idle_wait)
                    )
                    print(f"  done {case} {n:,} {path}", file=sys.stderr)
    print("\n".join(report(results)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    failed = [r for r in results if r.get("check_sample") is False or r.get("check_full") is False]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
