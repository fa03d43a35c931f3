from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse, stats

from geojtai import grid
from geojtai.errors import SchemaError, SettingsError
from geojtai.hotspots import (
    BIN_LABELS,
    EMERGING_CATEGORIES,
    NO_PATTERN,
    benjamini_hochberg,
    bh_adjusted,
    emerging_hotspots,
    gi_star,
    hotspot_bins,
    hotspots,
    mann_kendall,
    temporal_profile,
)

LONDON = (51.5, -0.1)

# --- hand-built weights ------------------------------------------------------------------


def lattice(rows: int, cols: int, *, rook: bool) -> np.ndarray:
    """Dense 0/1 contiguity of a rows × cols lattice, self included (row-major cell order)."""
    w = np.zeros((rows * cols, rows * cols))
    for r in range(rows):
        for c in range(cols):
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    if rook and abs(dr) + abs(dc) > 1:
                        continue
                    if 0 <= r + dr < rows and 0 <= c + dc < cols:
                        w[r * cols + c, (r + dr) * cols + c + dc] = 1.0
    return w


def chain(n: int) -> np.ndarray:
    """Dense 0/1 weights of a 1-D chain: each cell, its left and right neighbour."""
    return lattice(1, n, rook=True)


def textbook_gi_star(x: list[float], w: np.ndarray) -> list[float | None]:
    """Ord & Getis (1995) Gi* with plain loops, independent of the vectorised code.

    ``None`` where the formula is 0/0 (the neighbourhood holds every cell).
    """
    n = len(x)
    mean = sum(x) / n
    s = math.sqrt(sum(v * v for v in x) / n - mean * mean)
    out: list[float | None] = []
    for i in range(n):
        wsum = sum(w[i][j] for j in range(n))
        wsq = sum(w[i][j] ** 2 for j in range(n))
        lag = sum(w[i][j] * x[j] for j in range(n))
        denom = s * math.sqrt((n * wsq - wsum**2) / (n - 1))
        out.append((lag - mean * wsum) / denom if denom > 0 else None)
    return out


LATTICE_Y = [3.0, 1.0, 0.0, 4.0, 9.0, 2.0, 6.0, 8.0, 12.0]

# --- Gi* -----------------------------------------------------------------------------------


