"""Shared timing helpers for the benchmark scripts (run as ``python benchmarks/bench_*.py``)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

__all__ = ["best_and_median", "timed"]


def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    """Run ``fn`` ``repeat`` times; the wall-clock seconds of each run and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def best_and_median(times: list[float], digits: int = 3) -> dict[str, float]:
    """``best_s`` and ``median_s`` of a list of timings."""
    return {
        "best_s": round(min(times), digits),
        "median_s": round(statistics.median(times), digits),
    }
