"""Tests of geojtai.evaluate: every statistic against answers worked by hand in the comments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geojtai import evaluate as ev
from geojtai.errors import SettingsError

# The 10-cell toy grid. Cell i scores 9 − i, so the ranking is 0, 1, ..., 9.
TOY_SCORES = np.arange(9, -1, -1, dtype=float)
TOY_ACTUAL = np.array([3, 0, 2, 5, 0, 1, 0, 4, 0, 5], dtype=float)  # N = 20
# Ranked by the actual counts (ties by index): cells 3 (5), 9 (5), 7 (4), 0 (3), 2 (2), 5 (1).


def months(n: int, start: int = 2024) -> tuple[str, ...]:
    return tuple(f"{start + m // 12}-{m % 12 + 1:02d}" for m in range(n))


def lattice(nx: int, ny: int, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres on a square lattice centred on (0, 0), row by row."""
    gx, gy = np.meshgrid(
        (np.arange(nx) - (nx - 1) / 2) * spacing, (np.arange(ny) - (ny - 1) / 2) * spacing
    )
    return gx.ravel(), gy.ravel()


def make_panel(
    counts: np.ndarray,
    x: np.ndarray | None = None,
    y: np.ndarray | None = None,
    area: np.ndarray | None = None,
) -> ev.Panel:
    n, t = counts.shape
    if x is None or y is None:
        x, y = np.arange(n) * 1000.0, np.zeros(n)
    return ev.Panel(
        cells=np.arange(1, n + 1, dtype=np.uint64),
        months=months(t),
        counts=counts,
        x=x,
        y=y,
        area=np.ones(n) if area is None else area,
    )


