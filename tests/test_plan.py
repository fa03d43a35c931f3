from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from geojtai import grid
from geojtai.crs import wgs84_to_bng
from geojtai.errors import SettingsError
from geojtai.plan import (
    MAX_COMBINATIONS,
    brute_force,
    coverage_value,
    site_footprints,
    suggest,
)

# --- a line of 7 cells ----------------------------------------------------------------------
# Site i covers cells i-1, i, i+1. Values [0, 5, 1, 0, 4, 4, 0] (total 14), so the first
# gains are: s0 = 0+5 = 5, s1 = 0+5+1 = 6, s2 = 5+1+0 = 6, s3 = 1+0+4 = 5, s4 = 0+4+4 = 8,
# s5 = 4+4+0 = 8, s6 = 4+0 = 4.
LINE_VALUE = np.array([0, 5, 1, 0, 4, 4, 0], dtype=float)


def line_footprints(n: int = 7) -> sparse.csr_matrix:
    return sparse.csr_matrix(np.eye(n) + np.eye(n, k=1) + np.eye(n, k=-1))


def test_line_greedy_picks_known_sites_with_known_gains() -> None:
    # Round 1: s4 and s5 tie at 8 -> s4 (lowest index); it covers cells 3, 4, 5.
    # Left: [0, 5, 1, 0, 0, 0, 0] -> s0 = 5, s1 = 6, s2 = 6, s3 = 1, s5 = s6 = 0.
    # Round 2: s1 and s2 tie at 6 -> s1; it covers cells 0, 1, 2. Everything is covered.
    got = suggest(LINE_VALUE, line_footprints(), n_teams=2)
    assert got["rank"].tolist() == [1, 2]
    assert got["site"].tolist() == [4, 1]
    assert got["gain"].tolist() == [8.0, 6.0]
    assert got["cumulative"].tolist() == [8.0, 14.0]
    assert got["share_of_total"].tolist() == pytest.approx([8 / 14, 1.0])
    assert got["cells_added"].tolist() == [3, 3]
    assert got.attrs["total_value"] == 14.0
    assert got.attrs["message"].startswith("Chose 2 of 2 sites")


def test_line_gain_zero_stops_early_with_message() -> None:
    # After s4 and s1 every cell with value is covered: a third team adds 0, so stop.
    got = suggest(LINE_VALUE, line_footprints(), n_teams=3)
    assert got["site"].tolist() == [4, 1]
    assert "Chose 2 of 3 sites" in got.attrs["message"]
    assert "no remaining allowed site adds any value" in got.attrs["message"]


def test_line_covered_cells_count_zero() -> None:
    # Existing work covers cell 1: values become [0, 0, 1, 0, 4, 4, 0] (total 9).
    # Gains: s0 = 0, s1 = 1, s2 = 1, s3 = 5, s4 = 8, s5 = 8, s6 = 4 -> s4 (tie with s5).
    # Left: only cell 2 (1) -> s1, s2, s3 all gain 1 -> s1; it adds cells 0 and 2 (1 is
    # already covered).
    covered = np.zeros(7, dtype=bool)
    covered[1] = True
    got = suggest(LINE_VALUE, line_footprints(), n_teams=2, covered=covered)
    assert got["site"].tolist() == [4, 1]
    assert got["gain"].tolist() == [8.0, 1.0]
    assert got["cells_added"].tolist() == [3, 2]
    assert got.attrs["total_value"] == 9.0
    assert got["share_of_total"].tolist() == pytest.approx([8 / 9, 1.0])


def test_line_allowed_restricts_sites() -> None:
    # Only sites 0, 3 and 6 allowed: s0 = 5, s3 = 5, s6 = 4 -> s0 (tie), covering cells 0, 1.
    # Left: [0, 0, 1, 0, 4, 4, 0] -> s3 = 1+0+4 = 5, s6 = 4+0 = 4 -> s3, adding cells 2, 3, 4.
    # Left: cell 5 (4) -> s6 = 4, adding cells 5, 6.
    allowed = np.zeros(7, dtype=bool)
    allowed[[0, 3, 6]] = True
    got = suggest(LINE_VALUE, line_footprints(), n_teams=3, allowed=allowed)
    assert got["site"].tolist() == [0, 3, 6]
    assert got["gain"].tolist() == [5.0, 5.0, 4.0]
    assert got["cells_added"].tolist() == [2, 3, 2]
    assert got["cumulative"].iloc[-1] == 14.0


