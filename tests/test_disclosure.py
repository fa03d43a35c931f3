from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geojtai import grid
from geojtai.disclosure import (
    MIN_THRESHOLD,
    PROFILES,
    DisclosureRule,
    publish_cells,
    publish_count,
    publish_harm,
    publish_table,
)
from geojtai.errors import DisclosureError

RULE = DisclosureRule()
INTERNAL = DisclosureRule(profile="internal")
# G: a res-7 cell; A8, B8: two of its res-8 children; A9, B9: the res-9 children of A8, B8.
G = grid.cells_from_points(np.array([52.49]), np.array([-1.39]), resolution=7)
_, CHILDREN8 = grid.cell_children(G, 8)
A8, B8 = CHILDREN8[:2]
A9 = grid.cell_children(np.array([A8]), 9)[1]
B9 = grid.cell_children(np.array([B8]), 9)[1]


def hexes(cells: np.ndarray | list[np.uint64]) -> list[str]:
    return grid.cells_to_hex(np.asarray(cells, dtype=np.uint64)).tolist()


def rows(frame: pd.DataFrame) -> dict[str, tuple[int, float, bool, int]]:
    """``{h3: (resolution, count, suppressed, rolled_up)}`` (count NaN shown as -1)."""
    shown = frame["count"].fillna(-1.0).tolist()
    return {
        h: (r, c, s, n)
        for h, r, c, s, n in zip(
            frame["h3"],
            frame["resolution"],
            shown,
            frame["suppressed"],
            frame["rolled_up"],
            strict=True,
        )
    }


# --- the rule -----------------------------------------------------------------------------


def test_default_rule() -> None:
    assert (RULE.threshold, RULE.rounding, RULE.max_rollup, RULE.profile) == (
        10,
        5,
        2,
        "publishable",
    )
    assert PROFILES == ("internal", "publishable") and MIN_THRESHOLD == 8
    assert RULE.floor == 10 and DisclosureRule(threshold=12).floor == 15
    assert DisclosureRule(threshold=8, rounding=1).floor == 8


def test_threshold_below_eight_is_an_error() -> None:
    with pytest.raises(DisclosureError, match="at least 8; 7 was given"):
        DisclosureRule(threshold=7)


def test_every_bad_setting_is_reported_at_once() -> None:
    with pytest.raises(DisclosureError) as info:
        DisclosureRule(threshold=2, rounding=0, max_rollup=-1, profile="public")
    assert len(info.value.problems) == 4
    assert "'public' is not one of: internal, publishable" in str(info.value)


@pytest.mark.parametrize("value", [10.0, "10", True])
def test_threshold_must_be_a_whole_number(value: object) -> None:
    with pytest.raises(DisclosureError, match="whole number"):
        DisclosureRule(threshold=value)  # type: ignore[arg-type]


def test_describe() -> None:
    text = RULE.describe()
    assert text.startswith("Counts of 1 to 9 are merged into parent H3 cells (up to 2 levels")
    assert "rounded to the nearest 5 (never below 10)" in text and text.endswith("shown.")
    assert text.count(".") == 1  # one sentence
    assert "never below 15" in DisclosureRule(threshold=12).describe()
    assert "Counts of 1 to 9 are suppressed;" in DisclosureRule(max_rollup=0).describe()
    assert "shown as they are" in DisclosureRule(rounding=1).describe()
    assert INTERNAL.describe().startswith("Internal profile: exact counts")


# --- single numbers -----------------------------------------------------------------------


def test_publish_count_known_answers() -> None:
    values = [0, 1, 9, 10, 12, 12.5, 13, 17, 18, 27, np.nan]
    expected = [0, np.nan, np.nan, 10, 10, 15, 15, 15, 20, 25, np.nan]
    np.testing.assert_array_equal(publish_count(values, RULE), expected)
    np.testing.assert_array_equal(publish_count(12, RULE), [10.0])
    np.testing.assert_array_equal(publish_count(np.array([[3, 30]]), RULE), [[np.nan, 30.0]])