def by_share(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("share")


# ----------------------------------------------------------------------------- metrics


@pytest.mark.parametrize(
    ("share", "cells", "captured", "hit_rate", "pai", "best_pai", "pei"),
    [
        # 10 %: cell 0 → 3 of 20 = 0.15; PAI 0.15/0.1 = 1.5. Best: cell 3 → 5/20 / 0.1 = 2.5.
        (0.10, 1, 3, 0.15, 1.5, 2.5, 0.6),
        # 20 %: cells 0, 1 → 3 → 0.15/0.2 = 0.75. Best: cells 3, 9 → 10 → 0.5/0.2 = 2.5.
        (0.20, 2, 3, 0.15, 0.75, 2.5, 0.3),
        # 50 %: cells 0..4 → 3+0+2+5+0 = 10 → 0.5/0.5 = 1. Best: 5+5+4+3+2 = 19 → 0.95/0.5.
        (0.50, 5, 10, 0.5, 1.0, 1.9, 1.0 / 1.9),
    ],
)
def test_toy_grid_equal_areas(
    share: float,
    cells: int,
    captured: float,
    hit_rate: float,
    pai: float,
    best_pai: float,
    pei: float,
) -> None:
    row = by_share(ev.evaluate_scores(TOY_SCORES, TOY_ACTUAL, np.ones(10), shares=[share]))
    row = row.loc[share]
    assert row["cells"] == cells
    assert row["area_share"] == pytest.approx(share)
    assert row["captured"] == captured
    assert row["total"] == 20
    assert row["hit_rate"] == pytest.approx(hit_rate)
    assert row["pai"] == pytest.approx(pai)
    assert row["best_pai"] == pytest.approx(best_pai)
    assert row["pei"] == pytest.approx(pei)
    assert row["note"] == ""


def test_unequal_areas_flag_the_smallest_prefix_reaching_the_share() -> None:
    area = np.ones(10)
    area[0] = 2.0  # A = 11
    frame = by_share(ev.evaluate_scores(TOY_SCORES, TOY_ACTUAL, area, shares=[0.1, 0.5]))
    # 10 % of 11 = 1.1: cell 0 alone (area 2) reaches it; realised share 2/11.
    # PAI = (3/20)/(2/11) = 0.825. Best: cell 3 (1 < 1.1) then cell 9 (2 ≥ 1.1) → 10 →
    # (10/20)/(2/11) = 2.75; PEI = 0.825/2.75 = 0.3.
    assert frame.loc[0.1, "cells"] == 1
    assert frame.loc[0.1, "area_share"] == pytest.approx(2 / 11)
    assert frame.loc[0.1, "pai"] == pytest.approx(0.825)
    assert frame.loc[0.1, "best_pai"] == pytest.approx(2.75)
    assert frame.loc[0.1, "pei"] == pytest.approx(0.3)
    # The best ranking is by the counts, not by count per area (documented rule): at 30 %
    # of 11 = 3.3, cells 3, 9, 7 (area 3) then cell 0 (area 2) → 17 in 5/11 →
    # (17/20)/(5/11) = 1.87; ranking by density would take cell 2 instead, PAI 2.2.
    best = ev.evaluate_scores(TOY_SCORES, TOY_ACTUAL, area, shares=[0.3])["best_pai"]
    assert best.tolist() == pytest.approx([1.87])
    # 50 % of 11 = 5.5: cells 0..3 have area 5 < 5.5, so cell 4 joins: 5 cells, area 6/11,
    # captured 10 → (10/20)/(6/11) = 0.91666...
    assert frame.loc[0.5, "cells"] == 5
    assert frame.loc[0.5, "area_share"] == pytest.approx(6 / 11)
    assert frame.loc[0.5, "pai"] == pytest.approx(0.5 / (6 / 11))
    # Reversed ranking (cell 9 first): unit cells 9 then 8 are needed to reach 1.1.
    reversed_frame = ev.hit_rate_curve(-TOY_SCORES, TOY_ACTUAL, area, shares=[0.1])
    assert reversed_frame["cells"].tolist() == [2]
    assert reversed_frame["captured"].tolist() == [5.0]  # 5 + 0


def test_ties_are_broken_by_cell_order() -> None:
    scores = np.array([0, 1, 1, 0, 0, 0, 0, 0, 0, 0], dtype=float)
    frame = ev.hit_rate_curve(scores, TOY_ACTUAL, np.ones(10), shares=[0.1, 0.2, 0.3, 0.4, 0.7])
    # Ranking 1, 2 (tied, by index), then 0, 3, 4, ... (tied zeros, by index).
    # Captured: cell 1 → 0; + cell 2 → 2; + cell 0 → 5; + cell 3 → 10; + cells 4, 5, 6 → 11.
    assert frame["cells"].tolist() == [1, 2, 3, 4, 7]
    assert frame["captured"].tolist() == [0.0, 2.0, 5.0, 10.0, 11.0]
    # All scores tied: the ranking is the cell order, the same as the toy scores' ranking.
    tied = ev.hit_rate_curve(np.zeros(10), TOY_ACTUAL, np.ones(10))
    toy = ev.hit_rate_curve(TOY_SCORES, TOY_ACTUAL, np.ones(10))
    pd.testing.assert_frame_equal(tied, toy)


def test_float_rounding_does_not_add_a_cell() -> None:
    # 0.07 × 100 = 7.000000000000001 in floats, but 7 unit cells reach 7 % of 100.
    frame = ev.hit_rate_curve(np.arange(100.0)[::-1], np.ones(100), np.ones(100), shares=[0.07])
    assert frame[["cells", "area_share", "captured"]].to_numpy().tolist() == [[7, 0.07, 7.0]]


def test_ties_by_cell_order_on_a_large_grid() -> None:
    # Large enough that numpy's unstable sorts would reorder ties (they are stable below 16).
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 3, 500).astype(float)
    actual = rng.poisson(1.0, 500).astype(float)
    order = np.lexsort((np.arange(500), -scores))  # by score descending, then by index
    k = np.arange(1, 101) * 5  # equal areas: share s flags 500·s cells
    frame = ev.hit_rate_curve(scores, actual, np.ones(500), shares=ev.CURVE_SHARES)
    assert frame["cells"].tolist() == k.tolist()
    np.testing.assert_array_equal(frame["captured"], np.cumsum(actual[order])[k - 1])