@pytest.mark.parametrize("rook", [True, False])
def test_gi_star_matches_textbook_loops(rook: bool) -> None:
    w = lattice(3, 3, rook=rook)
    textbook = textbook_gi_star(LATTICE_Y, w)
    # The queen centre neighbours all 9 cells: 0/0 in the formula, reported as z = 0, p = 1.
    assert (textbook[4] is None) == (not rook)
    expected = np.array([0.0 if v is None else v for v in textbook])
    z, p = gi_star(np.array(LATTICE_Y), sparse.csr_matrix(w))
    np.testing.assert_allclose(z, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(p, 2 * stats.norm.sf(np.abs(expected)), rtol=1e-10)


# Reference numbers from esda 2.9.0 (libpysal 4.14.1, numpy 2.4.6):
#   esda.G_Local(y, w, transform="B", star=True, permutations=0).Zs
# with w = libpysal.weights.lat2W(3, 3, rook=...) (esda adds the self-weight 1 for Gi*) and
# a 6-cell chain W({i: [i-1, i+1]}). esda's variance, W_i (N - W_i) / (N - 1) / N² · s²/x̄²,
# uses Σ_j w_ij where the formula has Σ_j w_ij²: identical for 0/1 weights, different for
# esda's default row-standardised transform "R" (its queen-lattice Zs are 0.4–0.5× ours).
# esda returns NaN where a neighbourhood holds every cell (queen centre); we return 0.
# esda's p_norm is one-sided; ours is two-sided (twice esda's).
ESDA_ROOK_B = [
    -1.2278812270298407,
    -1.1648704120729811,
    -2.1049392463368704,
    0.33282011773513753,
    -0.166410058867569,
    0.4992301766027061,
    0.5262348115842179,
    2.4961508830135313,
    1.227881227029841,
]
ESDA_QUEEN_B = [
    -0.4992301766027061,
    -1.9295276424754642,
    -1.3312804709405497,
    0.1754116038614061,
    float("nan"),
    0.3508232077228122,
    1.1648704120729811,
    1.9295276424754646,
    1.8305106475432562,
]
ESDA_CHAIN_Y = [0.0, 1.0, 5.0, 7.0, 2.0, 0.0]
ESDA_CHAIN_B = [
    -1.2024072240843036,
    -0.42511515094885177,
    1.5587555534791235,
    1.8421656541116915,
    0.42511515094885177,
    -0.9018054180632276,
]
ESDA_CHAIN_P_ONE_SIDED = [
    0.11460289582736538,
    0.3353763668126307,
    0.05952712381143086,
    0.03272546133688291,
    0.3353763668126307,
    0.18358012057089684,
]


def test_gi_star_reproduces_esda_binary_star() -> None:
    z, _ = gi_star(np.array(LATTICE_Y), sparse.csr_matrix(lattice(3, 3, rook=True)))
    np.testing.assert_allclose(z, ESDA_ROOK_B, rtol=1e-12)
    z, _ = gi_star(np.array(LATTICE_Y), sparse.csr_matrix(lattice(3, 3, rook=False)))
    keep = np.arange(9) != 4
    np.testing.assert_allclose(z[keep], np.array(ESDA_QUEEN_B)[keep], rtol=1e-12)
    assert z[4] == 0.0  # esda: NaN
    z, p = gi_star(np.array(ESDA_CHAIN_Y), sparse.csr_matrix(chain(6)))
    np.testing.assert_allclose(z, ESDA_CHAIN_B, rtol=1e-12)
    np.testing.assert_allclose(p, 2 * np.array(ESDA_CHAIN_P_ONE_SIDED), rtol=1e-10)


def test_gi_star_panel_equals_column_by_column() -> None:
    rng = np.random.default_rng(1)
    x = rng.poisson(3.0, size=(12, 5)).astype(float)
    w = sparse.csr_matrix(lattice(3, 4, rook=False))
    z, p = gi_star(x, w)
    assert z.shape == p.shape == (12, 5)
    for t in range(5):
        zt, pt = gi_star(x[:, t], w)
        np.testing.assert_allclose(z[:, t], zt)
        np.testing.assert_allclose(p[:, t], pt)


def test_gi_star_constant_column_is_zero_not_nan() -> None:
    x = np.column_stack([np.zeros(6), np.full(6, 0.1), ESDA_CHAIN_Y])
    z, p = gi_star(x, chain(6))  # dense weights are accepted too
    assert np.isfinite(z).all()
    assert (z[:, :2] == 0).all() and (p[:, :2] == 1).all()
    np.testing.assert_allclose(z[:, 2], ESDA_CHAIN_B, rtol=1e-12)


def test_gi_star_bad_inputs() -> None:
    with pytest.raises(SettingsError, match="weights must be 3 × 3"):
        gi_star(np.ones(3), sparse.identity(4))
    with pytest.raises(SchemaError, match="NaN"):
        gi_star(np.array([1.0, np.nan, 2.0]), sparse.identity(3))
    with pytest.raises(SettingsError, match="1-D"):
        gi_star(np.ones((2, 2, 2)), sparse.identity(2))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=3, max_size=40))
def test_gi_star_property_finite_and_bins_in_range(counts: list[int]) -> None:
    x = np.array(counts, dtype=float)
    z, p = gi_star(x, sparse.csr_matrix(chain(x.size)))
    assert np.isfinite(z).all() and np.isfinite(p).all()
    assert ((p >= 0) & (p <= 1)).all()
    for fdr in (True, False):
        bins = hotspot_bins(z, p, fdr=fdr)
        assert bins.min() >= -3 and bins.max() <= 3
        assert set(np.sign(bins[bins != 0])) <= {-1, 1}
        assert (np.sign(bins[bins != 0]) == np.sign(z[bins != 0])).all()