def test_publish_count_never_rounds_below_the_threshold() -> None:
    rule = DisclosureRule(threshold=12)
    np.testing.assert_array_equal(
        publish_count([11, 12, 13, 17, 18, 22], rule), [np.nan, 15, 15, 15, 20, 20]
    )
    np.testing.assert_array_equal(
        publish_count([7, 8, 9], DisclosureRule(threshold=8, rounding=1)), [np.nan, 8, 9]
    )


def test_publish_count_internal_and_bad_input() -> None:
    values = np.array([0, 3, 12])
    np.testing.assert_array_equal(publish_count(values, INTERNAL), values)
    with pytest.raises(DisclosureError, match="1 counts are negative"):
        publish_count([3, -1], RULE)


def test_publish_harm() -> None:
    harm = [0.0, 100.0, 1234.5, 987.0, 0.0456, 365.0]
    got = publish_harm(harm, [0, 5, 12, 40, 10, 10], RULE)
    np.testing.assert_allclose(got, [0.0, np.nan, 1200.0, 990.0, 0.046, 370.0])
    np.testing.assert_array_equal(publish_harm(harm, [0, 5, 12, 40, 10, 10], INTERNAL), harm)
    assert publish_harm([1234.5], [12], RULE, significant=3).tolist() == [1230.0]
    with pytest.raises(DisclosureError, match="differ in shape"):
        publish_harm([1.0, 2.0], [12], RULE)


# --- cells --------------------------------------------------------------------------------


def test_sibling_cells_known_answers() -> None:
    cells = [*A9[:7], B9[0]]
    counts = [3, 4, 9, 10, 12, 13, 27, 0]
    got = publish_cells(hexes(cells), counts, RULE, min_resolution=7, keep_raw=True)
    h = hexes(cells)
    assert rows(got) == {
        h[3]: (9, 10.0, False, 0),
        h[4]: (9, 10.0, False, 0),
        h[5]: (9, 15.0, False, 0),
        h[6]: (9, 25.0, False, 0),
        hexes([A8])[0]: (8, 15.0, False, 3),  # 3 + 4 + 9 = 16, the remainder hexagon
    }
    assert got["raw"].tolist() == [10, 12, 13, 27, 16]
    assert list(got.columns) == ["h3", "resolution", "count", "suppressed", "rolled_up", "raw"]
    assert got["resolution"].tolist() == [9, 9, 9, 9, 8]  # input cells first


def test_three_small_children_roll_up_to_their_parent() -> None:
    got = publish_cells(hexes(A9[:3]), [3, 4, 5], RULE, min_resolution=7)
    assert rows(got) == {hexes([A8])[0]: (8, 10.0, False, 3)}  # 12 → 10
    assert "raw" not in got


def test_a_group_that_never_passes_is_one_suppressed_row() -> None:
    got = publish_cells(hexes(A9[:2]), [2, 3], RULE, min_resolution=7, keep_raw=True)
    assert rows(got) == {hexes(G)[0]: (7, -1.0, True, 2)}
    assert got["raw"].tolist() == [5]
    # Not coarser than min_resolution, nor more levels than max_rollup.
    at8 = publish_cells(hexes(A9[:2]), [2, 3], RULE, min_resolution=8)
    assert rows(at8) == {hexes([A8])[0]: (8, -1.0, True, 2)}
    one = publish_cells(hexes(A9[:2]), [2, 3], DisclosureRule(max_rollup=1), min_resolution=5)
    assert rows(one) == {hexes([A8])[0]: (8, -1.0, True, 2)}


def test_without_roll_up_small_cells_are_suppressed_in_place() -> None:
    got = publish_cells(hexes(A9[:2]), [2, 3], DisclosureRule(max_rollup=0), min_resolution=7)
    assert rows(got) == {h: (9, -1.0, True, 0) for h in hexes(A9[:2])}
    same = publish_cells(hexes(A9[:2]), [2, 3], RULE, min_resolution=9)
    assert rows(same) == rows(got)


def test_two_levels_of_roll_up() -> None:
    cells = [A9[0], A9[1], B9[0], B9[1]]
    got = publish_cells(hexes(cells), [2, 3, 4, 2], RULE, min_resolution=7)
    assert rows(got) == {hexes(G)[0]: (7, 10.0, False, 4)}  # 5 and 6 fail, 11 passes


