"""Risk × coverage classes: known answers, ties, zero risk, no interventions, coverage.json."""

from __future__ import annotations

import colorsys
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geojtai import coverage, grid
from geojtai.bivariate import (
    BIVARIATE_COLOURS,
    COVERAGE_CLASSES,
    RISK_CLASSES,
    bivariate_classes,
    class_counts,
    coverage_classes,
    risk_classes,
    top_count,
    top_risk_positions,
)


@pytest.mark.parametrize(
    ("n", "share", "expected"),
    [
        (0, 0.1, 0),
        (1, 0.1, 1),
        (6, 0.1, 1),
        (10, 0.1, 1),
        (11, 0.1, 2),
        (30, 0.1, 3),
        (347, 0.1, 35),
    ],
)
def test_top_count(n: int, share: float, expected: int) -> None:
    assert top_count(n, share) == expected


def test_twenty_distinct_risks() -> None:
    """20 cells: the 2 riskiest are high, the next 4 medium, the other 14 low."""
    risk = np.arange(1.0, 21.0)[::-1].copy()  # 20, 19, ..., 1
    classes = risk_classes(risk)
    assert classes.tolist() == ["high"] * 2 + ["medium"] * 4 + ["low"] * 14


def test_order_of_cells_does_not_matter_without_ties() -> None:
    rng = np.random.default_rng(7)
    risk = rng.random(50)
    order = rng.permutation(50)
    assert (risk_classes(risk)[order] == risk_classes(risk[order])).all()


def test_ties_keep_the_cell_order() -> None:
    """Ten equal risks: the first cell is high, the next two medium (a stable sort)."""
    classes = risk_classes(np.ones(10))
    assert classes.tolist() == ["high", "medium", "medium"] + ["low"] * 7