def test_default_shares_and_the_full_curve() -> None:
    area = np.full(10, 5.0)
    assert ev.hit_rate_curve(TOY_SCORES, TOY_ACTUAL, area)["share"].tolist() == [
        0.01,
        0.05,
        0.10,
        0.20,
    ]
    curve = ev.hit_rate_curve(TOY_SCORES, TOY_ACTUAL, area, shares=ev.CURVE_SHARES)
    assert len(curve) == 100
    assert (np.diff(curve["hit_rate"]) >= 0).all()
    assert (curve["area_share"] >= curve["share"] - 1e-12).all()
    # 1 % .. 10 % all need the first cell; 100 % is everything.
    assert curve["cells"].iloc[:10].tolist() == [1] * 10
    assert curve.iloc[-1][["cells", "area_share", "hit_rate"]].tolist() == [10, 1.0, 1.0]


def test_zero_incidents_give_zeros_and_a_note() -> None:
    frame = ev.evaluate_scores(
        TOY_SCORES, np.zeros(10), np.ones(10), shares=[0.1, 0.5], train_actual=np.ones(10)
    )
    for column in ("hit_rate", "pai", "best_pai", "pei", "rri"):
        assert frame[column].tolist() == [0.0, 0.0], column
    assert frame.notna().all().all()
    assert frame["note"].str.contains("no incidents in the forecast months").all()
    assert frame["note"].str.contains("RRI undefined").all()


def test_pai_and_pei_formulas() -> None:
    assert ev.pai(0.5, 0.2) == pytest.approx(2.5)
    assert ev.pai(0.0, 0.1) == 0.0
    assert ev.pai(0.3, 0.0) == 0.0  # guarded, not inf
    np.testing.assert_allclose(ev.pai(np.array([0.2, 0.6]), np.array([0.1, 0.3])), [2.0, 2.0])
    assert ev.pei(1.5, 2.5) == pytest.approx(0.6)
    assert ev.pei(0.0, 0.0) == 0.0


def test_rri_hand_worked() -> None:
    # n1 = 10, n2 = 6, N1 = 100, N2 = 80 → (6/10)/(80/100) = 0.75.
    assert ev.rri(train_captured=10, test_captured=6, train_total=100, test_total=80) == 0.75
    # Undefined (n1 = 0, or N2 = 0) → 0, never NaN or inf.
    assert ev.rri(train_captured=0, test_captured=6, train_total=100, test_total=80) == 0.0
    assert ev.rri(train_captured=10, test_captured=0, train_total=100, test_total=0) == 0.0
    np.testing.assert_allclose(
        ev.rri(
            train_captured=np.array([10, 5]),
            test_captured=np.array([6, 5]),
            train_total=100,
            test_total=np.array([80, 50]),
        ),
        [0.75, 2.0],  # (5/5)/(50/100) = 2
    )


def test_evaluate_scores_rri_of_the_flagged_cells() -> None:
    frame = by_share(
        ev.evaluate_scores(
            TOY_SCORES, TOY_ACTUAL, np.ones(10), shares=[0.2], train_actual=np.ones(10)
        )
    )
    # Flagged cells 0, 1: n1 = 2 of N1 = 10, n2 = 3 of N2 = 20 → (3/2)/(20/10) = 0.75.
    assert frame.loc[0.2, ["train_captured", "train_total"]].tolist() == [2.0, 10.0]
    assert frame.loc[0.2, "rri"] == pytest.approx(0.75)
    before = np.zeros(10)
    before[9] = 4.0
    frame = ev.evaluate_scores(
        TOY_SCORES, TOY_ACTUAL, np.ones(10), shares=[0.2], train_actual=before
    )
    assert frame["rri"].tolist() == [0.0]
    assert "no incidents in the flagged cells before" in frame["note"].iloc[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shares": [0.0]}, r"area shares must be in \(0, 1\]"),
        ({"shares": [1.5]}, r"area shares must be in \(0, 1\]"),
        ({"shares": [np.nan]}, r"area shares must be in \(0, 1\]"),
        ({"shares": [0.1, 0.1]}, "distinct"),
        ({"scores": np.ones(9)}, r"actual must have shape \(9,\)"),
        ({"scores": np.full(10, np.nan)}, "scores has 10 NaN"),
        ({"area": np.zeros(10)}, "area must be positive; 10 cells"),
        ({"actual": -np.ones(10)}, "non-negative"),
    ],
)
def test_bad_metric_inputs_raise(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"scores": TOY_SCORES, "actual": TOY_ACTUAL, "area": np.ones(10)}
    args.update(kwargs)
    with pytest.raises(SettingsError, match=message):
        ev.evaluate_scores(**args)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- panel