def test_every_allowed_site_chosen_stops_with_message() -> None:
    allowed = np.zeros(7, dtype=bool)
    allowed[[1, 4]] = True
    got = suggest(LINE_VALUE, line_footprints(), n_teams=3, allowed=allowed)
    assert got["site"].tolist() == [4, 1]
    assert "every allowed site is already chosen" in got.attrs["message"]


def test_no_value_at_all_returns_no_rows() -> None:
    got = suggest(np.zeros(7), line_footprints(), n_teams=2)
    assert len(got) == 0
    assert list(got.columns) == [
        "rank",
        "site",
        "gain",
        "cumulative",
        "share_of_total",
        "cells_added",
    ]
    assert "Chose 0 of 2 sites" in got.attrs["message"]


def test_no_site_allowed() -> None:
    got = suggest(LINE_VALUE, line_footprints(), n_teams=2, allowed=np.zeros(7, dtype=bool))
    assert len(got) == 0
    assert "No site is allowed" in got.attrs["message"]


def test_line_coverage_value_and_brute_force() -> None:
    fp = line_footprints()
    assert coverage_value(LINE_VALUE, fp, [4, 1]) == 14.0
    assert coverage_value(LINE_VALUE, fp, [0, 0]) == 5.0  # repeats count once
    assert coverage_value(LINE_VALUE, fp, []) == 0.0
    covered = np.zeros(7, dtype=bool)
    covered[[4, 5]] = True
    assert coverage_value(LINE_VALUE, fp, [4], covered=covered) == 0.0
    # One team: the best single site is s4 (8), the first of s4/s5 in lexicographic order.
    assert brute_force(LINE_VALUE, fp, n_teams=1) == (8.0, (4,))
    assert brute_force(LINE_VALUE, fp, n_teams=2) == (14.0, (1, 4))


def test_inputs_are_not_mutated() -> None:
    fp = line_footprints()
    fp_before = fp.copy()
    value = LINE_VALUE.copy()
    covered = np.zeros(7, dtype=bool)
    allowed = np.ones(7, dtype=bool)
    suggest(value, fp, n_teams=3, allowed=allowed, covered=covered)
    brute_force(value, fp, n_teams=2, allowed=allowed, covered=covered)
    assert (fp != fp_before).nnz == 0
    assert np.array_equal(value, LINE_VALUE)
    assert not covered.any()
    assert allowed.all()


def test_weighted_footprints_are_read_as_zero_one() -> None:
    # Any nonzero entry means "covers"; explicit zeros do not.
    fp = sparse.csr_matrix(
        (np.array([2.0, 0.0, 0.5]), (np.array([0, 0, 1]), np.array([0, 1, 1]))), shape=(2, 2)
    )
    got = suggest(np.array([3.0, 1.0]), fp, n_teams=2)
    assert got["site"].tolist() == [0, 1]
    assert got["gain"].tolist() == [3.0, 1.0]


# --- greedy against a textbook implementation and the exact optimum ----------------------


def random_instance(
    rng: np.random.Generator,
) -> tuple[np.ndarray, sparse.csr_matrix, int, np.ndarray | None, np.ndarray | None]:
    n_sites, n_cells = int(rng.integers(8, 13)), int(rng.integers(10, 21))
    density = rng.uniform(0.1, 0.35)
    dense = rng.random((n_sites, n_cells)) < density
    # Integer values make ties common, so tie-breaking is exercised too.
    value = rng.integers(0, 10, n_cells).astype(float)
    allowed = rng.random(n_sites) < 0.8 if rng.random() < 0.3 else None
    covered = rng.random(n_cells) < 0.2 if rng.random() < 0.3 else None
    return value, sparse.csr_matrix(dense.astype(float)), int(rng.integers(2, 5)), allowed, covered