# --- BH FDR --------------------------------------------------------------------------------

BH_P = [0.001, 0.008, 0.039, 0.041, 0.042, 0.060, 0.074, 0.205, 0.212, 0.216]
# By hand, m = 10: p_(i)·m/i = .01 .04 .13 .1025 .084 .1 .10571 .25625 .23556 .216, then
# the running minimum from the largest rank down.
BH_ADJ = [0.01, 0.04, 0.084, 0.084, 0.084, 0.1, 0.074 * 10 / 7, 0.216, 0.216, 0.216]


def test_bh_hand_worked() -> None:
    mask = benjamini_hochberg(np.array(BH_P), alpha=0.05)
    assert mask.tolist() == [True, True] + [False] * 8  # p_(2) = .008 ≤ 2·.05/10; p_(3) > .015
    np.testing.assert_allclose(bh_adjusted(np.array(BH_P)), BH_ADJ, rtol=1e-12)


def test_bh_keeps_input_order() -> None:
    order = np.random.default_rng(3).permutation(len(BH_P))
    p = np.array(BH_P)[order]
    np.testing.assert_allclose(bh_adjusted(p), np.array(BH_ADJ)[order], rtol=1e-12)
    assert benjamini_hochberg(p).tolist() == (np.array(BH_P)[order] < 0.01).tolist()