def test_remainder_leaves_out_children_shown_on_their_own() -> None:
    cells = [A9[0], A9[1], A9[2], B9[0]]
    got = publish_cells(hexes(cells), [12, 3, 4, 5], RULE, min_resolution=7, keep_raw=True)
    assert rows(got) == {
        hexes([A9[0]])[0]: (9, 10.0, False, 0),
        hexes(G)[0]: (7, 10.0, False, 3),  # 3 + 4 (failed at A8) + 5 (failed at B8) = 12
    }
    assert got["raw"].sum() == 24


def test_zeros_are_dropped() -> None:
    got = publish_cells(hexes(A9[:3]), [0, 0, 0], RULE, min_resolution=7)
    assert got.empty
    assert list(got.columns) == ["h3", "resolution", "count", "suppressed", "rolled_up"]
    empty = publish_cells([], [], RULE, min_resolution=7)
    assert empty.empty


def test_internal_profile_returns_the_inputs_unchanged() -> None:
    counts = [3, 4, 9, 10, 12, 13, 27]
    got = publish_cells(hexes(A9[:7]), counts, INTERNAL, min_resolution=7)
    assert got["h3"].tolist() == sorted(hexes(A9[:7]))
    by_cell = dict(zip(hexes(A9[:7]), counts, strict=True))
    assert got["count"].tolist() == [by_cell[h] for h in got["h3"]]
    assert not got["suppressed"].any() and (got["rolled_up"] == 0).all()


@pytest.mark.parametrize(
    ("cells", "counts", "min_resolution", "message"),
    [
        (hexes(A9[:2]), [3], 7, "2 cells but 1 counts"),
        (hexes(A9[:2]), [3, 2.5], 7, "whole numbers"),
        (hexes(A9[:2]), [3, np.nan], 7, "whole numbers"),
        (hexes(A9[:2]), [3, -2], 7, "negative"),
        (hexes([A9[0], A9[0]]), [3, 2], 7, "cells repeat"),
        (hexes([A9[0], B8]), [3, 2], 7, "mix resolutions [8, 9]"),
        (hexes(A9[:2]), [3, 2], 10, "`min_resolution` must be 0..9"),
        (["zz"], [3], 7, "not H3 cells"),
    ],
)
def test_bad_cells_are_errors(
    cells: list[str], counts: list[float], min_resolution: int, message: str
) -> None:
    with pytest.raises(DisclosureError, match=re.escape(message)):
        publish_cells(cells, counts, RULE, min_resolution=min_resolution)


# --- tables -------------------------------------------------------------------------------


def place_share() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "period": ["all", "all", "all", "2024-01", "2024-01"],
            "place_type": ["parks", "streets", "schools", "parks", "streets"],
            "incidents": [40, 62, 3, 12, 0],
            "harm": [14600.0, 20123.0, 1095.0, 4380.0, 0.0],
            "share_incidents": [0.381, 0.590, 0.029, 1.0, 0.0],
            "share_harm": [0.41, 0.56, 0.03, 1.0, 0.0],
        }
    )


def test_publish_table_recomputes_shares_from_published_numbers() -> None:
    frame = place_share()
    got = publish_table(
        frame,
        ["incidents"],
        RULE,
        harm_columns={"harm": "incidents"},
        share_columns={"share_incidents": "incidents", "share_harm": "harm"},
        group_by="period",
    )
    np.testing.assert_array_equal(got["incidents"], [40, 60, np.nan, 10, 0])
    np.testing.assert_array_equal(got["harm"], [15000, 20000, np.nan, 4400, 0])
    np.testing.assert_allclose(got["share_incidents"], [0.4, 0.6, np.nan, 1.0, 0.0])
    np.testing.assert_allclose(got["share_harm"], [15 / 35, 20 / 35, np.nan, 1.0, 0.0])
    pd.testing.assert_frame_equal(frame, place_share())  # the input is untouched


def test_publish_table_over_the_whole_table_and_internal() -> None:
    series = pd.DataFrame({"month": ["2024-01", "2024-02"], "count": [8, 32]})
    got = publish_table(series, ["count"], RULE, share_columns={"share": "count"})
    assert got["count"].isna().tolist() == [True, False] and got["share"].tolist()[1] == 1.0
    pd.testing.assert_frame_equal(
        publish_table(place_share(), ["incidents"], INTERNAL), place_share()
    )