def textbook_greedy(
    value: np.ndarray,
    fp: sparse.csr_matrix,
    n_teams: int,
    allowed: np.ndarray | None,
    covered: np.ndarray | None,
) -> list[tuple[int, float]]:
    """Greedy with plain loops, every gain recomputed from scratch each round."""
    rows = [set(fp[i].indices.tolist()) for i in range(fp.shape[0])]
    reached = set() if covered is None else set(np.flatnonzero(covered).tolist())
    chosen: list[tuple[int, float]] = []
    for _ in range(n_teams):
        best, best_gain = -1, 0.0
        for site, cells in enumerate(rows):
            if (allowed is not None and not allowed[site]) or site in dict(chosen):
                continue
            gain = sum(value[c] for c in sorted(cells - reached))
            if gain > best_gain:
                best, best_gain = site, gain
        if best < 0:
            break
        chosen.append((best, best_gain))
        reached |= rows[best]
    return chosen


def test_greedy_matches_textbook_implementation() -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        value, fp, n_teams, allowed, covered = random_instance(rng)
        got = suggest(value, fp, n_teams=n_teams, allowed=allowed, covered=covered)
        want = textbook_greedy(value, fp, n_teams, allowed, covered)
        assert got["site"].tolist() == [s for s, _ in want]
        assert got["gain"].to_numpy() == pytest.approx([g for _, g in want])


def test_greedy_against_brute_force_on_random_instances() -> None:
    rng = np.random.default_rng(2024)
    n, equal, worst = 300, 0, 1.0
    for _ in range(n):
        value, fp, n_teams, allowed, covered = random_instance(rng)
        got = suggest(value, fp, n_teams=n_teams, allowed=allowed, covered=covered)
        greedy = float(got["cumulative"].iloc[-1]) if len(got) else 0.0
        best, sites = brute_force(value, fp, n_teams=n_teams, allowed=allowed, covered=covered)
        assert coverage_value(value, fp, list(sites), covered=covered) == pytest.approx(best)
        assert greedy <= best + 1e-9
        # Nemhauser, Wolsey & Fisher (1978): at least 1 - (1 - 1/k)^k > 1 - 1/e of optimum.
        bound = 1 - (1 - 1 / n_teams) ** n_teams
        assert bound > 1 - 1 / math.e
        assert greedy >= bound * best - 1e-9
        equal += math.isclose(greedy, best, rel_tol=1e-12, abs_tol=1e-12)
        worst = min(worst, greedy / best if best > 0 else 1.0)
    share = equal / n
    print(f"greedy optimal on {equal}/{n} instances ({share:.1%}); worst ratio {worst:.3f}")
    assert share >= 0.7, f"greedy optimal on only {share:.1%} of instances"


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_teams=st.integers(1, 6),
    n_sites=st.integers(1, 15),
    n_cells=st.integers(1, 25),
)
def test_suggest_invariants(seed: int, n_teams: int, n_sites: int, n_cells: int) -> None:
    rng = np.random.default_rng(seed)
    fp = sparse.csr_matrix((rng.random((n_sites, n_cells)) < 0.3).astype(float))
    value = rng.exponential(1.0, n_cells) * (rng.random(n_cells) < 0.7)
    covered = rng.random(n_cells) < 0.2
    got = suggest(value, fp, n_teams=n_teams, covered=covered)
    assert len(got) <= n_teams
    assert got["site"].is_unique
    gains = got["gain"].to_numpy()
    assert (gains > 0).all()
    assert (np.diff(gains) <= 1e-12).all()  # submodularity: gains never grow
    chosen = got["site"].tolist()
    assert got["cumulative"].iloc[-1:].tolist() == pytest.approx(
        [coverage_value(value, fp, chosen, covered=covered)] if chosen else []
    )
    reached = fp[chosen].toarray().any(axis=0) & ~covered if chosen else np.zeros(0)
    assert int(got["cells_added"].sum()) == int(reached.sum())
    assert (got["share_of_total"] <= 1 + 1e-12).all()
    if len(got) < n_teams:  # stopped early: nothing left adds value
        left = np.where(covered | fp[chosen].toarray().any(axis=0), 0.0, value)
        assert (fp @ left).max() == 0.0