def test_panel_collects_every_problem() -> None:
    with pytest.raises(SettingsError) as info:
        ev.Panel(
            cells=np.array([1, 1, 2], dtype=np.uint64),
            months=("2024-01", "2024-03"),
            counts=np.ones((3, 2)),
            x=np.zeros(2),
            y=np.zeros(3),
            area=np.array([1.0, 0.0, 1.0]),
        )
    problems = info.value.problems
    assert len(problems) == 4
    text = str(info.value)
    fragments = (
        "cells must be distinct",
        "x must have shape (3,)",
        "area must be positive",
        "2024-01 -> 2024-03",
    )
    for fragment in fragments:
        assert fragment in text


def test_panel_rejects_nan_counts_and_is_read_only() -> None:
    counts = np.ones((2, 3))
    counts[0, 2] = np.nan
    with pytest.raises(SettingsError, match="counts must be finite and non-negative; 1 values"):
        make_panel(counts)
    source = np.ones((2, 3))
    panel = make_panel(source)
    source[0, 0] = 99.0  # the panel holds its own copy
    assert panel.counts[0, 0] == 1.0
    with pytest.raises(ValueError, match="read-only"):
        panel.counts[0, 0] = 5.0


# ----------------------------------------------------------------------------- baselines

HAND = np.array(
    [
        [1, 2, 3, 4, 5],
        [0, 0, 6, 0, 0],
        [2, 2, 2, 2, 2],
    ],
    dtype=float,
)


def test_last_period_and_rolling_mean_by_hand() -> None:
    panel = make_panel(HAND)
    last = ev.last_period()
    assert last(panel, 3, 1).tolist() == [3.0, 6.0, 2.0]  # month 2
    assert last(panel, 3, 2).tolist() == [6.0, 12.0, 4.0]  # the same rate for two months
    assert last(panel, 5, 1).tolist() == [5.0, 0.0, 2.0]  # origin = T: the true future
    assert ev.rolling_mean(window=2)(panel, 3, 1).tolist() == [2.5, 3.0, 2.0]  # months 1, 2
    assert ev.rolling_mean()(panel, 3, 1).tolist() == [2.0, 2.0, 2.0]  # months 0..2 only
    assert ev.rolling_mean(window=3)(panel, 5, 1).tolist() == [4.0, 2.0, 2.0]  # months 2..4
    assert ev.rolling_mean()(panel, 1, 1).tolist() == [1.0, 0.0, 2.0]


@pytest.mark.parametrize("origin", [0, 6, 2.5, True])
def test_origins_outside_the_panel_raise(origin: int) -> None:
    with pytest.raises(SettingsError, match="origin must be"):
        ev.last_period()(make_panel(HAND), origin, 1)


