"""The fused path, ``aggregate.cell_month_counts_from_points``, against the plain one.

The plain path is ``grid.cells_from_points`` then ``aggregate.cell_month_table``; the fused
one must give the same frame (cell, month, count; same dtypes and order) in every mode.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geojtai import aggregate, grid

RES = 9


def _points(
    n: int, *, seed: int = 0, map_points: int | None = None, months: int = 36
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points over West Yorkshire; with ``map_points``, snapped to that many shared points."""
    rng = np.random.default_rng(seed)
    size = map_points or n
    lat, lon = rng.uniform(53.55, 53.95, size), rng.uniform(-2.2, -1.2, size)
    if map_points:
        which = rng.integers(0, map_points, n)
        lat, lon = lat[which], lon[which]
    return lat, lon, 24_240 + rng.integers(0, months, n)


def _plain(lat: np.ndarray, lon: np.ndarray, month: np.ndarray, res: int = RES) -> pd.DataFrame:
    cells = grid.cells_from_points(lat, lon, resolution=res)
    return aggregate.cell_month_table(cells, month, resolution=res)


@pytest.mark.parametrize("distinct", [False, True])
@pytest.mark.parametrize(
    ("n", "kwargs", "options"),
    [
        pytest.param(0, {}, {}, id="empty"),
        pytest.param(1, {}, {}, id="one point"),
        pytest.param(7, {}, {}, id="tiny"),
        pytest.param(3, {}, {"threads": 4}, id="more threads than points"),
        pytest.param(5_000, {}, {"threads": 1, "block": 333}, id="one thread, many blocks"),
        pytest.param(20_000, {}, {"threads": 3, "block": 1_000}, id="three threads"),
        pytest.param(20_000, {"months": 600}, {}, id="fifty years of months"),
        pytest.param(20_000, {"months": 1}, {}, id="one month"),
        pytest.param(20_000, {"map_points": 40}, {"block": 999}, id="repeating points"),
    ],
)
def test_fused_equals_plain(
    n: int, kwargs: dict[str, Any], options: dict[str, Any], distinct: bool
) -> None:
    lat, lon, month = _points(n, **kwargs)
    fused = aggregate.cell_month_counts_from_points(
        lat, lon, month, resolution=RES, distinct=distinct, **options
    )
    pd.testing.assert_frame_equal(fused, _plain(lat, lon, month))
    assert fused["count"].sum() == n


@pytest.mark.parametrize("res", [0, 5, 12, 15])
def test_fused_equals_plain_at_other_resolutions(res: int) -> None:
    lat, lon, month = _points(3_000, seed=res, months=12)
    fused = aggregate.cell_month_counts_from_points(lat, lon, month, resolution=res)
    pd.testing.assert_frame_equal(fused, _plain(lat, lon, month, res))


def test_inputs_are_not_changed() -> None:
    lat, lon, month = _points(10_000, map_points=100)
    copies = lat.copy(), lon.copy(), month.copy()
    aggregate.cell_month_counts_from_points(lat, lon, month, resolution=RES, distinct=True)
    for before, after in zip(copies, (lat, lon, month), strict=True):
        assert np.array_equal(before, after)


def test_months_need_not_be_int64_or_contiguous() -> None:
    lat, lon, month = _points(4_000)
    fused = aggregate.cell_month_counts_from_points(
        lat[::2], lon[::2], month[::2].astype(np.int32), resolution=RES
    )
    pd.testing.assert_frame_equal(fused, _plain(lat[::2], lon[::2], month[::2]))


def test_distinct_cache_collisions_and_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    # 2,000 points get the smallest table (1,024 slots), so 600 map points collide often;
    # small lookup steps (a private knob) make later steps hit what earlier ones stored.
    # (0, 0) looks like an empty slot, and -0.0 hashes apart from 0.0.
    monkeypatch.setattr(grid._CellCache, "_STEP", 256)
    lat, lon, month = _points(2_000, map_points=600)
    lat[::40], lon[::40] = 0.0, 0.0
    lat[1::97], lon[1::97] = -0.0, 0.0
    fused = aggregate.cell_month_counts_from_points(lat, lon, month, resolution=RES, distinct=True)
    pd.testing.assert_frame_equal(fused, _plain(lat, lon, month))


def test_distinct_cache_gives_up_on_distinct_points(monkeypatch: pytest.MonkeyPatch) -> None:
    # Judge the hit rate early (private knobs) so that both of the cache's paths run.
    monkeypatch.setattr(grid._CellCache, "_PROBE", 2_000)
    monkeypatch.setattr(grid._CellCache, "_STEP", 500)
    lat, lon, month = _points(20_000)
    fused = aggregate.cell_month_counts_from_points(lat, lon, month, resolution=RES, distinct=True)
    pd.testing.assert_frame_equal(fused, _plain(lat, lon, month))


@pytest.mark.parametrize("distinct", [False, True])
@pytest.mark.parametrize(
    ("lat", "lon"),
    [(np.nan, 0.0), (53.7, np.inf), (91.0, -1.5), (53.7, 181.0), (-90.5, -1.5), (53.7, np.nan)],
)
def test_invalid_coordinates_raise(lat: float, lon: float, distinct: bool) -> None:
    lats, lons, month = _points(1_000)
    lats[[10, 500]], lons[[10, 500]] = lat, lon
    with pytest.raises(ValueError, match="2 coordinates are NaN, infinite or out of range"):
        aggregate.cell_month_counts_from_points(
            lats, lons, month, resolution=RES, distinct=distinct
        )


def test_lengths_must_match() -> None:
    lat, lon, month = _points(10)
    with pytest.raises(ValueError, match="differ in length"):
        aggregate.cell_month_counts_from_points(lat, lon, month[:-1], resolution=RES)


def test_too_many_months_for_the_cell_bits() -> None:
    lat, lon, _ = _points(2)
    with pytest.raises(ValueError, match="Too many months"):
        aggregate.cell_month_counts_from_points(lat, lon, np.array([0, 1 << 13]), resolution=15)


_POOL = _points(12, seed=7, map_points=None)  # a few map points that incidents share


@settings(max_examples=40, deadline=None)
@given(
    which=st.lists(st.integers(0, 11), max_size=300),
    months=st.lists(st.integers(24_000, 24_030), min_size=300, max_size=300),
    seed=st.integers(0, 2**32 - 1),
    distinct=st.booleans(),
    threads=st.integers(1, 3),
)
def test_counts_sum_to_points_and_ignore_row_order(
    which: list[int], months: list[int], seed: int, distinct: bool, threads: int
) -> None:
    idx = np.array(which, dtype=np.int64)
    lat, lon = _POOL[0][idx], _POOL[1][idx]
    month = np.array(months[: idx.size], dtype=np.int64)
    options: dict[str, Any] = {
        "resolution": RES,
        "distinct": distinct,
        "threads": threads,
        "block": 64,
    }
    counts = aggregate.cell_month_counts_from_points(lat, lon, month, **options)
    assert counts["count"].sum() == idx.size
    assert (counts["count"] > 0).all()
    order = np.random.default_rng(seed).permutation(idx.size)
    shuffled = aggregate.cell_month_counts_from_points(
        lat[order], lon[order], month[order], **options
    )
    pd.testing.assert_frame_equal(counts, shuffled)
    pd.testing.assert_frame_equal(counts, _plain(lat, lon, month))