def test_bh_edge_cases() -> None:
    assert bh_adjusted(np.zeros(0)).size == 0
    assert bh_adjusted(np.array([1.0, 1.0])).tolist() == [1.0, 1.0]
    with pytest.raises(SchemaError, match="0..1"):
        bh_adjusted(np.array([0.2, 1.2]))
    with pytest.raises(SettingsError, match="alpha"):
        benjamini_hochberg(np.array([0.2]), alpha=0.0)
    with pytest.raises(SettingsError, match="1-D"):
        bh_adjusted(np.zeros((2, 2)))


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=50),
    st.floats(0.001, 0.5),
    st.floats(0.001, 0.5),
)
def test_bh_property_monotone_in_alpha(p: list[float], a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    arr = np.array(p)
    small, large = benjamini_hochberg(arr, lo), benjamini_hochberg(arr, hi)
    assert not (small & ~large).any()
    adj = bh_adjusted(arr)
    assert (adj >= arr - 1e-15).all() and (adj <= 1).all()
    order = np.argsort(arr, kind="stable")
    assert (np.diff(adj[order]) >= -1e-15).all()  # monotone in p


# --- bins ----------------------------------------------------------------------------------


def test_bins_levels_with_and_without_fdr() -> None:
    z = np.array([4.0, 2.2, 1.7, 0.5, -1.7, -2.2, -4.0, 0.0])
    p = np.array([0.001, 0.03, 0.09, 0.6, 0.09, 0.03, 0.001, 1.0])
    assert hotspot_bins(z, p, fdr=False).tolist() == [3, 2, 1, 0, -1, -2, -3, 0]
    # BH over 8: .001 → .004 (99 %); .03 → .06 (90 %); .09 → .12 and .6 → .686 (neither).
    assert hotspot_bins(z, p, fdr=True).tolist() == [3, 1, 0, 0, 0, -1, -3, 0]
    assert BIN_LABELS[2] == "hot spot 95%" and BIN_LABELS[-3] == "cold spot 99%"
    assert BIN_LABELS[0] == "not significant"


def test_bins_boundaries_are_strict() -> None:
    z = np.ones(3)
    assert hotspot_bins(z, np.array([0.01, 0.05, 0.10]), fdr=False).tolist() == [2, 1, 0]


def test_bins_panel_adjusts_per_column() -> None:
    z = np.array([[3.0, 3.0], [1.0, 1.0]])
    p = np.array([[0.02, 0.02], [0.5, 0.02]])
    # Column 0: .02·2/1 = .04 → 95 %; column 1: both .02 → 95 %.
    assert hotspot_bins(z, p).tolist() == [[2, 2], [0, 2]]


# --- Mann-Kendall --------------------------------------------------------------------------


def test_mann_kendall_increasing_and_decreasing() -> None:
    s, z, p = mann_kendall(np.vstack([np.arange(10.0), np.arange(10.0)[::-1]]))
    assert s.tolist() == [45, -45]
    # var = 10·9·25/18 = 125; z = (45 − 1)/√125
    np.testing.assert_allclose(z, [44 / math.sqrt(125), -44 / math.sqrt(125)], rtol=1e-12)
    assert round(float(z[0]), 4) == 3.9355
    np.testing.assert_allclose(p, 2 * stats.norm.sf(44 / math.sqrt(125)), rtol=1e-10)


def test_mann_kendall_ties() -> None:
    # Groups of 2 and 3 equal values: var = (7·6·19 − 2·1·9 − 3·2·11)/18 = 714/18;
    # S = 21 pairs − 4 tied pairs = 17 (no decreasing pair).
    s, z, p = mann_kendall(np.array([1.0, 2, 2, 3, 3, 3, 4]))
    assert s.tolist() == [17]
    np.testing.assert_allclose(z, [16 / math.sqrt(714 / 18)], rtol=1e-12)
    np.testing.assert_allclose(p, 2 * stats.norm.sf(16 / math.sqrt(714 / 18)), rtol=1e-10)


@pytest.mark.parametrize(
    "row", [[5.0] * 8, [1.0, 2.0], [3.0], [2.0, 2.0, 2.0]], ids=["constant", "T2", "T1", "c3"]
)
def test_mann_kendall_degenerate(row: list[float]) -> None:
    _, z, p = mann_kendall(np.array([row]))
    assert z.tolist() == [0.0] and p.tolist() == [1.0]


def test_mann_kendall_agrees_with_kendalltau() -> None:
    rng = np.random.default_rng(5)
    x = np.vstack([rng.normal(size=(20, 15)), rng.integers(0, 4, size=(20, 15)).astype(float)])
    s, z, _ = mann_kendall(x)
    time = np.arange(15)
    for i in range(x.shape[0]):
        tau = stats.kendalltau(time, x[i]).statistic
        assert np.sign(s[i]) == np.sign(tau)
        # The continuity correction takes |S| = 1 to z = 0.
        assert np.sign(z[i]) == (np.sign(s[i]) if abs(s[i]) > 1 else 0)
        if i < 20:  # no ties: tau-b is S over the number of pairs
            assert s[i] == round(tau * 15 * 14 / 2)


def test_mann_kendall_loop_reference_with_ties() -> None:
    rng = np.random.default_rng(9)
    x = rng.integers(0, 3, size=(30, 9)).astype(float)
    s, _, _ = mann_kendall(x)
    for i in range(30):
        ref = sum(int(np.sign(x[i, b] - x[i, a])) for a in range(9) for b in range(a + 1, 9))
        assert s[i] == ref


# --- emerging hot spots on a real H3 neighbourhood -------------------------------------------


@dataclass(frozen=True)
class Disk:
    cells: np.ndarray
    weights: sparse.csr_matrix
    site: np.ndarray  # the centre and its 1-ring (7 cells)
    centre: int
    far: np.ndarray  # cells ≥ 3 steps from the centre
    texture: np.ndarray  # fixed background counts 3..7, the same every period


@pytest.fixture(scope="module")
def disk() -> Disk:
    centre = grid.cells_from_points(np.array([LONDON[0]]), np.array([LONDON[1]]), resolution=9)
    cells = np.sort(grid.grid_disk(centre, 8)[1])  # 217 res-9 cells
    texture = np.random.default_rng(7).integers(3, 8, cells.size).astype(float)
    return Disk(
        cells=cells,
        weights=grid.neighbour_matrix(cells, 1),
        site=np.isin(cells, grid.grid_disk(centre, 1)[1]),
        centre=int(np.flatnonzero(cells == centre[0])[0]),
        far=~np.isin(cells, grid.grid_disk(centre, 2)[1]),
        texture=texture,
    )


def site_panel(disk: Disk, values: list[float | None]) -> np.ndarray:
    """Background texture in every period; the 7 site cells set to ``values[t]`` where given."""
    x = np.repeat(disk.texture[:, None], len(values), axis=1)
    for t, v in enumerate(values):
        if v is not None:
            x[disk.site, t] = v
    return x


_ = None
HOT, COLD = 25.0, 0.0  # per site cell against a background of 3..7
SCENARIOS: dict[str, list[float | None]] = {
    "new hot spot": [_] * 11 + [HOT],
    "consecutive hot spot": [_] * 9 + [HOT] * 3,
    "intensifying hot spot": list(np.arange(10.0, 34.0, 2.0)),
    "persistent hot spot": [HOT] * 12,
    "diminishing hot spot": list(np.arange(32.0, 8.0, -2.0)),
    "sporadic hot spot": [_, _, HOT, _, _, HOT, _, _, HOT, _, _, HOT],
    # cold once, then a final run: oscillating takes precedence over consecutive
    "oscillating hot spot": [_, _, COLD, _, _, _, _, _, _, _, HOT, HOT],
    # hot in 11 of 12 (≥ 90 %), not in the final period, no trend: historical, not persistent
    "historical hot spot": [HOT] * 11 + [_],
    "new cold spot": [_] * 11 + [COLD],
    "consecutive cold spot": [_] * 8 + [COLD] * 4,
    "intensifying cold spot": list(np.linspace(1.1, 0.0, 12)),
    "persistent cold spot": [COLD] * 12,
    "diminishing cold spot": list(np.linspace(0.0, 1.1, 12)),
    "sporadic cold spot": [COLD, _, _, COLD, _, _, _, COLD, _, _, _, COLD],
    "oscillating cold spot": [_, HOT, _, _, _, _, _, _, _, _, _, COLD],
    "historical cold spot": [COLD] * 11 + [_],
}


@pytest.mark.parametrize("category", list(SCENARIOS))
def test_emerging_category_of_a_controlled_site(disk: Disk, category: str) -> None:
    out = emerging_hotspots(site_panel(disk, SCENARIOS[category]), disk.weights)
    row = out.iloc[disk.centre]
    assert row["category"] == category
    assert (out.loc[disk.far, "category"] == NO_PATTERN).all()
    assert out.attrs["message"] == ""
    assert not out.isna().any().any()


def test_emerging_counts_and_trend_columns(disk: Disk) -> None:
    out = emerging_hotspots(site_panel(disk, SCENARIOS["intensifying hot spot"]), disk.weights)
    row = out.iloc[disk.centre]
    assert (row["hot_periods"], row["cold_periods"]) == (12, 0)
    assert row["final_bin"] == 3
    assert row["trend_z"] > 0 and row["trend_p"] < 0.05
    out = emerging_hotspots(site_panel(disk, SCENARIOS["sporadic cold spot"]), disk.weights)
    row = out.iloc[disk.centre]
    assert (row["hot_periods"], row["cold_periods"]) == (0, 4)
    assert row["final_bin"] == -3
    assert list(out.columns) == [
        "category",
        "hot_periods",
        "cold_periods",
        "final_bin",
        "trend_z",
        "trend_p",
    ]


def test_every_category_is_reachable() -> None:
    assert set(SCENARIOS) | {NO_PATTERN} == set(EMERGING_CATEGORIES)


def test_emerging_few_periods(disk: Disk) -> None:
    one = emerging_hotspots(site_panel(disk, [HOT]), disk.weights)
    assert (one["category"] == NO_PATTERN).all()
    assert one["final_bin"].iloc[disk.centre] == 3  # the Gi* bin is still reported
    assert "1 period" in one.attrs["message"]
    five = emerging_hotspots(site_panel(disk, [_, _, _, _, HOT]), disk.weights)
    assert five["category"].iloc[disk.centre] == "new hot spot"
    assert "only 5 periods" in five.attrs["message"] and "10" in five.attrs["message"]
    assert not five.isna().any().any()


# --- one study ------------------------------------------------------------------------------


def test_hotspots_finds_the_cluster(disk: Disk) -> None:
    counts = site_panel(disk, SCENARIOS["consecutive hot spot"])
    out = hotspots(disk.cells, counts, k=1)
    assert len(out) == disk.cells.size
    assert out["cell"].tolist() == disk.cells.tolist()
    np.testing.assert_allclose(out["total"], counts.sum(axis=1))
    centre = out.iloc[disk.centre]
    assert centre["gi_bin"] == 3 and centre["gi_class"] == "hot spot 99%"
    assert centre["emerging"] == "consecutive hot spot"
    z, p = gi_star(counts.sum(axis=1), disk.weights)
    np.testing.assert_allclose(out["gi_z"], z)
    np.testing.assert_allclose(out["gi_p_adj"], bh_adjusted(p))
    assert not out.isna().any().any()
    assert out.attrs["message"] == ""


def test_hotspots_k2_uses_wider_rings(disk: Disk) -> None:
    counts = site_panel(disk, SCENARIOS["persistent hot spot"])
    out = hotspots(disk.cells, counts, k=2)
    z, _ = gi_star(counts.sum(axis=1), grid.neighbour_matrix(disk.cells, 2))
    np.testing.assert_allclose(out["gi_z"], z)


@pytest.mark.parametrize(
    ("counts", "expect"),
    [
        (np.zeros((5, 4)), "only 0 cells with incidents"),
        (np.array([[3.0], [0.0], [1.0], [0.0], [0.0]]), "only 2 cells with incidents"),
    ],
    ids=["all-zero", "two-cells"],
)
def test_hotspots_sparse_data(disk: Disk, counts: np.ndarray, expect: str) -> None:
    out = hotspots(disk.cells[:5], counts)
    assert expect in out.attrs["message"] and "too few" in out.attrs["message"]
    assert (out["gi_z"] == 0).all() and (out["gi_p"] == 1).all()
    assert (out["gi_class"] == "not significant").all()
    assert (out["emerging"] == NO_PATTERN).all()
    assert not out.isna().any().any()


def test_hotspots_two_cells_and_one_period(disk: Disk) -> None:
    out = hotspots(disk.cells[:2], np.array([4.0, 1.0]))
    assert len(out) == 2 and "only 2 cells" in out.attrs["message"]
    one = hotspots(disk.cells, site_panel(disk, [HOT]))
    assert one.iloc[disk.centre]["gi_bin"] == 3
    assert (one["emerging"] == NO_PATTERN).all() and "1 period" in one.attrs["message"]
    assert not one.isna().any().any()


def test_hotspots_no_cells() -> None:
    out = hotspots(np.zeros(0, np.uint64), np.zeros((0, 3)))
    assert len(out) == 0 and "only 0 cells" in out.attrs["message"]


def test_hotspots_collects_every_problem(disk: Disk) -> None:
    with pytest.raises(SettingsError) as err:
        hotspots(disk.cells[:4], np.zeros((3, 2)), k=0, alpha=1.5)
    problems = err.value.problems
    assert len(problems) == 3
    assert any("k (the neighbourhood ring)" in p for p in problems)
    assert any("alpha" in p for p in problems)
    assert any("shape (3, 2)" in p for p in problems)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 1.5}, "integer ≥ 1"),
        ({"alpha": 0}, "alpha"),
        ({"cells": "dup"}, "distinct"),
        ({"counts": "nan"}, "NaN"),
    ],
)
def test_hotspots_bad_settings(disk: Disk, kwargs: dict[str, object], match: str) -> None:
    kwargs = dict(kwargs)  # the parameter is shared between runs
    cells = disk.cells[:4]
    counts = np.ones((4, 2))
    if kwargs.pop("cells", None) == "dup":
        cells = np.array([cells[0], cells[0], cells[1], cells[2]])
    if kwargs.pop("counts", None) == "nan":
        counts[1, 1] = np.nan
    with pytest.raises(SettingsError, match=match):
        hotspots(cells, counts, **kwargs)  # type: ignore[arg-type]