def test_prospective_single_incident_by_hand() -> None:
    x, y = lattice(11, 11, 100.0)
    counts = np.zeros((x.size, 4))
    centre = int(np.flatnonzero((x == 0) & (y == 0))[0])
    counts[centre, 1] = 1.0  # origin 3: month 1 is age t = 1
    panel = make_panel(counts, x, y)
    score = ev.prospective()(panel, 3, 1)

    def at(px: float, py: float) -> float:
        return float(score[(x == px) & (y == py)][0])

    # weight 1/(1 + d/100 m) · 1/(1 + t), t = 1
    assert at(0, 0) == pytest.approx(1 / 1 / 2)  # 0.5
    assert at(100, 0) == pytest.approx(1 / 2 / 2)  # 0.25
    assert at(0, -100) == pytest.approx(0.25)
    assert at(100, 100) == pytest.approx(1 / (1 + 2**0.5) / 2)  # 0.2071
    assert at(300, 0) == pytest.approx(1 / 4 / 2)  # 0.125
    assert at(400, 0) == pytest.approx(1 / 5 / 2)  # 0.1: 400 m is inside (inclusive)
    assert at(500, 0) == 0.0
    assert at(300, 300) == 0.0  # 424 m
    # Lattice points within 4 steps of the centre (Gauss circle problem, r = 4): 49.
    assert np.count_nonzero(score) == 49
    # A window of one month sees only age 0, so the incident (age 1) is out of it.
    assert not ev.prospective(window=1)(panel, 3, 1).any()
    # A second incident of age 0 in the same cell adds 1/(1 + 0).
    counts[centre, 2] = 1.0
    assert ev.prospective()(make_panel(counts, x, y), 3, 1)[centre] == pytest.approx(1.5)


def test_kde_is_symmetric_and_conserves_the_incidents() -> None:
    x, y = lattice(41, 41, 50.0)  # 2 km square; the kernel reaches 3 × 250 = 750 m
    counts = np.zeros((x.size, 13))
    centre = x.size // 2
    counts[centre, 3] = 12.0  # one month of the last 12 → a mean of 1 per month
    panel = make_panel(counts, x, y, area=np.full(x.size, 50.0 * 50.0))
    score = ev.kde()(panel, 13, 1)
    grid = score.reshape(41, 41)
    np.testing.assert_allclose(grid, grid.T, rtol=1e-12)
    np.testing.assert_allclose(grid, grid[::-1, :], rtol=1e-12)
    np.testing.assert_allclose(grid, grid[:, ::-1], rtol=1e-12)
    # Density × cell area sums to the monthly mean × horizon (the kernel is renormalised
    # to its truncation; the lattice sum of a smooth Gaussian is accurate to ~1e-4 here).
    assert score.sum() == pytest.approx(1.0, rel=5e-3)
    assert ev.kde()(panel, 13, 3).sum() == pytest.approx(3.0, rel=5e-3)
    # Falls with distance and stops beyond 750 m.
    row = grid[20, 20:]
    assert (np.diff(row[:16]) < 0).all()
    assert row[15] > 0 and not row[16:].any()  # 750 m in, 800 m out
    # Half the area inside the region, half the expected incidents.
    half = make_panel(counts, x, y, area=np.full(x.size, 1250.0))
    np.testing.assert_allclose(ev.kde()(half, 13, 1), score / 2)


FORECASTERS = {
    "last_period": ev.last_period(),
    "rolling_mean": ev.rolling_mean(window=3),
    "prospective": ev.prospective(window=3),
    "kde": ev.kde(window=4),
}


@pytest.mark.parametrize("name", sorted(FORECASTERS))
def test_baselines_never_read_the_future(name: str) -> None:
    rng = np.random.default_rng(3)
    x, y = lattice(6, 5, 120.0)
    counts = rng.poisson(2.0, (x.size, 10)).astype(float)
    origin = 6
    forecast = FORECASTERS[name]
    expected = forecast(make_panel(counts, x, y), origin, 2)
    # Future columns poisoned with NaN: any read of them, even times 0, shows in the result.
    # Panel rejects NaN, so the poison goes in behind its back.
    poisoned = make_panel(counts, x, y)
    future = counts.copy()
    future[:, origin:] = np.nan
    object.__setattr__(poisoned, "counts", future)
    np.testing.assert_array_equal(forecast(poisoned, origin, 2), expected)
    # Or absent altogether: a panel that ends at the origin gives the same forecast.
    truncated = make_panel(counts[:, :origin], x, y)
    np.testing.assert_array_equal(forecast(truncated, origin, 2), expected)