def test_ties_at_the_boundary() -> None:
    """Two cells tie for the one high place: the earlier one takes it."""
    risk = np.array([1.0, 5.0, 2.0, 5.0, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    assert risk_classes(risk).tolist() == [
        "low", "high", "medium", "medium", "low", "low", "low", "low", "low", "low",
    ]  # fmt: skip


def test_all_zero_risk_is_all_low() -> None:
    assert set(risk_classes(np.zeros(25))) == {"low"}
    classes = bivariate_classes(np.zeros(4), np.array([0, 1, 2, 0]))
    assert classes["class"].tolist() == ["low-none", "low-single", "low-multi", "low-none"]


def test_zero_negative_and_missing_risk_are_low() -> None:
    risk = np.array([np.nan, 0.0, -1.0, 3.0])
    assert risk_classes(risk).tolist() == ["low", "low", "low", "high"]


def test_missing_risk_ranks_last() -> None:
    """As in coverage.json: a NaN never takes a top place from a known risk."""
    risk = np.array([np.nan, 0.1, 0.2, np.nan])
    assert top_risk_positions(risk, 0.5).tolist() == [2, 1]


def test_no_interventions_means_no_coverage() -> None:
    risk = np.linspace(0.1, 3.0, 30)
    classes = bivariate_classes(risk, None)
    assert set(classes["coverage_class"]) == {"none"}
    assert classes["class"].str.endswith("-none").all()
    table = class_counts(classes)
    assert table["none"].tolist() == [3, 6, 21]  # high, medium, low
    assert table[["single", "multi"]].to_numpy().sum() == 0


@pytest.mark.parametrize(
    ("depth", "expected"),
    [
        ([0, 1, 2, 7], ["none", "single", "multi", "multi"]),
        ([np.nan, 1.0], ["none", "single"]),
        ([], []),
    ],
)
def test_coverage_classes(depth: list[float], expected: list[str]) -> None:
    assert coverage_classes(np.array(depth, dtype=float)).tolist() == expected


def test_known_answer_on_a_hand_made_frame() -> None:
    risk = pd.Series([0.5, 3.0, 1.0, 2.0, 0.0, 0.2])
    depth = pd.Series([0, 0, 2, 1, 3, 0])
    classes = bivariate_classes(risk, depth)
    assert classes["class"].tolist() == [
        "low-none", "high-none", "low-multi", "medium-single", "low-multi", "low-none",
    ]  # fmt: skip
    assert classes["fill"].tolist() == [BIVARIATE_COLOURS[c] for c in classes["class"]]
    table = class_counts(classes)
    assert list(table.index) == ["high", "medium", "low"]
    assert list(table.columns) == list(COVERAGE_CLASSES)
    assert table.to_numpy().tolist() == [[1, 0, 0], [0, 1, 0], [2, 0, 2]]


def test_inputs_are_not_changed() -> None:
    risk, depth = np.array([np.nan, 1.0, 2.0]), np.array([np.nan, 1.0, 0.0])
    before = risk.copy(), depth.copy()
    bivariate_classes(risk, depth)
    np.testing.assert_array_equal(risk, before[0])
    np.testing.assert_array_equal(depth, before[1])


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="3 cells but `depth` has 2"):
        bivariate_classes(np.ones(3), np.zeros(2))


def test_no_cells() -> None:
    classes = bivariate_classes(np.zeros(0), np.zeros(0))
    assert classes.empty
    assert int(class_counts(classes).to_numpy().sum()) == 0


def _saturation(colour: str) -> float:
    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return colorsys.rgb_to_hsv(r, g, b)[1]


def test_high_risk_with_no_coverage_stands_out() -> None:
    """A saturated red for high-none; every other class a muted blue-grey."""
    assert set(BIVARIATE_COLOURS) == {f"{r}-{c}" for r in RISK_CLASSES for c in COVERAGE_CLASSES}
    assert _saturation(BIVARIATE_COLOURS["high-none"]) > 0.8
    others = [_saturation(c) for k, c in BIVARIATE_COLOURS.items() if k != "high-none"]
    assert max(others) < 0.5
    assert len(set(BIVARIATE_COLOURS.values())) == 9


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0, 50, allow_nan=False), min_size=1, max_size=80),
    st.data(),
)
def test_high_class_is_coverage_jsons_top_ten_percent(
    risk: list[float], data: st.DataObject
) -> None:
    """The high class and its coverage reproduce coverage_summary's top 10 % figures."""
    values = np.array(risk)
    depth = np.array(data.draw(st.lists(st.integers(0, 3), min_size=len(risk), max_size=len(risk))))
    summary: dict[str, Any] = coverage.coverage_summary(values, depth)
    top = summary["top"]["10%"]
    chosen = top_risk_positions(values)
    assert chosen.size == top["cells"]
    assert round(float((depth[chosen] > 0).mean()), 4) == top["covered"]
    assert round(float((depth[chosen] >= 2).mean()), 4) == top["two_or_more"]
    high = risk_classes(values) == "high"
    assert set(np.flatnonzero(high)) == {int(i) for i in chosen if values[i] > 0}


def test_high_none_cells_are_the_no_coverage_gaps() -> None:
    """The red cells of the bivariate map are the gap list's "no coverage" cells."""
    rng = np.random.default_rng(3)
    cells = np.unique(
        grid.cells_from_points(
            52 + rng.random(300) * 0.05, -1 + rng.random(300) * 0.05, resolution=9
        )
    )
    risk = rng.gamma(1.0, size=cells.size)
    depth = rng.integers(0, 3, size=cells.size)
    found = coverage.gaps(cells, risk, depth)
    classes = bivariate_classes(risk, depth)
    red = np.flatnonzero(classes["class"].to_numpy() == "high-none")
    assert set(red) == set(found.loc[found["gap"] == "no coverage", "position"])
    amber = np.flatnonzero(classes["class"].to_numpy() == "high-single")
    assert set(amber) == set(found.loc[found["gap"] == "single agency", "position"])