# --- temporal profile -----------------------------------------------------------------------


def test_temporal_profile_counts_known_times() -> None:
    occurred = np.array(
        [
            "2024-01-01T08:30",  # Monday 08
            "2024-01-01T08:59",  # Monday 08
            "2024-01-07T23:00",  # Sunday 23
            "2024-01-03T15:00",  # Wednesday 15, time unknown
            "NaT",  # no date at all
        ],
        dtype="datetime64[m]",
    )
    known = np.array([True, True, True, False, True])
    out = temporal_profile(occurred, known)
    assert out.shape == (7, 24)
    assert out.index.tolist()[0] == "Monday" and out.index.tolist()[-1] == "Sunday"
    assert out.columns.tolist() == list(range(24))
    assert out.loc["Monday", 8] == 2 and out.loc["Sunday", 23] == 1
    assert int(out.to_numpy().sum()) == 3
    assert out.attrs["n"] == 3 and out.attrs["message"] == ""


def test_temporal_profile_accepts_a_series() -> None:
    s = pd.Series(pd.to_datetime(["2024-06-14 17:05", "2024-06-15 02:00"]))
    out = temporal_profile(s, np.array([True, True]))
    assert out.loc["Friday", 17] == 1 and out.loc["Saturday", 2] == 1


def test_temporal_profile_without_times() -> None:
    months = np.array(["2024-01", "2024-02"], dtype="datetime64[M]").astype("datetime64[ns]")
    out = temporal_profile(months, np.zeros(2, dtype=bool))
    assert int(out.to_numpy().sum()) == 0 and out.attrs["n"] == 0
    assert "no incident has a known time of day" in out.attrs["message"]
    with pytest.raises(SettingsError, match="differ in length"):
        temporal_profile(months, np.ones(3, dtype=bool))


@pytest.mark.parametrize("fdr", [True, False])
def test_emerging_hot_periods_follow_the_per_period_definition(disk: Disk, fdr: bool) -> None:
    counts = np.random.default_rng(11).poisson(2.0, size=(disk.cells.size, 10)).astype(float)
    counts[disk.site, 4:] += 6.0
    out = emerging_hotspots(counts, disk.weights, alpha=0.05, fdr=fdr)
    z, p = gi_star(counts, disk.weights)
    used = np.column_stack([bh_adjusted(p[:, t]) if fdr else p[:, t] for t in range(10)])
    np.testing.assert_array_equal(out["hot_periods"], ((z > 0) & (used < 0.05)).sum(axis=1))
    np.testing.assert_array_equal(out["cold_periods"], ((z < 0) & (used < 0.05)).sum(axis=1))
    np.testing.assert_array_equal(out["final_bin"], hotspot_bins(z[:, -1], p[:, -1], fdr=fdr))
    _, tz, tp = mann_kendall(z)
    np.testing.assert_allclose(out["trend_z"], tz)
    np.testing.assert_allclose(out["trend_p"], tp)
    assert out["hot_periods"].iloc[disk.centre] >= 5
