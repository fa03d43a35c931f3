"""Tests of geojtai.impact: hand-computed tables, a published example and a calibration check."""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np
import pytest

from geojtai import impact as im
from geojtai.errors import SettingsError

Z95 = NormalDist().inv_cdf(0.975)  # 1.959964...
MONTHS = tuple(f"{2021 + m // 12}-{m % 12 + 1:02d}" for m in range(36))  # 2021-01 .. 2023-12


def two_sided_p(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


# --- WDQ ---------------------------------------------------------------------------------------
# Controls 1000 → 1000 throughout, treated 100 → 60: SM = 60/1000 − 100/1000 = −0.04.
@pytest.mark.parametrize(
    ("b0", "b1", "expected", "reading"),
    [
        # BDM = 0.045 − 0.05 = −0.005; WDQ = −0.005 / −0.04 = 0.125
        (50, 45, 0.125, "diffusion of benefits"),
        # BDM = 0.000 − 0.05 = −0.05; WDQ = 1.25
        (50, 0, 1.25, "diffusion of benefits greater than the direct effect"),
        # BDM = 0; WDQ = 0
        (50, 50, 0.0, "no displacement or diffusion"),
        # BDM = 0.06 − 0.05 = 0.01; WDQ = −0.25
        (50, 60, -0.25, "some displacement, less than the direct effect (net benefit)"),
        # BDM = 0.10 − 0.05 = 0.05; WDQ = −1.25
        (
            50,
            100,
            -1.25,
            "displacement greater than the direct effect (intervention counter-productive)",
        ),
    ],
)
def test_wdq_hand_tables(b0: int, b1: int, expected: float, reading: str) -> None:
    out = im.wdq_summary(100, 60, b0, b1, 1000, 1000)
    assert out["wdq"] == pytest.approx(expected, abs=1e-12)
    assert im.wdq(100, 60, b0, b1, 1000, 1000) == out["wdq"]
    assert out["success"] == pytest.approx(-0.04)
    assert out["displacement"] == pytest.approx((b1 - b0) / 1000)
    assert out["interpretation"] == reading
    assert out["note"] is None


def test_wdq_with_changing_controls() -> None:
    # C 1000 → 1250: SM = 60/1250 − 100/1000 = 0.048 − 0.1 = −0.052;
    # BDM = 55/1250 − 50/1000 = 0.044 − 0.05 = −0.006; WDQ = 0.006/0.052 = 0.115384...
    # TNE = [100·1.25 − 60] + [50·1.25 − 55] = 65 + 7.5 = 72.5 incidents prevented.
    out = im.wdq_summary(100, 60, 50, 55, 1000, 1250)
    assert out["wdq"] == pytest.approx(0.006 / 0.052)
    assert out["total_net_effect"] == pytest.approx(72.5)
    assert out["interpretation"] == "diffusion of benefits"


@pytest.mark.parametrize(
    ("value", "reading"),
    [
        (1.0, "diffusion of benefits"),
        (1e-9, "diffusion of benefits"),
        (-1.0, "some displacement, less than the direct effect (net benefit)"),
        (
            -1.0000001,
            "displacement greater than the direct effect (intervention counter-productive)",
        ),
    ],
)
def test_wdq_interpretation_boundaries(value: float, reading: str) -> None:
    assert im.wdq_interpretation(value, -0.1) == reading


def test_wdq_not_meaningful_when_treated_area_did_not_improve() -> None:
    # A 100 → 120 against flat controls: SM = +0.02, so the WDQ (−0.25) has no reading.
    out = im.wdq_summary(100, 120, 50, 45, 1000, 1000)
    assert out["wdq"] == pytest.approx(-0.25)
    assert out["interpretation"].startswith("not meaningful")


@pytest.mark.parametrize(("c0", "c1"), [(0, 1000), (1000, 0), (0, 0)])
def test_wdq_zero_controls_not_defined(c0: int, c1: int) -> None:
    out = im.wdq_summary(100, 60, 50, 45, c0, c1)
    assert out["wdq"] is None and out["success"] is None
    assert out["interpretation"] == "not defined"
    assert "control" in out["note"]


def test_wdq_zero_success_not_defined() -> None:
    out = im.wdq_summary(100, 100, 50, 45, 1000, 1000)
    assert out["wdq"] is None
    assert out["interpretation"] == "not defined"
    assert "SM = 0" in out["note"]


def test_wdq_rejects_negative_counts() -> None:
    with pytest.raises(SettingsError, match="a1 = -1"):
        im.wdq(100, -1, 50, 45, 1000, 1000)


# --- WDD ---------------------------------------------------------------------------------------
def test_wdd_hand_table() -> None:
    # (30 − 40) − (110 − 100) = −20; var = 40 + 30 + 100 + 110 = 280.
    out = im.wdd(40, 30, 100, 110)
    se = math.sqrt(280)
    z = -20 / se  # −1.1952
    assert out["estimate"] == -20
    assert out["variance"] == 280
    assert out["z"] == pytest.approx(z)
    assert out["z"] == pytest.approx(-1.195, abs=5e-4)
    assert out["p_value"] == pytest.approx(two_sided_p(z))
    assert out["p_value"] == pytest.approx(0.232, abs=5e-4)
    assert out["ci_low"] == pytest.approx(-20 - Z95 * se)  # −52.8
    assert out["ci_high"] == pytest.approx(-20 + Z95 * se)  # 12.8
    assert out["local"] == -20
    assert out["displacement"] is None


def test_wdd_published_example() -> None:
    # Wheeler & Ratcliffe (2018), as reproduced in the ptools test suite: treated 207 → 110,
    # control 308 → 318, displacement 178 → 157, displacement control 150 → 140.
    # WDD = (−97 − 10) + (−21 + 10) = −118; var = 1568; z = −2.98; 95 % CI −196 to −40.
    out = im.wdd(207, 110, 308, 318, d0=178, d1=157, cd0=150, cd1=140)
    assert out["estimate"] == -118
    assert out["se"] == pytest.approx(math.sqrt(1568))
    assert round(out["z"], 2) == -2.98
    assert (round(out["ci_low"]), round(out["ci_high"])) == (-196, -40)
    assert out["local"] == -107 and out["displacement"] == -11
    assert out["local_se"] == pytest.approx(math.sqrt(207 + 110 + 308 + 318))
    assert out["displacement_se"] == pytest.approx(math.sqrt(178 + 157 + 150 + 140))


def test_wdd_unequal_windows() -> None:
    # Wheeler's time-weights example: 2 periods before, 1 after; control 100 → 50, treated
    # 80 → 20. Before counts ×1/2: (20 − 40) − (50 − 50) = −20; var = 20 + 80/4 + 50 + 100/4.
    out = im.wdd(80, 20, 100, 50, months=(2, 1))
    assert out["estimate"] == pytest.approx(-20)
    assert out["variance"] == pytest.approx(115)


def test_wdd_needs_all_four_displacement_counts() -> None:
    with pytest.raises(SettingsError, match="all four"):
        im.wdd(40, 30, 100, 110, d0=5, d1=6)


def test_wdd_all_zero_has_no_test() -> None:
    out = im.wdd(0, 0, 0, 0)
    assert out["estimate"] == 0 and out["z"] is None and out["p_value"] is None
    assert out["note"]


# --- DiD rate ratio ----------------------------------------------------------------------------
def test_did_ratio_hand_table() -> None:
    # (65/100)/(200/200) = 0.65; se² = 1/65 + 1/100 + 1/200 + 1/200.
    out = im.did_ratio(100, 65, 200, 200)
    se = math.sqrt(1 / 65 + 1 / 100 + 1 / 200 + 1 / 200)
    assert out["estimate"] == pytest.approx(0.65)
    assert out["se"] == pytest.approx(se)
    assert out["ci_low"] == pytest.approx(math.exp(math.log(0.65) - Z95 * se))
    assert out["ci_high"] == pytest.approx(math.exp(math.log(0.65) + Z95 * se))
    assert out["percent_change"] == pytest.approx(-35)
    assert out["p_value"] == pytest.approx(two_sided_p(math.log(0.65) / se))
    assert out["note"] is None


def test_did_ratio_haldane_correction() -> None:
    # T 10 → 0: add 0.5 everywhere: (0.5/10.5)/(25.5/20.5).
    out = im.did_ratio(10, 0, 20, 25)
    assert out["estimate"] == pytest.approx((0.5 / 10.5) / (25.5 / 20.5))
    assert out["se"] == pytest.approx(math.sqrt(1 / 0.5 + 1 / 10.5 + 1 / 25.5 + 1 / 20.5))
    assert "Haldane" in out["note"]


def test_did_ratio_months_cancel() -> None:
    # 12 months before, 6 after: the ratio is unchanged; the per-month parts are not.
    plain, scaled = im.did_ratio(120, 39, 240, 120), im.did_ratio(120, 39, 240, 120, months=(12, 6))
    assert scaled["estimate"] == pytest.approx(plain["estimate"]) == pytest.approx(0.65)
    assert scaled["ci_low"] == pytest.approx(plain["ci_low"])
    assert scaled["treated_ratio"] == pytest.approx((39 / 6) / (120 / 12))  # 0.65
    assert scaled["control_ratio"] == pytest.approx(1.0)


def test_did_ratio_rejects_bad_level() -> None:
    with pytest.raises(SettingsError, match="level"):
        im.did_ratio(100, 65, 200, 200, level=95)


# --- too_few -----------------------------------------------------------------------------------
def test_too_few_small_numbers() -> None:
    assert im.too_few(3, 4) == (
        "Only 7 incidents in the treated cells before and after: "
        "too few to tell an effect from chance."
    )
    assert im.too_few(1, 0).startswith("Only 1 incident in")


def test_too_few_zero_counts() -> None:
    text = im.too_few(30, 25, c0=40, c1=0)
    assert text is not None
    assert "No incidents in the control cells after" in text
    assert not text.startswith("Only")


def test_too_few_none_when_enough() -> None:
    assert im.too_few(12, 8, c0=40, c1=30, b0=5, b1=6) is None


# --- matched_controls --------------------------------------------------------------------------
def test_matched_controls_nearest_prior() -> None:
    # Cell 0 is treated (prior 5), cell 1 is buffer; nearest untreated: 2 (0.1), 3 (0.3).
    prior = np.array([5.0, 1.0, 4.9, 5.3, 0.0, 3.0, 10.0, 4.6])
    got = im.matched_controls(prior, np.array([0, 1]), np.arange(8), n=1, k=2)
    np.testing.assert_array_equal(got, [2, 3])


def test_matched_controls_without_replacement_hottest_first() -> None:
    # Cell 0 (6.0) picks first and takes 2 (5.8); cell 1 (5.5) then gets 4 (1.0), not 2.
    prior = np.array([6.0, 5.5, 5.8, 0.0, 1.0])
    got = im.matched_controls(prior, np.array([0, 1]), np.arange(5), k=1)
    np.testing.assert_array_equal(got, [2, 4])


def test_matched_controls_pool_too_small() -> None:
    with pytest.raises(SettingsError, match="fewer than k"):
        im.matched_controls(np.ones(6), np.array([0, 1]), np.arange(6), k=3)


def test_matched_controls_collects_problems() -> None:
    with pytest.raises(SettingsError) as err:
        im.matched_controls(np.ones(6), np.array([0, 9]), np.array([1.5, 2.0]), k=0)
    assert len(err.value.problems) == 3  # index out of range, non-integer pool, k


# --- intervention_impact -----------------------------------------------------------------------
def synthetic(
    seed: int, effect: float = 0.6, spill: float = 1.1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """300 cells × 36 months of Poisson counts from a known intensity.

    Cells 0-4 are treated (3 a month), cells 5-19 their ring (Gamma(2, 1) like everyone else);
    from month 18 (2022-07) the treated intensity is × ``effect``, the ring's × ``spill``, and
    the whole town's × 1.1 (a trend the controls must absorb). Controls: 5 per treated cell,
    matched on the mean monthly count before the start.
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(2.0, 1.0, 300)
    lam[:5] = 3.0
    mult = np.ones((300, 36))
    mult[:, 18:] = 1.1
    mult[:5, 18:] *= effect
    mult[5:20, 18:] *= spill
    counts = rng.poisson(lam[:, None] * mult)
    prior = counts[:, :18].mean(axis=1)
    controls = im.matched_controls(prior, np.arange(20), np.arange(300), n=5, k=5)
    return counts, np.arange(20), controls


def run(seed: int, **kwargs: Any) -> dict[str, Any]:
    counts, tb, controls = synthetic(seed, **kwargs)
    return im.intervention_impact(counts, MONTHS, tb[:5], tb[5:], controls, "2022-07")


def walk(x: Any) -> list[Any]:
    if isinstance(x, dict):
        return [v for item in x.values() for v in walk(item)]
    if isinstance(x, list | tuple):
        return [v for item in x for v in walk(item)]
    return [x]


def test_impact_recovers_known_effect() -> None:
    out = run(1)
    did, buf = out["did"], out["did_buffer"]
    assert did["ci_low"] <= 0.6 <= did["ci_high"]
    assert did["ci_high"] < 1
    assert buf["ci_low"] <= 1.1 <= buf["ci_high"]
    assert out["wdq"]["wdq"] < 0  # the ring grew: displacement
    assert "displacement" in out["wdq"]["interpretation"]
    assert out["wdd"]["local"] < 0 < out["wdd"]["displacement"]
    assert out["window"] == {
        "before": ("2021-01", "2022-06"),
        "after": ("2022-07", "2023-12"),
        "before_months": 18,
        "after_months": 18,
        "note": "Ongoing: the after window runs to the last month.",
    }
    assert out["cells"] == {"treated": 5, "buffer": 15, "controls": 25}
    assert out["warning"] is None and out["harm"] is None
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in walk(out))


def test_impact_totals_and_shared_control_variance() -> None:
    counts, tb, controls = synthetic(2)
    out = im.intervention_impact(counts, MONTHS, tb[:5], tb[5:], controls, "2022-07")
    c = out["counts"]
    assert c["A0"] == counts[:5, :18].sum() and c["A1"] == counts[:5, 18:].sum()
    assert c["B1"] == counts[5:20, 18:].sum() and c["C0"] == counts[controls, :18].sum()
    # Controls weigh 5/25 for the treated and 15/25 for the ring; counted once: (0.2 + 0.6)².
    wt, wb = 5 / 25, 15 / 25
    expected = (c["A1"] - c["A0"]) + (c["B1"] - c["B0"]) - (wt + wb) * (c["C1"] - c["C0"])
    var = c["A0"] + c["A1"] + c["B0"] + c["B1"] + (wt + wb) ** 2 * (c["C0"] + c["C1"])
    assert out["wdd"]["estimate"] == pytest.approx(expected)
    assert out["wdd"]["variance"] == pytest.approx(var)
    assert out["wdq"]["wdq"] == pytest.approx(im.wdq(*c.values()))
    assert out["did"]["estimate"] == pytest.approx((c["A1"] / c["A0"]) / (c["C1"] / c["C0"]))


def test_impact_interval_calibration_over_seeds() -> None:
    # The honest check: over 200 independent towns, the 95 % interval of the rate ratio should
    # cover the true 0.6 about 95 % of the time (and the ring's 1.1 likewise).
    runs = [run(seed) for seed in range(200)]
    cover = np.mean([r["did"]["ci_low"] <= 0.6 <= r["did"]["ci_high"] for r in runs])
    cover_ring = np.mean(
        [r["did_buffer"]["ci_low"] <= 1.1 <= r["did_buffer"]["ci_high"] for r in runs]
    )
    assert 0.90 <= cover <= 0.99
    assert 0.90 <= cover_ring <= 0.99


def test_impact_no_effect_intervals_rarely_exclude_one() -> None:
    runs = [run(seed, effect=1.0, spill=1.0) for seed in range(200)]
    false_alarm = np.mean([r["did"]["p_value"] < 0.05 for r in runs])
    assert false_alarm <= 0.10


def test_impact_window_with_end() -> None:
    counts, tb, controls = synthetic(3)
    out = im.intervention_impact(counts, MONTHS, tb[:5], tb[5:], controls, "2022-07", "2022-12")
    assert out["window"]["before"] == ("2022-01", "2022-06")
    assert out["window"]["after"] == ("2022-07", "2022-12")
    assert out["window"]["note"] is None
    assert out["counts"]["A1"] == counts[:5, 18:24].sum()
    assert out["counts"]["A0"] == counts[:5, 12:18].sum()


def test_impact_window_explicit_and_short_history() -> None:
    counts, tb, controls = synthetic(4)
    out = im.intervention_impact(counts, MONTHS, tb[:5], tb[5:], controls, "2022-07", window=12)
    assert out["window"]["before"] == ("2021-07", "2022-06")
    assert out["window"]["before_months"] == 12 and out["window"]["after_months"] == 18
    # 12 months before, 18 after: the WDD scales before counts by 18/12 = 1.5.
    c, r = out["counts"], 1.5
    local = (c["A1"] - r * c["A0"]) - 5 / 25 * (c["C1"] - r * c["C0"])
    assert out["wdd"]["local"] == pytest.approx(local)
    assert "18/12" in out["window"]["note"]
    # Start in month 6 and ongoing: only 5 months of history exist.
    early = im.intervention_impact(counts, MONTHS, tb[:5], tb[5:], controls, "2021-06")
    assert early["window"]["before"] == ("2021-01", "2021-05")
    assert early["window"]["after_months"] == 31
    assert "Only 5 months" in early["window"]["note"]
    # An end past the data stops at the last month.
    past = im.intervention_impact(counts, MONTHS, tb[:5], tb[5:], controls, "2023-07", "2024-06")
    assert past["window"]["after"] == ("2023-07", "2023-12")
    assert "past the data" in past["window"]["note"]


def test_impact_harm_point_estimates() -> None:
    counts, tb, controls = synthetic(5)
    out = im.intervention_impact(
        counts, MONTHS, tb[:5], tb[5:], controls, "2022-07", harm=counts * 2.5
    )
    harm = out["harm"]
    assert harm["counts"]["A0"] == pytest.approx(2.5 * out["counts"]["A0"])
    assert harm["wdq"]["wdq"] == pytest.approx(out["wdq"]["wdq"])
    assert harm["did"]["estimate"] == pytest.approx(out["did"]["estimate"])
    assert harm["wdd"]["estimate"] == pytest.approx(2.5 * out["wdd"]["estimate"])
    assert harm["wdd"]["ci_low"] is None and harm["did"]["ci_low"] is None
    assert "not Poisson" in harm["did"]["note"]


def test_impact_small_numbers_warn() -> None:
    counts = np.zeros((10, 12), dtype=int)
    counts[0, :3] = 1  # 3 incidents before, 0 after in the one treated cell
    counts[5:, :] = 2
    out = im.intervention_impact(counts, MONTHS[:12], [0], [1, 2], [5, 6, 7, 8, 9], "2021-07")
    assert out["warning"].startswith(
        "Only 3 incidents in the treated cells before and after: too few to tell"
    )
    assert "the treated cells after" in out["warning"]
    assert out["did"]["note"] and "Haldane" in out["did"]["note"]
    # B0 = B1 = 0 so BDM = 0, and SM = 0/60 − 3/60 < 0: the WDQ is exactly 0.
    assert out["wdq"]["wdq"] == 0
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in walk(out))


def test_impact_overlaps_and_other_problems_raised_together() -> None:
    counts = np.ones((10, 12), dtype=int)
    with pytest.raises(SettingsError) as err:
        im.intervention_impact(counts, MONTHS[:12], [0, 1], [1, 2], [2, 3, 0], "2020-01")
    text = str(err.value)
    assert "Cells 1 are in both `treated` and `buffer`" in text
    assert "Cells 0 are in both `treated` and `controls`" in text
    assert "Cells 2 are in both `buffer` and `controls`" in text
    assert "`start` 2020-01" in text
    assert len(err.value.problems) == 4


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"start": "2021-13"}, "YYYY-MM"),
        ({"start": "2021-01"}, "must fall after"),
        ({"start": "2021-06", "end": "2021-03"}, "before `start`"),
        ({"start": "2021-06", "window": 0}, "window"),
        ({"start": "2021-06", "controls": []}, "`controls` is empty"),
        ({"start": "2021-06", "treated": [0.5]}, "integer"),
        ({"start": "2021-06", "treated": [10]}, "outside 0..9"),
        ({"start": "2021-06", "months": MONTHS[1:13][::-1]}, "consecutive"),
        ({"start": "2021-06", "harm": np.ones((10, 11))}, "`harm`"),
    ],
)
def test_impact_bad_inputs(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {
        "counts": np.ones((10, 12), dtype=int),
        "months": MONTHS[:12],
        "treated": [0],
        "buffer": [1],
        "controls": [5, 6],
    }
    args |= kwargs
    with pytest.raises(SettingsError, match=match):
        im.intervention_impact(**args)


def test_impact_without_buffer() -> None:
    counts, tb, controls = synthetic(6)
    out = im.intervention_impact(counts, MONTHS, tb[:5], [], controls, "2022-07")
    assert out["wdq"]["wdq"] is None and out["wdq"]["note"].startswith("No buffer")
    assert out["wdq"]["success"] < 0
    assert out["did_buffer"] is None and out["wdd"]["displacement"] is None
    # Without a buffer the WDD is the local one: ΔA − (5/25)·ΔC.
    c = out["counts"]
    assert out["wdd"]["estimate"] == pytest.approx((c["A1"] - c["A0"]) - 0.2 * (c["C1"] - c["C0"]))