def test_registry_names_the_valid_baselines_and_parameters() -> None:
    with pytest.raises(
        SettingsError,
        match=r"unknown baseline 'nope'; valid ones are "
        r"\['kde', 'last_period', 'prospective', 'rolling_mean'\]",
    ):
        ev.baseline("nope")
    with pytest.raises(SettingsError, match=r"takes no \['windw'\]; valid parameters are"):
        ev.baseline("rolling_mean", windw=3)
    with pytest.raises(SettingsError, match="window must be a positive integer; 0"):
        ev.baseline("rolling_mean", window=0)
    with pytest.raises(SettingsError, match="bandwidth must be a positive number"):
        ev.kde(bandwidth=-1.0)
    assert ev.baseline("rolling_mean", window=2)(make_panel(HAND), 3, 1).tolist() == [2.5, 3, 2]


def test_oracle_returns_the_truth_of_the_forecast_months() -> None:
    intensity = np.arange(15, dtype=float).reshape(3, 5)
    forecast = ev.oracle(intensity)
    panel = make_panel(HAND)
    assert forecast(panel, 3, 2).tolist() == [3 + 4, 8 + 9, 13 + 14]
    with pytest.raises(SettingsError, match="must fit inside it"):
        forecast(panel, 4, 2)
    with pytest.raises(SettingsError, match="must fit inside it"):
        ev.oracle(np.ones((3, 4)))(panel, 3, 1)
    with pytest.raises(SettingsError, match="finite non-negative"):
        ev.oracle(-np.ones((3, 5)))


def synthetic_town(seed: int = 7) -> tuple[ev.Panel, np.ndarray]:
    """300 cells × 24 months of Poisson counts from a known, strongly varying intensity.

    Each cell has a log-normal base rate (σ = 1.5: a hundredfold range) and each month a
    log-normal shock (σ = 1) that only the truth knows, so the oracle's edge is large.
    """
    rng = np.random.default_rng(seed)
    x, y = lattice(15, 20, 150.0)
    base = np.exp(rng.normal(-1.0, 1.5, x.size))
    intensity = base[:, None] * np.exp(rng.normal(0.0, 1.0, (x.size, 24)))
    counts = rng.poisson(intensity).astype(float)
    return make_panel(counts, x, y, area=np.full(x.size, 150.0**2)), intensity


def test_oracle_bounds_every_baseline() -> None:
    panel, intensity = synthetic_town()
    forecasters = {name: factory() for name, factory in ev.BASELINES.items()}
    forecasters["oracle"] = ev.oracle(intensity)
    summary = ev.rolling_origin(panel, forecasters).summary.set_index(["method", "share"])
    pai5 = summary.xs(0.05, level="share")["pai"]
    # Realised with seed 7: oracle 8.85; rolling_mean 5.57, last_period 4.36,
    # prospective 3.49, kde 2.40.
    assert pai5["oracle"] == pytest.approx(8.85, abs=0.01)
    assert pai5.drop("oracle").max() == pytest.approx(5.57, abs=0.01)
    for share in ev.DEFAULT_SHARES:
        at = summary.xs(share, level="share")
        assert (at.loc["oracle", "pai"] > 1.2 * at["pai"].drop("oracle")).all(), share
        assert (at["pei"] <= 1.0 + 1e-12).all()


# ----------------------------------------------------------------------------- backtest


@pytest.mark.parametrize(
    ("horizon", "step", "origins"),
    [
        (1, 1, ["2024-07", "2024-08", "2024-09", "2024-10", "2024-11", "2024-12"]),
        (3, 3, ["2024-07", "2024-10"]),
        (2, 3, ["2024-07", "2024-10"]),  # 2024-10 + 2 months still fits
        (6, 1, ["2024-07"]),
    ],
)
def test_rolling_origin_folds(horizon: int, step: int, origins: list[str]) -> None:
    panel = make_panel(np.ones((4, 12)))
    result = ev.rolling_origin(
        panel,
        {"a": ev.last_period(), "b": ev.rolling_mean()},
        test_months=6,
        horizon=horizon,
        step=step,
        shares=(0.25, 0.5),
    )
    assert list(result.origins) == origins
    assert len(result.folds) == 2 * len(origins) * 2
    assert result.folds["origin"].unique().tolist() == origins
    assert result.folds["method"].unique().tolist() == ["a", "b"]
    assert result.folds["total"].tolist() == [4.0 * horizon] * len(result.folds)
    assert (result.summary["folds"] == len(origins)).all()
    assert result.curve.groupby("method").size().tolist() == [100, 100]