def test_brute_force_refuses_large_instances() -> None:
    fp = sparse.identity(40, format="csr")
    assert math.comb(40, 5) > MAX_COMBINATIONS
    with pytest.raises(SettingsError, match="658,008 sets"):
        brute_force(np.ones(40), fp, n_teams=5)
    # Restricting the allowed sites makes it small enough.
    allowed = np.zeros(40, dtype=bool)
    allowed[:10] = True
    assert brute_force(np.arange(40.0), fp, n_teams=5, allowed=allowed) == (35.0, (5, 6, 7, 8, 9))


def test_brute_force_with_more_teams_than_sites() -> None:
    allowed = np.zeros(7, dtype=bool)
    allowed[[0, 6]] = True
    assert brute_force(LINE_VALUE, line_footprints(), n_teams=3, allowed=allowed) == (9.0, (0, 6))
    nothing = np.zeros(7, dtype=bool)
    assert brute_force(LINE_VALUE, line_footprints(), n_teams=3, allowed=nothing) == (0.0, ())


# --- footprints -------------------------------------------------------------------------


def lattice(n: int, spacing: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    """Centres of an n × n lattice, row-major, offset to BNG-sized coordinates."""
    rows, cols = np.divmod(np.arange(n * n), n)
    return 400_000.0 + cols * spacing, 300_000.0 + rows * spacing


@pytest.mark.parametrize(
    ("radius", "centre", "edge", "corner"),
    [
        (150.0, 9, 6, 4),  # 4 neighbours at 100 m and 4 diagonals at 141.4 m
        (100.0, 5, 4, 3),  # the 4 neighbours at exactly 100 m count (distance ≤ radius)
        (99.0, 1, 1, 1),  # only itself
        (141.0, 5, 4, 3),  # diagonals just out of reach
        (200.0, 13, 9, 6),  # + the 4 at 200 m
    ],
)
def test_lattice_footprint_counts(radius: float, centre: int, edge: int, corner: int) -> None:
    x, y = lattice(5)
    fp = site_footprints(x, y, radius_m=radius)
    assert isinstance(fp, sparse.csr_matrix)
    assert fp.shape == (25, 25)
    assert set(np.unique(fp.data).tolist()) == {1.0}
    counts = np.asarray(fp.sum(axis=1)).ravel()
    assert counts[12] == centre  # the middle of the lattice
    assert counts[2] == edge  # middle of the first row
    assert counts[0] == corner
    assert (fp != fp.T).nnz == 0  # every site is a cell: coverage is symmetric


def test_lattice_centre_covers_its_eight_neighbours() -> None:
    x, y = lattice(5)
    fp = site_footprints(x, y, radius_m=150)
    assert fp[12].indices.tolist() == [6, 7, 8, 11, 12, 13, 16, 17, 18]


def test_candidates_as_positions_or_mask() -> None:
    x, y = lattice(5)
    by_position = site_footprints(x, y, radius_m=150, candidates=[12, 0])
    assert by_position.shape == (2, 25)
    assert np.asarray(by_position.sum(axis=1)).ravel().tolist() == [9, 4]
    mask = np.zeros(25, dtype=bool)
    mask[[0, 12]] = True
    by_mask = site_footprints(x, y, radius_m=150, candidates=mask)
    assert (by_mask != by_position[[1, 0]]).nnz == 0  # mask order is cell order
    none = site_footprints(x, y, radius_m=150, candidates=np.zeros(25, dtype=bool))
    assert none.shape == (0, 25)


def test_footprints_of_real_h3_cells() -> None:
    # Res-9 neighbours are ~300 m apart and the second ring ≥ 520 m: 400 m covers 7 cells.
    origin = grid.cells_from_points(np.array([52.48]), np.array([-1.90]), resolution=9)
    cells = grid.grid_disk(origin, 2)[1]
    x, y = wgs84_to_bng(*grid.cell_centres(cells))
    fp = site_footprints(x, y, radius_m=400, candidates=cells == origin[0])
    assert fp.nnz == 7
    assert set(cells[fp.indices].tolist()) == set(grid.grid_disk(origin, 1)[1].tolist())


def test_footprints_into_suggest() -> None:
    # Two hot cells 1 km apart and one team of radius 150 m each: the planner finds both.
    x, y = lattice(11)
    value = np.zeros(121)
    value[[24, 96]] = [10.0, 7.0]
    fp = site_footprints(x, y, radius_m=150)
    got = suggest(value, fp, n_teams=2)
    assert got["gain"].tolist() == [10.0, 7.0]
    assert got["share_of_total"].iloc[-1] == 1.0


# --- validation -------------------------------------------------------------------------


def test_suggest_lists_every_problem() -> None:
    with pytest.raises(SettingsError) as info:
        suggest(
            np.array([1.0, -2.0, np.nan]),
            line_footprints(),
            n_teams=0,
            allowed=np.ones(3, dtype=bool),
            covered=np.ones(7, dtype=int),
        )
    problems = info.value.problems
    assert len(problems) == 6, problems
    text = str(info.value)
    for part in (
        "value has 3 values but footprints cover 7 cells",
        "1 values are NaN or infinite",
        "1 values are negative",
        "n_teams must be an integer ≥ 1; 0 was given",
        "allowed has 3 values but there are 7 sites",
        "covered must be a boolean mask over the cells",
    ):
        assert part in text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_teams": 2.0}, "n_teams must be an integer"),
        ({"n_teams": True}, "n_teams must be an integer"),
        ({"n_teams": 1, "allowed": [0, 3]}, "allowed must be a boolean mask"),
        ({"n_teams": 1, "covered": np.ones(6, dtype=bool)}, "covered has 6 values"),
        ({"n_teams": 1, "covered": np.ones((7, 1), dtype=bool)}, "covered must be one-dim"),
    ],
)
def test_suggest_rejects_bad_options(kwargs: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        suggest(LINE_VALUE, line_footprints(), **kwargs)


def test_bad_footprints_and_values() -> None:
    with pytest.raises(SettingsError, match="footprints must be a 2-D"):
        suggest(LINE_VALUE, np.ones(7), n_teams=1)
    with pytest.raises(SettingsError, match="value must be numbers"):
        suggest(["a"] * 7, line_footprints(), n_teams=1)
    with pytest.raises(SettingsError, match="value must be one number per cell"):
        suggest(np.ones((7, 1)), line_footprints(), n_teams=1)
    with pytest.raises(SettingsError, match="values are NaN or infinite"):
        coverage_value(np.full(7, np.inf), line_footprints(), [0])


def test_coverage_value_rejects_bad_sites() -> None:
    with pytest.raises(SettingsError, match=r"2 chosen sites are outside 0\.\.6"):
        coverage_value(LINE_VALUE, line_footprints(), [0, 7, -1])
    with pytest.raises(SettingsError, match="chosen must be integer"):
        coverage_value(LINE_VALUE, line_footprints(), [0.5])


def test_brute_force_validates_like_suggest() -> None:
    with pytest.raises(SettingsError, match="n_teams must be"):
        brute_force(LINE_VALUE, line_footprints(), n_teams=0)


def test_site_footprints_lists_every_problem() -> None:
    with pytest.raises(SettingsError) as info:
        site_footprints(
            np.array([0.0, np.nan, 2.0]), np.zeros(3), radius_m=0, candidates=[0, 5, -1]
        )
    assert info.value.problems == [
        "1 cell centres are NaN or infinite (e.g. 1)",
        "radius_m must be a finite number of metres > 0; 0 was given",
        "2 candidates are outside 0..2 (positions 1, 2)",
    ]


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "message"),
    [
        (np.zeros(3), np.zeros(2), {"radius_m": 10}, "x has 3 values but y has 2"),
        (np.zeros(3), np.zeros(3), {"radius_m": -5.0}, "radius_m must be"),
        (np.zeros(3), np.zeros(3), {"radius_m": math.inf}, "radius_m must be"),
        (np.zeros(3), np.zeros(3), {"radius_m": "400"}, "radius_m must be"),
        (
            np.zeros(3),
            np.zeros(3),
            {"radius_m": 10, "candidates": np.ones(2, dtype=bool)},
            "candidates mask has 2 values but there are 3 cells",
        ),
        (
            np.zeros(3),
            np.zeros(3),
            {"radius_m": 10, "candidates": [0.5]},
            "candidates must be integer",
        ),
    ],
)
def test_site_footprints_rejects(x: np.ndarray, y: np.ndarray, kwargs: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        site_footprints(x, y, **kwargs)
