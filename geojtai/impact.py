"""Impact of place-based interventions: WDQ, WDD and a difference-in-differences rate ratio.

An intervention (detached youth work, patrols, CCTV, lighting, ...) covers *treated* cells (A,
or T); the ring around them is the *buffer* (B), where crime may be displaced to or benefits
diffuse to; *control* cells (C) show what would have happened anyway. Subscript 0 is the before
window, 1 the after window. The statistics take those totals: :func:`wdq` (Bowers & Johnson
2003), :func:`wdd` (Wheeler & Ratcliffe 2018) and :func:`did_ratio` (the ratio of rate ratios);
:func:`intervention_impact` builds the totals from a cells × months panel for one intervention.
Nothing returned is NaN: an undefined quantity is ``None`` and a ``note`` says why.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from geojtai.errors import SettingsError

__all__ = [
    "buffer_displacement_measure",
    "did_ratio",
    "intervention_impact",
    "matched_controls",
    "success_measure",
    "too_few",
    "wdd",
    "wdq",
    "wdq_interpretation",
    "wdq_summary",
]

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_INTERVAL_KEYS = ("se", "z", "p_value", "ci_low", "ci_high", "local_se", "displacement_se")
_Terms = list[tuple[str, float, float, float]]  # (area, weight, before, after)


def _check_counts(**counts: float | None) -> None:
    bad = [f"{k} = {v}" for k, v in counts.items() if v is not None and not 0 <= v < math.inf]
    if bad:
        raise SettingsError("Counts must be finite and not negative: " + ", ".join(bad), bad)


def _z_of(level: float) -> float:
    if not 0 < level < 1:
        raise SettingsError(f"`level` was {level} but must be between 0 and 1 (e.g. 0.95).")
    return NormalDist().inv_cdf(0.5 + level / 2)


def _p_value(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def success_measure(a0: float, a1: float, c0: float, c1: float) -> float | None:
    """Success measure A₁/C₁ − A₀/C₀ (< 0: treated area improved); None if a C count is 0."""
    return None if c0 == 0 or c1 == 0 else a1 / c1 - a0 / c0


def buffer_displacement_measure(b0: float, b1: float, c0: float, c1: float) -> float | None:
    """Buffer displacement measure B₁/C₁ − B₀/C₀ (> 0: displacement); None if a C count is 0."""
    return success_measure(b0, b1, c0, c1)


def wdq(a0: float, a1: float, b0: float, b1: float, c0: float, c1: float) -> float | None:
    """Weighted Displacement Quotient (Bowers & Johnson 2003).

    WDQ = [(B₁/C₁) − (B₀/C₀)] / [(A₁/C₁) − (A₀/C₀)], A treated, B buffer, C control, 0 before and
    1 after. ``None`` when a control count or the success measure is 0 (division by zero);
    :func:`wdq_summary` gives the reason and the reading.

    Examples
    --------
    >>> round(wdq(100, 60, 50, 45, 1000, 1000), 6)  # (0.045 - 0.05) / (0.06 - 0.10)
    0.125
    """
    _check_counts(a0=a0, a1=a1, b0=b0, b1=b1, c0=c0, c1=c1)
    sm, bdm = success_measure(a0, a1, c0, c1), buffer_displacement_measure(b0, b1, c0, c1)
    return None if sm is None or bdm is None or sm == 0 else bdm / sm


def wdq_interpretation(value: float | None, success: float | None) -> str:
    """The published reading of a WDQ (Bowers & Johnson 2003, as tabulated by Guerette 2009).

    Only meaningful when the treated area improved relative to control (success < 0):

    - WDQ > 1: diffusion of benefits greater than the direct effect;
    - 0 < WDQ ≤ 1: diffusion of benefits;
    - WDQ = 0: no displacement or diffusion;
    - −1 ≤ WDQ < 0: some displacement, less than the direct effect (net benefit; at exactly −1
      the displacement cancels the direct effect);
    - WDQ < −1: displacement greater than the direct effect (intervention counter-productive).

    When success ≥ 0 the WDQ is not meaningful: there is no direct effect to displace.
    """
    if value is None or success is None:
        return "not defined"
    if success >= 0:
        return "not meaningful: the treated area did not improve relative to the control area"
    if value > 1:
        return "diffusion of benefits greater than the direct effect"
    if value > 0:
        return "diffusion of benefits"
    if value == 0:
        return "no displacement or diffusion"
    if value >= -1:
        return "some displacement, less than the direct effect (net benefit)"
    return "displacement greater than the direct effect (intervention counter-productive)"


def wdq_summary(a0: float, a1: float, b0: float, b1: float, c0: float, c1: float) -> dict[str, Any]:
    """WDQ with its parts, the total net effect, the reading and a note when undefined."""
    value = wdq(a0, a1, b0, b1, c0, c1)
    sm, bdm = success_measure(a0, a1, c0, c1), buffer_displacement_measure(b0, b1, c0, c1)
    note = None
    if sm is None:
        note = "WDQ not defined: no incidents in the control cells before or after."
    elif sm == 0:
        note = "WDQ not defined: the treated area changed exactly as the control area (SM = 0)."
    tne = None if c0 == 0 else (a0 * c1 / c0 - a1) + (b0 * c1 / c0 - b1)
    return {
        "wdq": value,
        "success": sm,
        "displacement": bdm,
        "total_net_effect": tne,
        "interpretation": wdq_interpretation(value, sm),
        "note": note,
    }


def _combine(terms: _Terms, r: float) -> tuple[float, float]:
    """Σ w·(after − r·before) and its Poisson variance Σ w²·(after + r²·before).

    Terms naming the same area are merged first, so an area used twice (one control group
    for both treated and buffer) gets its covariance right.
    """
    merged: dict[str, list[float]] = {}
    for area, w, before, after in terms:
        merged.setdefault(area, [0.0, before, after])[0] += w
    est = sum(w * (a - r * b) for w, b, a in merged.values())
    var = sum(w * w * (a + r * r * b) for w, b, a in merged.values())
    return float(est), float(var)


def _wdd_result(local: _Terms, disp: _Terms | None, r: float, level: float) -> dict[str, Any]:
    z_crit = _z_of(level)
    est_l, var_l = _combine(local, r)
    est, var = _combine(local + (disp or []), r)
    est_d, var_d = _combine(disp, r) if disp else (None, None)
    out: dict[str, Any] = {"estimate": est, "variance": var, "se": math.sqrt(var), "z": None}
    out |= {"p_value": None, "ci_low": None, "ci_high": None, "level": level, "local": est_l}
    out |= {"local_se": math.sqrt(var_l), "displacement": est_d, "note": None}
    out["displacement_se"] = None if var_d is None else math.sqrt(var_d)
    if var == 0:
        out["note"] = "No incidents anywhere: there is nothing to test."
        return out
    z = est / out["se"]
    half = z_crit * out["se"]
    out |= {"z": z, "p_value": _p_value(z), "ci_low": est - half, "ci_high": est + half}
    return out


def _months_ratio(months: tuple[float, float] | None) -> float:
    if months is None:
        return 1.0
    if len(months) != 2 or not all(0 < m < math.inf for m in months):
        raise SettingsError(f"`months` was {months} but must be two positive lengths (m0, m1).")
    return months[1] / months[0]


def wdd(
    t0: float,
    t1: float,
    c0: float,
    c1: float,
    *,
    d0: float | None = None,
    d1: float | None = None,
    cd0: float | None = None,
    cd1: float | None = None,
    months: tuple[float, float] | None = None,
    level: float = 0.95,
) -> dict[str, Any]:
    """Weighted Displacement Difference test (Wheeler & Ratcliffe 2018).

    WDD = (T₁ − T₀) − (C₁ − C₀) [+ (D₁ − D₀) − (CD₁ − CD₀) with a displacement area D and its
    control CD], variance the sum of all the counts (Poisson), z = WDD/√var, two-sided normal
    p-value and Wald interval at ``level``. Negative = fewer incidents than expected.

    Parameters
    ----------
    t0, t1, c0, c1
        Treated and control counts before (0) and after (1).
    d0, d1, cd0, cd1
        Displacement area and its control; give all four or none.
    months
        Lengths of the before and after windows (m0, m1) when they differ: each before count
        is scaled by r = m1/m0 to the after window's length, variance r²·count (as ptools'
        ``time_weights``), so the WDD is in incidents over the after window.
    level
        Confidence level of the interval.

    Returns
    -------
    dict
        ``estimate``, ``variance``, ``se``, ``z``, ``p_value``, ``ci_low``, ``ci_high``,
        ``level``, ``local`` and ``local_se`` (ΔT − ΔC), ``displacement`` and
        ``displacement_se`` (ΔD − ΔCD, or None), ``note``.

    Examples
    --------
    >>> wdd(40, 30, 100, 110)["estimate"]  # (30 - 40) - (110 - 100)
    -20.0
    """
    disp = (d0, d1, cd0, cd1)
    if any(x is not None for x in disp) and any(x is None for x in disp):
        raise SettingsError("The displacement area needs all four of d0, d1, cd0 and cd1.")
    _check_counts(t0=t0, t1=t1, c0=c0, c1=c1, d0=d0, d1=d1, cd0=cd0, cd1=cd1)
    r = _months_ratio(months)
    local: _Terms = [("T", 1.0, t0, t1), ("C", -1.0, c0, c1)]
    if d0 is None or d1 is None or cd0 is None or cd1 is None:
        return _wdd_result(local, None, r, level)
    return _wdd_result(local, [("D", 1.0, d0, d1), ("CD", -1.0, cd0, cd1)], r, level)


def did_ratio(
    t0: float,
    t1: float,
    c0: float,
    c1: float,
    *,
    months: tuple[float, float] | None = None,
    level: float = 0.95,
) -> dict[str, Any]:
    """Difference-in-differences on the log scale: the ratio of rate ratios.

    ratio = (T₁/m₁ ÷ T₀/m₀) / (C₁/m₁ ÷ C₀/m₀) = (T₁/T₀)/(C₁/C₀): the window lengths cancel
    because the same windows apply to both groups, so ``months`` changes only the per-month
    ``treated_ratio`` and ``control_ratio`` reported beside it. The Wald interval is
    exp(log ratio ± z·se) with se² = 1/T₁ + 1/T₀ + 1/C₁ + 1/C₀ (Poisson counts); the p-value is
    two-sided for ratio = 1. If any count is 0, 0.5 is added to all four (Haldane-Anscombe).

    Returns
    -------
    dict
        ``estimate``, ``ci_low``, ``ci_high``, ``percent_change`` (100·(ratio − 1)),
        ``p_value``, ``log_ratio``, ``se``, ``treated_ratio``, ``control_ratio``, ``level``,
        ``note``.

    Examples
    --------
    >>> did_ratio(100, 65, 200, 200)["estimate"]
    0.65
    """
    _check_counts(t0=t0, t1=t1, c0=c0, c1=c1)
    z_crit, r = _z_of(level), _months_ratio(months)
    note = None
    if min(t0, t1, c0, c1) == 0:
        t0, t1, c0, c1 = t0 + 0.5, t1 + 0.5, c0 + 0.5, c1 + 0.5
        note = "A count was 0, so 0.5 was added to each of the four (Haldane-Anscombe)."
    log_ratio = math.log(t1 / t0) - math.log(c1 / c0)
    se = math.sqrt(1 / t1 + 1 / t0 + 1 / c1 + 1 / c0)
    estimate = math.exp(log_ratio)
    return {
        "estimate": estimate,
        "ci_low": math.exp(log_ratio - z_crit * se),
        "ci_high": math.exp(log_ratio + z_crit * se),
        "percent_change": 100 * (estimate - 1),
        "p_value": _p_value(log_ratio / se),
        "log_ratio": log_ratio,
        "se": se,
        "treated_ratio": t1 / t0 / r,
        "control_ratio": c1 / c0 / r,
        "level": level,
        "note": note,
    }


def too_few(
    t0: float,
    t1: float,
    *,
    c0: float | None = None,
    c1: float | None = None,
    b0: float | None = None,
    b1: float | None = None,
    threshold: float = 20,
) -> str | None:
    """A plain-English warning when the counts are too small to say anything, else ``None``.

    Warns when the treated cells have fewer than ``threshold`` incidents before and after
    combined, and when any count given is 0.

    Examples
    --------
    >>> too_few(3, 4)
    'Only 7 incidents in the treated cells before and after: too few to tell an effect from chance.'
    """
    problems = []
    if t0 + t1 < threshold:
        noun = "incident" if t0 + t1 == 1 else "incidents"
        problems.append(
            f"Only {_fmt(t0 + t1)} {noun} in the treated cells before and after: "
            "too few to tell an effect from chance."
        )
    named = {"treated": (t0, t1), "control": (c0, c1), "buffer": (b0, b1)}
    when = ("before", "after")
    zeros = [f"the {g} cells {when[i]}" for g, v in named.items() for i in (0, 1) if v[i] == 0]
    if zeros:
        problems.append(
            f"No incidents in {', '.join(zeros)}: a change from or to nothing cannot be measured."
        )
    return " ".join(problems) or None


def _as_cells(x: ArrayLike, name: str, n_cells: int, problems: list[str]) -> np.ndarray:
    a = np.asarray(x).ravel()
    if a.size and a.dtype.kind not in "iu":
        problems.append(f"`{name}` must hold integer cell indices, got {a.dtype}.")
        return np.zeros(0, dtype=np.int64)
    a = a.astype(np.int64)
    out = a[(a < 0) | (a >= n_cells)]
    if out.size:
        problems.append(f"`{name}` has indices outside 0..{n_cells - 1}: {_list(out)}.")
    if np.unique(a).size != a.size:
        problems.append(f"`{name}` lists a cell more than once.")
    return a


def _list(a: np.ndarray, most: int = 10) -> str:
    shown = ", ".join(str(v) for v in a[:most])
    return shown + (f" and {a.size - most} more" if a.size > most else "")


def matched_controls(
    prior: ArrayLike,
    treated_and_buffer: ArrayLike,
    pool: ArrayLike,
    *,
    n: int | None = None,
    k: int = 5,
) -> np.ndarray:
    """Control cells matched on prior risk, k per treated cell, without replacement.

    The rule: the candidates are the ``pool`` cells that are not in ``treated_and_buffer``.
    The treated cells are the first ``n`` of ``treated_and_buffer`` (all of them when ``n`` is
    None; the rest are buffer cells, excluded but not matched). Treated cells take their turn
    from the highest ``prior`` to the lowest (the hardest to match first; ties by index), and
    each takes the k still-free candidates whose ``prior`` is closest to its own (ties by the
    lower index).

    Parameters
    ----------
    prior
        One value per cell, e.g. the mean monthly count before the start.
    treated_and_buffer, pool
        Cell indices: the treated cells then the buffer cells; the cells that may be controls.
    n, k
        How many of ``treated_and_buffer`` are treated; controls per treated cell.

    Returns
    -------
    numpy.ndarray
        The chosen control cell indices, sorted.
    """
    p = np.asarray(prior, dtype=float).ravel()
    problems: list[str] = []
    tb = _as_cells(treated_and_buffer, "treated_and_buffer", p.size, problems)
    pl = np.unique(_as_cells(pool, "pool", p.size, problems))
    n_t = tb.size if n is None else n
    if not 0 < n_t <= tb.size:
        problems.append(f"`n` was {n} but must be between 1 and {tb.size}.")
    if k < 1:
        problems.append(f"`k` was {k} but must be at least 1.")
    if problems:
        raise SettingsError("\n".join(problems), problems)
    treated, candidates = tb[:n_t], np.setdiff1d(pl, tb)
    bad = np.concatenate([treated, candidates])
    bad = bad[~np.isfinite(p[bad])]
    if bad.size:
        raise SettingsError(f"`prior` is not finite for cells {_list(bad)}.")
    if candidates.size < k * treated.size:
        raise SettingsError(
            f"The pool has {candidates.size} untreated cells outside the buffer, "
            f"fewer than k × treated = {k} × {treated.size}."
        )
    free = np.ones(candidates.size, dtype=bool)
    chosen = []
    for cell in treated[np.lexsort((treated, -p[treated]))]:
        idx = np.flatnonzero(free)
        take = idx[np.lexsort((candidates[idx], np.abs(p[candidates[idx]] - p[cell])))[:k]]
        free[take] = False
        chosen.append(candidates[take])
    return np.sort(np.concatenate(chosen))


def _month_key(label: object) -> int | None:
    m = _MONTH.match(label) if isinstance(label, str) else None
    return None if m is None else int(m[1]) * 12 + int(m[2]) - 1


def _windows(
    months: Sequence[str], start: str, end: str | None, window: int | None, problems: list[str]
) -> tuple[slice, slice, dict[str, Any]]:
    """Before and after windows as column slices, with what a person needs to read them."""
    keys = [_month_key(m) for m in months]
    bad = [str(m) for m, key in zip(months, keys, strict=True) if key is None]
    if bad or not keys:
        problems.append(f"`months` must be 'YYYY-MM' labels; bad: {', '.join(bad[:10]) or 'none'}.")
        return slice(0), slice(0), {}
    ks = [k for k in keys if k is not None]
    if np.any(np.diff(ks) != 1):
        problems.append("`months` must be consecutive, one per column of `counts`.")
    s, e = _month_key(start), (None if end is None else _month_key(end))
    first, last = ks[0], ks[-1]
    if s is None or (end is not None and e is None):
        problems.append(f"`start` {start!r} and `end` {end!r} must be 'YYYY-MM' (end may be None).")
    elif not first < s <= last:
        problems.append(f"`start` {start} must fall after {months[0]} and by {months[-1]}.")
    elif e is not None and e < s:
        problems.append(f"`end` {end} is before `start` {start}.")
    if window is not None and window < 1:
        problems.append(f"`window` was {window} but must be at least 1 month.")
    if problems or s is None:
        return slice(0), slice(0), {}
    a_lo, a_hi = s - first, min(last if e is None else e, last) - first + 1
    n_before = min(a_hi - a_lo if window is None else window, a_lo)
    notes = ["Ongoing: the after window runs to the last month."] if end is None else []
    if e is not None and e > last:
        notes.append(f"The end is past the data; the after window stops at {months[-1]}.")
    if n_before < (a_hi - a_lo if window is None else window):
        notes.append(f"Only {a_lo} months before the start are in the data; all are used.")
    if n_before != a_hi - a_lo:
        notes.append(
            f"Windows differ in length ({n_before} months before, {a_hi - a_lo} after): the WDD "
            f"scales before counts by {a_hi - a_lo}/{n_before}; WDQ and rate ratios need no scaling."
        )
    info = {
        "before": (months[a_lo - n_before], months[a_lo - 1]),
        "after": (months[a_lo], months[a_hi - 1]),
        "before_months": n_before,
        "after_months": a_hi - a_lo,
        "note": " ".join(notes) or None,
    }
    return slice(a_lo - n_before, a_lo), slice(a_lo, a_hi), info


def _compare(
    tot: dict[str, Any], sizes: tuple[int, int, int], months: tuple[int, int], level: float
) -> dict[str, Any]:
    """WDQ, WDD and the two rate ratios from the six window totals."""
    a0, a1, b0, b1, c0, c1 = (tot[k] for k in ("A0", "A1", "B0", "B1", "C0", "C1"))
    n_t, n_b, n_c = sizes
    r = months[1] / months[0]
    local: _Terms = [("A", 1.0, a0, a1), ("C", -n_t / n_c, c0, c1)]
    disp: _Terms | None = [("B", 1.0, b0, b1), ("C", -n_b / n_c, c0, c1)] if n_b else None
    wdq_block = wdq_summary(a0, a1, b0, b1, c0, c1)
    if not n_b:
        wdq_block |= {"wdq": None, "displacement": None, "interpretation": "not defined"}
        wdq_block["note"] = "No buffer cells: the WDQ needs a buffer."
    return {
        "wdq": wdq_block,
        "wdd": _wdd_result(local, disp, r, level),
        "did": did_ratio(a0, a1, c0, c1, months=months, level=level),
        "did_buffer": did_ratio(b0, b1, c0, c1, months=months, level=level) if n_b else None,
    }


def _point_only(blocks: dict[str, Any]) -> dict[str, Any]:
    """Drop the Poisson intervals, which do not hold for harm-weighted totals."""
    why = "Harm totals are not Poisson counts: point estimate only."
    for name in ("wdd", "did", "did_buffer"):
        if blocks[name] is not None:
            b = blocks[name]
            b |= {k: None for k in _INTERVAL_KEYS + ("variance",) if k in b}
            b["note"] = " ".join(x for x in (b["note"], why) if x)
    return blocks


def _check_inputs(
    counts: np.ndarray,
    months: Sequence[str],
    groups_in: dict[str, ArrayLike],
    harm: np.ndarray | None,
    when: tuple[str, str | None, int | None],
    level: float,
) -> tuple[dict[str, np.ndarray], slice, slice, dict[str, Any]]:
    """Every problem with the inputs of :func:`intervention_impact`, raised at once."""
    problems: list[str] = []
    if counts.ndim != 2 or counts.shape[1] != len(months):
        problems.append(f"`counts` is {counts.shape}; it must be cells × {len(months)} months.")
    elif not (np.isfinite(counts).all() and (counts >= 0).all()):
        problems.append("`counts` must be finite and not negative.")
    if harm is not None and np.shape(harm) != counts.shape:
        problems.append(f"`harm` is {np.shape(harm)} but `counts` is {counts.shape}.")
    elif harm is not None and not (np.isfinite(harm).all() and (np.asarray(harm) >= 0).all()):
        problems.append("`harm` must be finite and not negative.")
    n_cells = counts.shape[0] if counts.ndim == 2 else 0
    groups = {g: _as_cells(x, g, n_cells, problems) for g, x in groups_in.items()}
    problems += [f"`{g}` is empty." for g in ("treated", "controls") if groups[g].size == 0]
    for g, h in (("treated", "buffer"), ("treated", "controls"), ("buffer", "controls")):
        both = np.intersect1d(groups[g], groups[h])
        if both.size:
            problems.append(f"Cells {_list(both)} are in both `{g}` and `{h}`.")
    before, after, info = _windows(months, *when, problems)
    if not 0 < level < 1:
        problems.append(f"`level` was {level} but must be between 0 and 1 (e.g. 0.95).")
    if problems:
        raise SettingsError("\n".join(problems), problems)
    return groups, before, after, info


def intervention_impact(
    counts: np.ndarray,
    months: Sequence[str],
    treated: ArrayLike,
    buffer: ArrayLike,
    controls: ArrayLike,
    start: str,
    end: str | None = None,
    *,
    harm: np.ndarray | None = None,
    window: int | None = None,
    level: float = 0.95,
) -> dict[str, Any]:
    """Impact of one intervention: WDQ, WDD and rate ratios, before against after.

    The after window is ``start``..``end`` (``end`` None: ongoing to the last month; an end past
    the data stops at the last month). The before window is the ``window`` months just before
    ``start`` (default: as many as the after window), at most all that the data holds.

    The WDD's controls enter per cell: their change is scaled by n_treated/n_controls (and by
    n_buffer/n_controls for the buffer), so the WDD is in incidents in the treated (and buffer)
    cells, and assumes that without the intervention a treated cell would have changed by as
    many incidents as an average control cell; hence controls matched on prior risk
    (:func:`matched_controls`). The one control group serves treated and buffer, and the
    variance counts it once with its combined weight. Unequal windows scale before counts by
    m₁/m₀ in the WDD; the WDQ and the rate ratios do not depend on the window lengths.

    Parameters
    ----------
    counts
        Incidents, cells × months.
    months
        Consecutive 'YYYY-MM' labels, one per column.
    treated, buffer, controls
        Disjoint integer cell indices (buffer may be empty).
    start, end
        First and last active month, 'YYYY-MM'.
    harm
        Harm-weighted incidents like ``counts``: the same statistics as point estimates
        (harm totals are not Poisson counts, so their intervals are left out).
    window
        Length of the before window in months.
    level
        Confidence level of the intervals.

    Returns
    -------
    dict
        ``window`` (first/last month and length of each window, ``note``), ``cells``,
        ``counts`` (A0, A1, B0, B1, C0, C1), ``wdq``, ``wdd``, ``did`` (treated vs controls),
        ``did_buffer`` (buffer vs controls, or None), ``harm`` (``counts``, ``wdq``, ``wdd``,
        ``did``, ``did_buffer``; or None) and ``warning`` (from :func:`too_few`).
    """
    # Check every input, raising once.
    counts = np.asarray(counts)
    named = {"treated": treated, "buffer": buffer, "controls": controls}
    groups, before, after, info = _check_inputs(
        counts, months, named, harm, (start, end, window), level
    )
    # Window totals per group, then the comparisons.
    sizes = (groups["treated"].size, groups["buffer"].size, groups["controls"].size)
    lengths = (info["before_months"], info["after_months"])

    def totals(m: np.ndarray) -> dict[str, Any]:
        pairs = (("A", "treated"), ("B", "buffer"), ("C", "controls"))
        return {
            f"{k}{i}": m[groups[g]][:, w].sum().item()
            for k, g in pairs
            for i, w in ((0, before), (1, after))
        }

    tot = totals(counts)
    out: dict[str, Any] = {"window": info, "cells": dict(zip(named, sizes, strict=True))}
    out |= {"counts": tot, **_compare(tot, sizes, lengths, level), "harm": None}
    # Harm: the same statistics, point estimates only.
    if harm is not None:
        h_tot = totals(np.asarray(harm, dtype=float))
        out["harm"] = {"counts": h_tot, **_point_only(_compare(h_tot, sizes, lengths, level))}
    b0, b1 = (tot["B0"], tot["B1"]) if sizes[1] else (None, None)
    out["warning"] = too_few(tot["A0"], tot["A1"], c0=tot["C0"], c1=tot["C1"], b0=b0, b1=b1)
    return out
