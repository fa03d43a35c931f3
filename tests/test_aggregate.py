from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geojtai import aggregate, grid

RES = 9


def cells_at(points: list[tuple[float, float]]) -> np.ndarray:
    lat = np.array([p[0] for p in points])
    lon = np.array([p[1] for p in points])
    return grid.cells_from_points(lat, lon, resolution=RES)


def test_month_index_round_trip() -> None:
    labels = ["2023-12", "2024-01", "2026-11"]
    idx = aggregate.month_index(labels)
    assert np.diff(idx).tolist() == [1, 34]
    assert aggregate.month_labels(idx).tolist() == labels


def test_hand_worked_table() -> None:
    a, b = cells_at([(51.5, -0.1), (51.6, -0.2)])
    cells = np.array([a, a, b, a, b], dtype=np.uint64)
    months = aggregate.month_index(["2024-01", "2024-01", "2024-01", "2024-02", "2024-03"])
    harm = np.array([365.0, 20.0, 365.0, 1.0, 2.0])
    cats = np.array(
        ["robbery", "public order", "robbery", "anti-social behaviour", None], dtype=object
    )
    src = np.array(["police", "police", "emergency department", "police", "police"], dtype=object)
    table = aggregate.cell_month_table(
        cells, months, resolution=RES, harm=harm, groups={"category": cats, "source": src}
    )
    key = dict(
        zip(
            zip(table["cell"], aggregate.month_labels(table["month"]), strict=True),
            table.index,
            strict=True,
        )
    )
    row = table.loc[key[(a, "2024-01")]]
    assert row["count"] == 2 and row["harm"] == 385.0
    assert row["count_robbery"] == 1 and row["count_public_order"] == 1
    assert row["count_source_police"] == 2
    assert table.loc[key[(b, "2024-03")], "count_unknown"] == 1
    assert table["count"].sum() == 5
    assert table["cell"].is_monotonic_increasing


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 300),
    seed=st.integers(0, 10_000),
    months=st.integers(1, 60),
)
def test_counts_sum_to_rows_and_ignore_order(n: int, seed: int, months: int) -> None:
    rng = np.random.default_rng(seed)
    lat, lon = rng.uniform(51.4, 51.6, n), rng.uniform(-0.3, 0.0, n)
    cells = grid.cells_from_points(lat, lon, resolution=RES)
    month = rng.integers(24000, 24000 + months, n)
    cats = rng.choice(np.array(["robbery", "violence with injury", "drugs"], dtype=object), n)
    table = aggregate.cell_month_table(cells, month, resolution=RES, groups={"category": cats})
    assert table["count"].sum() == n
    group_cols = [c for c in table.columns if c.startswith("count_")]
    assert (table[group_cols].sum(axis=1) == table["count"]).all()
    perm = rng.permutation(n)
    shuffled = aggregate.cell_month_table(
        cells[perm], month[perm], resolution=RES, groups={"category": cats[perm]}
    )
    pd.testing.assert_frame_equal(table, shuffled)


def test_cell_totals() -> None:
    a, b = cells_at([(51.5, -0.1), (51.6, -0.2)])
    cells = np.array([a, a, b, a], dtype=np.uint64)
    months = aggregate.month_index(["2024-01", "2024-05", "2024-02", "2024-05"])
    totals = aggregate.cell_totals(aggregate.cell_month_table(cells, months, resolution=RES))
    row = totals.set_index("cell").loc[a]
    assert row["count"] == 3 and row["months_active"] == 2
    assert aggregate.month_labels(np.array([row["first_month"], row["last_month"]])).tolist() == [
        "2024-01",
        "2024-05",
    ]


def test_fused_path_matches_table() -> None:
    rng = np.random.default_rng(5)
    n = 20_000
    lat, lon = rng.uniform(53.6, 53.9, n), rng.uniform(-1.9, -1.3, n)
    month = rng.integers(24000, 24036, n)
    fused = aggregate.cell_month_counts_from_points(lat, lon, month, resolution=RES, block=1000)
    table = aggregate.cell_month_table(
        grid.cells_from_points(lat, lon, resolution=RES), month, resolution=RES
    )
    assert np.array_equal(fused["cell"].to_numpy(), table["cell"].to_numpy())
    assert np.array_equal(fused["month"].to_numpy(), table["month"].to_numpy())
    assert np.array_equal(fused["count"].to_numpy(), table["count"].to_numpy())


def test_mismatched_lengths_raise() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        aggregate.cell_month_table(np.zeros(2, np.uint64), np.zeros(3, np.int64), resolution=RES)


def test_column_slug() -> None:
    assert aggregate.column_slug("Violence with injury") == "violence_with_injury"
    assert aggregate.column_slug("10-17") == "10_17"
    assert aggregate.column_slug("") == "unknown"