def test_rolling_origin_by_hand() -> None:
    counts = np.array(
        [
            [1, 0, 2, 0, 1],
            [0, 1, 0, 3, 0],
            [0, 0, 1, 1, 2],
            [0, 0, 0, 0, 0],
        ],
        dtype=float,
    )
    result = ev.rolling_origin(
        make_panel(counts), {"last": ev.last_period()}, test_months=2, shares=(0.25, 0.5)
    )
    folds = result.folds.set_index(["origin", "share"])
    # Origin 3 (2024-04): scores = month 2 = [2, 0, 1, 0] → ranking 0, 2, 1, 3.
    # Actual month 3 = [0, 3, 1, 0], N2 = 4; before = month 2, N1 = 3.
    #   25 %: cell 0 → 0 → PAI 0; best cell 1 → (3/4)/0.25 = 3; PEI 0; RRI (0/2)/(4/3) = 0.
    #   50 %: cells 0, 2 → 1 → PAI (1/4)/0.5 = 0.5; best cells 1, 2 → 4 → 2; PEI 0.25;
    #         n1 = 3 → RRI (1/3)/(4/3) = 0.25.
    # Origin 4 (2024-05): scores = month 3 = [0, 3, 1, 0] → ranking 1, 2, 0, 3.
    # Actual month 4 = [1, 0, 2, 0], N2 = 3; before = month 3, N1 = 4.
    #   25 %: cell 1 → 0 → PAI 0; best cell 2 → (2/3)/0.25 = 8/3; PEI 0; RRI (0/3)/(3/4) = 0.
    #   50 %: cells 1, 2 → 2 → PAI (2/3)/0.5 = 4/3; best cells 2, 0 → 3 → 2; PEI 2/3;
    #         n1 = 4 → RRI (2/4)/(3/4) = 2/3.
    expected = {
        ("2024-04", 0.25): (0.0, 3.0, 0.0, 0.0),
        ("2024-04", 0.5): (0.5, 2.0, 0.25, 0.25),
        ("2024-05", 0.25): (0.0, 8 / 3, 0.0, 0.0),
        ("2024-05", 0.5): (4 / 3, 2.0, 2 / 3, 2 / 3),
    }
    for key, values in expected.items():
        got = folds.loc[key, ["pai", "best_pai", "pei", "rri"]].to_numpy(dtype=float)
        np.testing.assert_allclose(got, values, err_msg=str(key), atol=1e-12)
    summary = result.summary.set_index("share")
    # 50 %: means (0.5 + 4/3)/2, (0.25 + 2/3)/2, (0.25 + 2/3)/2; pooled PAI = (3/7)/0.5 = 6/7;
    # pooled RRI = (Σn2/Σn1)/(ΣN2/ΣN1) = (3/7)/(7/7) = 3/7.
    np.testing.assert_allclose(
        summary.loc[0.5, ["pai", "pei", "rri", "pai_pooled", "rri_pooled"]].to_numpy(dtype=float),
        [11 / 12, 11 / 24, 11 / 24, 6 / 7, 3 / 7],
    )
    assert summary.loc[0.5, "rri_folds"] == 2
    assert summary.loc[0.25, ["pai", "pei", "rri"]].tolist() == [0.0, 0.0, 0.0]