def test_publish_table_bad_columns() -> None:
    with pytest.raises(DisclosureError) as info:
        publish_table(
            place_share(),
            ["incidents", "count"],
            RULE,
            share_columns={"share_harm": "harm"},
            group_by="month",
        )
    assert info.value.problems == [
        "column 'count' is missing",
        "column 'month' is missing",
        "share 'share_harm' is computed from 'harm', which is not a count or harm column here",
    ]


# --- properties on random cells -----------------------------------------------------------

PARENTS7 = grid.cells_from_points(
    np.array([52.49, 52.52, 52.46]), np.array([-1.39, -1.44, -1.35]), resolution=7
)
POOL = np.unique(grid.cell_children(PARENTS7, 9)[1])


@st.composite
def cells_and_rule(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, DisclosureRule, int]:
    chosen = draw(st.lists(st.sampled_from(range(POOL.size)), max_size=60, unique=True))
    counts = draw(st.lists(st.integers(0, 25), min_size=len(chosen), max_size=len(chosen)))
    rule = DisclosureRule(
        threshold=draw(st.integers(8, 15)),
        rounding=draw(st.sampled_from([1, 2, 5, 10])),
        max_rollup=draw(st.integers(0, 3)),
    )
    return POOL[chosen], np.array(counts, dtype=np.int64), rule, draw(st.integers(5, 9))


@settings(max_examples=200, deadline=None)
@given(cells_and_rule())
def test_published_cells_keep_every_promise(
    case: tuple[np.ndarray, np.ndarray, DisclosureRule, int],
) -> None:
    cells, counts, rule, min_resolution = case
    got = publish_cells(hexes(cells), counts, rule, min_resolution=min_resolution, keep_raw=True)
    shown = got["count"].dropna().to_numpy()
    # No small number is shown; every shown number is a multiple of the rounding.
    assert not ((shown > 0) & (shown < rule.threshold)).any()
    assert (shown % rule.rounding == 0).all()
    # Every incident is in exactly one row, and every non-empty input cell in one row.
    assert got["raw"].sum() == counts.sum()
    assert (got["rolled_up"].sum() + (got["rolled_up"] == 0).sum()) == np.count_nonzero(counts)
    assert got["h3"].is_unique
    # Suppressed rows are exactly the groups that stayed small; rows stay within the bounds.
    assert (got["suppressed"] == got["count"].isna()).all()
    assert (got.loc[got["suppressed"], "raw"] < rule.threshold).all()
    assert (got.loc[~got["suppressed"], "raw"] >= rule.threshold).all()
    assert got["resolution"].between(max(min_resolution, 9 - rule.max_rollup), 9).all()
    # Rows merged from several cells sit above them: each merged row's cell is their parent.
    merged = got[got["rolled_up"] > 0]
    if not merged.empty:
        ids = grid.cells_from_hex(merged["h3"])
        for resolution in np.unique(merged["resolution"]):
            parents = grid.cell_parents(cells, int(resolution))
            at = ids[merged["resolution"].to_numpy() == resolution]
            assert np.isin(at, parents).all()
    # Published cells at the input resolution are the inputs at or above the threshold.
    own = got[got["resolution"] == 9]
    assert set(own.loc[~own["suppressed"], "h3"]) == set(hexes(cells[counts >= rule.threshold]))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 10_000), max_size=50), st.integers(8, 20), st.integers(1, 10))
def test_published_counts_are_close_and_never_small(
    values: list[int], threshold: int, rounding: int
) -> None:
    rule = DisclosureRule(threshold=threshold, rounding=rounding)
    counts = np.array(values, dtype=np.float64)
    shown = publish_count(counts, rule)
    small = (counts > 0) & (counts < threshold)
    assert np.isnan(shown[small]).all() and (shown[counts == 0] == 0).all()
    big = counts >= threshold
    assert (shown[big] >= threshold).all() and (shown[big] % rounding == 0).all()
    assert (np.abs(shown[big] - counts[big]) <= max(rounding, rule.floor - threshold)).all()