def test_rolling_origin_rri_mean_skips_undefined_folds() -> None:
    # Cell 0 is flagged at 50 % (score 1 against 0); it has incidents only in month 4.
    counts = np.array([[0, 0, 0, 0, 2, 1], [1, 1, 1, 1, 1, 1]], dtype=float)
    result = ev.rolling_origin(
        make_panel(counts), {"last": ev.last_period()}, test_months=2, shares=(0.5,)
    )
    folds = result.folds.set_index("origin")
    # Origin 4 (2024-05): scores month 3 = [0, 1] → cell 1; n1 = 1 of N1 = 1, n2 = 1 of
    # N2 = 3 → (1/1)/(3/1) = 1/3. Origin 5 (2024-06): scores month 4 = [2, 1] → cell 0;
    # n1 = 2 of N1 = 3, n2 = 1 of N2 = 2 → (1/2)/(2/3) = 0.75.
    assert folds["rri"].tolist() == pytest.approx([1 / 3, 0.75])
    # Now counts = [[0, 0, 0, 0, 0, 1], [1, 1, 1, 0, 1, 1]]. Origin 4: scores [0, 0] tie, so
    # cell 0 is flagged with n1 = 0: RRI undefined, set to 0. Origin 5: scores [0, 1] → cell
    # 1; n1 = 1 of N1 = 1, n2 = 1 of N2 = 2 → 0.5, the only defined fold.
    counts[0, 4] = 0.0
    counts[1, 3] = 0.0
    result = ev.rolling_origin(
        make_panel(counts), {"last": ev.last_period()}, test_months=2, shares=(0.5,)
    )
    folds = result.folds.set_index("origin")
    assert folds.loc["2024-05", "rri"] == 0.0
    assert "RRI undefined" in folds.loc["2024-05", "note"]
    summary = result.summary.iloc[0]
    assert summary["rri_folds"] == 1
    assert summary["rri"] == pytest.approx(0.5)
    assert folds.loc["2024-06", "rri"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"test_months": 6}, r"needs at least 9 months .*; the panel has 8"),
        ({"test_months": 4, "min_train": 5}, r"needs at least 9 months .*; the panel has 8"),
        ({"test_months": 3, "horizon": 6}, r"horizon \(6\) must not exceed test_months \(3\)"),
        ({"step": 0}, "step must be a positive integer"),
        ({"test_months": 3, "shares": (0.1, 2.0)}, "area shares must be in"),
    ],
)
def test_rolling_origin_settings_errors(kwargs: dict[str, int], message: str) -> None:
    panel = make_panel(np.ones((3, 8)))
    with pytest.raises(SettingsError, match=message):
        ev.rolling_origin(panel, {"last": ev.last_period()}, **kwargs)  # type: ignore[arg-type]


def test_rolling_origin_checks_the_forecasters() -> None:
    panel = make_panel(np.ones((3, 8)))
    with pytest.raises(SettingsError, match="at least one forecaster"):
        ev.rolling_origin(panel, {}, test_months=3)
    with pytest.raises(SettingsError, match="forecaster 'short' at origin 2024-06 returned"):
        ev.rolling_origin(panel, {"short": lambda p, o, h: np.ones(2)}, test_months=3)
    with pytest.raises(SettingsError, match="'nan' .* with 3 NaN or infinite scores"):
        ev.rolling_origin(panel, {"nan": lambda p, o, h: np.full(3, np.nan)}, test_months=3)


def test_format_summary_names_every_method_and_the_rri_variant() -> None:
    panel, intensity = synthetic_town()
    forecasters = {name: factory() for name, factory in ev.BASELINES.items()}
    forecasters["oracle"] = ev.oracle(intensity)
    result = ev.rolling_origin(panel, forecasters, test_months=3)
    text = ev.format_summary(result)
    lines = text.splitlines()
    header = " ".join(lines[0].split())
    assert header == ("method PAI 1% PAI 5% PAI 10% PAI 20% PEI 1% PEI 5% PEI 10% PEI 20% RRI 5%")
    for name in forecasters:
        assert any(line.startswith(name) for line in lines)
    # The oracle is best at every PAI and PEI column.
    oracle_row = next(line for line in lines if line.startswith("oracle"))
    assert oracle_row.count("*") >= 8
    assert "Levine 2008" in text
    assert "3 folds" in text
    assert "RRI at 20%" in ev.format_summary(result, rri_share=0.2)
    with pytest.raises(SettingsError, match="rri_share 0.3 was not evaluated"):
        ev.format_summary(result, rri_share=0.3)
