"""Hot spots: Getis-Ord Gi* with FDR, emerging hot spots (Mann-Kendall), temporal profiles.

Gi* (Getis & Ord 1992; Ord & Getis 1995; ArcGIS's *Hot Spot Analysis*) compares the sum
over a cell's k-ring neighbourhood, the cell itself included, with what the global mean
predicts::

    z_i = (Σ_j w_ij x_j − X̄ Σ_j w_ij) / (S · sqrt((n Σ_j w_ij² − (Σ_j w_ij)²) / (n − 1)))

with ``X̄`` the mean and ``S = sqrt(Σ x² / n − X̄²)`` the population standard deviation.
Every period is a column and one sparse product gives the neighbourhood sums of all of
them. p-values are two-sided from the normal distribution; Benjamini-Hochberg controls
the false discovery rate across the cells of one period, as ArcGIS's FDR option does.

**Emerging hot spots** follow ESRI's published definitions (ArcGIS Pro, *How Emerging
Hot Spot Analysis works*). A cell is *hot* in period ``t`` when its Gi* z-score there is
positive and its p-value (BH-adjusted within the period when ``fdr``) is below ``alpha``;
*cold* likewise with a negative z-score. The trend is a Mann-Kendall test on the cell's
Gi* z-score series, significant when its p-value is below ``alpha``. "≥ 90 %" means at
least 9 of every 10 periods (``10 × hot ≥ 9 × T``, integers, no rounding).

=======================  ==============================================================
new hot spot             hot in the final period and in no earlier one
consecutive hot spot     one uninterrupted run of ≥ 2 hot periods ending in the final
                         one, never hot before the run, < 90 % of periods hot
intensifying hot spot    hot in ≥ 90 % of periods including the final one; z-scores
                         increase significantly
persistent hot spot      hot in ≥ 90 % of periods including the final one; no
                         significant trend
diminishing hot spot     hot in ≥ 90 % of periods including the final one; z-scores
                         decrease significantly
sporadic hot spot        hot in the final period, hot on and off before (not new, not
                         consecutive), < 90 % of periods hot, never cold (ArcGIS Pro's
                         wording; ArcMap's did not require the final period)
oscillating hot spot     hot in the final period, cold in some earlier period, < 90 %
                         of periods hot
historical hot spot      not hot in the final period, hot in ≥ 90 % of periods
no pattern detected      none of the above, hot or cold
=======================  ==============================================================

The cold categories mirror these (cold for hot; "intensifying cold" means z-scores
decreasing significantly, "diminishing cold" increasing).

ESRI's definitions overlap in a few corners; these precedences make every cell fall in
exactly one category (they are the only choices made beyond ESRI's text):

* The final period decides the family: hot in the final period → a hot category, cold →
  a cold category, neither → historical hot, historical cold or no pattern. (A cell hot
  in 11 of 12 periods and cold in the 12th is an oscillating cold spot, not historical.)
* A cell hot in the final period that was ever cold before is *oscillating*, even where
  it would also be *new* or *consecutive* (never hot before) — as in sfdep; the cold
  history is the more telling fact.
* A cell hot in ≥ 90 % of periods but not in the final one is *historical*, not
  *persistent* (ESRI's persistent does not say "including the final time step").

ESRI requires at least 10 periods. With fewer, the same rules apply and
``attrs["message"]`` says the result is indicative; the 90 % rules then mean every
period, and a significant trend needs at least 5 periods (at alpha = 0.05). With a single period there is
no history, so every cell is "no pattern detected" (its Gi* bin is still in
``final_bin``).

References: Getis, A. & Ord, J.K. (1992) *Geographical Analysis* 24(3); Ord, J.K. &
Getis, A. (1995) *Geographical Analysis* 27(4); Benjamini, Y. & Hochberg, Y. (1995)
*JRSS B* 57(1); Mann (1945), Kendall (1975) for the trend test.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import ndtr

from geojtai import grid
from geojtai.errors import SchemaError, SettingsError

__all__ = [
    "BIN_LABELS",
    "EMERGING_CATEGORIES",
    "MIN_RECOMMENDED_PERIODS",
    "NO_PATTERN",
    "WEEKDAYS",
    "benjamini_hochberg",
    "bh_adjusted",
    "emerging_hotspots",
    "gi_star",
    "hotspot_bins",
    "hotspots",
    "mann_kendall",
    "temporal_profile",
]

BIN_LABELS: dict[int, str] = {
    3: "hot spot 99%",
    2: "hot spot 95%",
    1: "hot spot 90%",
    0: "not significant",
    -1: "cold spot 90%",
    -2: "cold spot 95%",
    -3: "cold spot 99%",
}
_BIN_P = (0.01, 0.05, 0.10)  # p below these: 99 %, 95 %, 90 % confidence (bins 3, 2, 1)

NO_PATTERN = "no pattern detected"
_PATTERNS = (
    "new",
    "consecutive",
    "intensifying",
    "persistent",
    "diminishing",
    "sporadic",
    "oscillating",
    "historical",
)
EMERGING_CATEGORIES: tuple[str, ...] = (
    *(f"{p} hot spot" for p in _PATTERNS),
    *(f"{p} cold spot" for p in _PATTERNS),
    NO_PATTERN,
)
MIN_RECOMMENDED_PERIODS = 10  # ESRI's minimum for Emerging Hot Spot Analysis
_MIN_CELLS = 3  # fewer cells with incidents than this: no hot-spot statistics at all

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


# --- Gi* ---------------------------------------------------------------------------------


def gi_star(values: Any, weights: Any) -> tuple[np.ndarray, np.ndarray]:
    """Getis-Ord Gi* z-scores and two-sided p-values (normal approximation).

    Parameters
    ----------
    values
        Shape ``(n,)`` or ``(n, T)``: one column per period, all computed with one sparse
        product.
    weights
        ``(n, n)`` spatial weights including the diagonal (Gi*), normally the 0/1 k-ring
        matrix of :func:`geojtai.grid.neighbour_matrix`; sparse or dense. Other weights
        follow the same formula (it keeps ``Σ w²``).

    Returns
    -------
    (z, p)
        Arrays shaped like ``values``. Where a column is constant (``S = 0``, e.g. a period
        with no incidents) or a cell's neighbourhood holds every cell, Gi* is undefined:
        those get ``z = 0`` and ``p = 1``, never NaN.

    Raises
    ------
    SettingsError
        ``weights`` is not ``n × n`` or ``values`` has more than two dimensions.
    SchemaError
        ``values`` holds NaN or infinity.

    Examples
    --------
    >>> w = sparse.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]]))
    >>> z, p = gi_star(np.array([1.0, 2.0, 6.0]), w)
    >>> np.round(z, 3).tolist()
    [-1.389, 0.0, 0.926]
    """
    x = _as_panel(values, "values")
    n = x.shape[0]
    w = _as_weights(weights, n)
    z = np.zeros(x.shape)
    if n >= 2 and x.shape[1]:
        w_sum = np.asarray(w.sum(axis=1)).ravel()
        w_sq = np.asarray(w.multiply(w).sum(axis=1)).ravel()
        mean = x.mean(axis=0)
        sd = x.std(axis=0)
        # Exact test for constant columns: a rounded std of 1e-17 would blow z up.
        sd[x.max(axis=0) == x.min(axis=0)] = 0.0
        spread = np.sqrt(np.clip(n * w_sq - w_sum**2, 0.0, None) / (n - 1))
        denom = spread[:, None] * sd[None, :]
        num = w @ x - w_sum[:, None] * mean[None, :]
        ok = denom > 0
        z[ok] = num[ok] / denom[ok]
    p = np.minimum(2.0 * ndtr(-np.abs(z)), 1.0)
    shape = np.shape(values)
    return z.reshape(shape), p.reshape(shape)


def _as_panel(values: Any, what: str) -> np.ndarray:
    """``values`` as a float ``(n, T)`` array (a 1-D input becomes one column)."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim not in (1, 2):
        msg = f"{what} must be 1-D (n,) or 2-D (n, T); shape {x.shape} was given."
        raise SettingsError(msg)
    if x.size and not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).sum())
        msg = f"{what} holds {bad} NaN or infinite values; hot-spot statistics need numbers."
        raise SchemaError(msg)
    return x.reshape(x.shape[0], -1)


def _as_weights(weights: Any, n: int) -> sparse.csr_matrix:
    w = sparse.csr_matrix(weights, dtype=np.float64)
    if w.shape != (n, n):
        msg = f"weights must be {n} × {n} to match values; {w.shape[0]} × {w.shape[1]} was given."
        raise SettingsError(msg)
    return w


# --- Benjamini-Hochberg ------------------------------------------------------------------


def bh_adjusted(p: Any) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (monotone in ``p``, capped at 1).

    ``p_adj[(i)] = min over j ≥ i of p[(j)] · m / j`` for the sorted p-values ``p[(j)]``.

    Parameters
    ----------
    p
        1-D p-values in 0..1; apply per period for a panel.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values in the input order.

    Examples
    --------
    >>> bh_adjusted(np.array([0.01, 0.04, 0.03])).tolist()
    [0.03, 0.04, 0.04]
    """
    return _bh_columns(_check_p(p)[:, None])[:, 0]


def benjamini_hochberg(p: Any, alpha: float = 0.05) -> np.ndarray:
    """Which p-values are discoveries at false discovery rate ``alpha`` (Benjamini-Hochberg).

    The ``k`` smallest p-values are discoveries, ``k`` the largest rank with
    ``p[(k)] ≤ k · alpha / m``.

    Parameters
    ----------
    p
        1-D p-values in 0..1.
    alpha
        False discovery rate, in (0, 1).

    Returns
    -------
    numpy.ndarray
        Boolean mask in the input order.
    """
    _check_alpha(alpha)
    return bh_adjusted(p) <= alpha


def _bh_columns(p: np.ndarray) -> np.ndarray:
    """BH-adjust every column of an ``(m, T)`` array independently.

    Works on the transpose so each sort runs along contiguous memory (3× faster for
    100k cells × 36 periods than sorting down the columns).
    """
    pt = np.ascontiguousarray(p.T)
    m = pt.shape[1]
    if m == 0:
        return p.copy()
    order = np.argsort(pt, axis=1, kind="stable")
    ranked = np.take_along_axis(pt, order, axis=1) * (m / np.arange(1, m + 1))
    ranked = np.minimum.accumulate(ranked[:, ::-1], axis=1)[:, ::-1]
    out = np.empty_like(pt)
    np.put_along_axis(out, order, np.minimum(ranked, 1.0), axis=1)
    return out.T


def _bh_below(p: np.ndarray, alpha: float) -> np.ndarray:
    """``_bh_columns(p) < alpha`` without sorting every p-value.

    An adjusted p-value is below ``alpha`` only up to the largest rank ``j`` with
    ``p_(j) · m / j < alpha``, and such a ``p_(j)`` is itself below ``alpha``: sorting the
    few p-values under ``alpha`` in each period is enough (same floating-point
    expression as :func:`_bh_columns`, so the two agree exactly).
    """
    m = p.shape[0]
    out = np.zeros(p.shape, dtype=bool)
    for t in range(p.shape[1]):  # one vectorised pass per period
        col = p[:, t]
        cand = np.sort(col[col < alpha])
        ok = np.flatnonzero(cand * (m / np.arange(1, cand.size + 1)) < alpha)
        if ok.size:
            out[:, t] = col <= cand[ok[-1]]
    return out


def _check_p(p: Any) -> np.ndarray:
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim != 1:
        msg = f"p-values must be 1-D; shape {arr.shape} was given (adjust each period apart)."
        raise SettingsError(msg)
    return _check_p_range(arr)


def _check_p_range(arr: np.ndarray) -> np.ndarray:
    if arr.size and not (np.isfinite(arr).all() and arr.min() >= 0 and arr.max() <= 1):
        msg = "p-values must be finite numbers in 0..1."
        raise SchemaError(msg)
    return arr


def _check_alpha(alpha: float) -> None:
    if not (isinstance(alpha, (int, float, np.floating)) and 0 < alpha < 1):
        msg = f"alpha must be a number between 0 and 1 (exclusive); {alpha!r} was given."
        raise SettingsError(msg)


# --- bins --------------------------------------------------------------------------------


def hotspot_bins(z: Any, p: Any, *, fdr: bool = True) -> np.ndarray:
    """ArcGIS-style Gi_Bin: ±3 at 99 %, ±2 at 95 %, ±1 at 90 % confidence, 0 otherwise.

    Parameters
    ----------
    z, p
        Gi* z-scores and p-values, ``(n,)`` or ``(n, T)``.
    fdr
        Judge the confidence levels on Benjamini-Hochberg adjusted p-values, per column
        (a cell is "hot spot 95%" only where its adjusted p < 0.05).

    Returns
    -------
    numpy.ndarray
        ``int8`` bins shaped like ``z``; :data:`BIN_LABELS` names them.
    """
    z = np.asarray(z, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if z.shape != p.shape or z.ndim not in (1, 2):
        msg = f"z and p must have the same 1-D or 2-D shape; {z.shape} and {p.shape} were given."
        raise SettingsError(msg)
    p2 = _check_p_range(p.reshape(p.shape[0], -1))
    if fdr:
        p2 = _bh_columns(p2)
    level = len(_BIN_P) - np.searchsorted(_BIN_P, p2, side="right")  # p < 0.01 → 3, ...
    return (np.sign(z) * level.reshape(z.shape)).astype(np.int8)


# --- Mann-Kendall ------------------------------------------------------------------------


def mann_kendall(series: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mann-Kendall trend test on every row of an ``(n, T)`` array.

    ``S = Σ_{i<j} sign(x_j − x_i)``; its variance, corrected for ties, is
    ``(T(T−1)(2T+5) − Σ_g t_g(t_g−1)(2t_g+5)) / 18`` over groups of ``t_g`` equal values;
    ``z = (S − sign(S)) / sqrt(var)`` (continuity correction); ``p`` two-sided normal.

    Parameters
    ----------
    series
        ``(n, T)`` (or one ``(T,)`` series), time along the rows.

    Returns
    -------
    (S, z, p)
        ``int64`` S and float z, p, one per row (scalars' shape ``(1,)`` for a 1-D input).
        Rows shorter than 3 or constant give ``z = 0``, ``p = 1``.

    Examples
    --------
    >>> s, z, p = mann_kendall(np.arange(10.0))
    >>> int(s[0]), round(float(z[0]), 4)
    (45, 3.9355)
    """
    x = np.asarray(series, dtype=np.float64)
    x = x.reshape(1, -1) if x.ndim == 1 else x
    if x.ndim != 2:
        msg = f"series must be (n, T); shape {x.shape} was given."
        raise SettingsError(msg)
    if x.size and not np.isfinite(x).all():
        msg = "series holds NaN or infinite values."
        raise SchemaError(msg)
    n, t = x.shape
    s = np.zeros(n, dtype=np.int64)
    xt = np.ascontiguousarray(x.T)  # time along contiguous rows: 3× faster comparisons
    for lag in range(1, t):  # T−1 vectorised steps over all cells, not a loop over cells
        later, earlier = xt[lag:], xt[:-lag]
        s += np.count_nonzero(later > earlier, axis=0)
        s -= np.count_nonzero(later < earlier, axis=0)
    var = (t * (t - 1) * (2 * t + 5) - _tie_term(x)) / 18.0
    z = np.zeros(n)
    ok = (var > 0) & (t >= 3) & (s != 0)
    z[ok] = (s[ok] - np.sign(s[ok])) / np.sqrt(var[ok])
    p = np.minimum(2.0 * ndtr(-np.abs(z)), 1.0)
    return s, z, p


def _tie_term(x: np.ndarray) -> np.ndarray:
    """Σ_g t_g(t_g−1)(2t_g+5) per row, from the runs of equal values in each sorted row."""
    n, t = x.shape
    if n == 0 or t == 0:
        return np.zeros(n)
    srt = np.sort(x, axis=1)
    start = np.ones((n, t), dtype=bool)
    start[:, 1:] = srt[:, 1:] != srt[:, :-1]
    first = np.flatnonzero(start.ravel())
    size = np.diff(np.append(first, n * t)).astype(np.float64)
    return np.bincount(first // t, weights=size * (size - 1) * (2 * size + 5), minlength=n)


# --- emerging hot spots -----------------------------------------------------------------


def emerging_hotspots(
    counts: Any, weights: Any, *, alpha: float = 0.05, fdr: bool = True
) -> pd.DataFrame:
    """ESRI's emerging hot-spot category of every cell over ``T`` periods.

    Gi* per period (the columns) with the FDR correction per period, then a Mann-Kendall
    trend on each cell's z-score series; the module docstring lists the rules.

    Parameters
    ----------
    counts
        ``(n cells, T periods)`` counts (or harm-weighted counts).
    weights
        ``(n, n)`` Gi* weights including self (:func:`geojtai.grid.neighbour_matrix`).
    alpha
        Significance for hot/cold in a period and for the trend.
    fdr
        Judge hot/cold on Benjamini-Hochberg adjusted p-values within each period.

    Returns
    -------
    pandas.DataFrame
        One row per cell in input order: ``category`` (one of
        :data:`EMERGING_CATEGORIES`), ``hot_periods``, ``cold_periods``, ``final_bin``
        (the Gi* bin of the last period), ``trend_z`` and ``trend_p``.
        ``attrs["message"]`` explains a result resting on too few periods ("" otherwise).
    """
    _check_alpha(alpha)
    x = _as_panel(counts, "counts")
    n, t = x.shape
    z, p = gi_star(x, weights)
    significant = _bh_below(p, alpha) if fdr else p < alpha
    hot, cold = (z > 0) & significant, (z < 0) & significant
    _, trend_z, trend_p = mann_kendall(z)
    codes = _classify(hot, cold, trend_z, trend_p < alpha)
    final_bin = hotspot_bins(z[:, -1], p[:, -1], fdr=fdr) if t else np.zeros(n, np.int8)
    out = pd.DataFrame(
        {
            "category": np.asarray(EMERGING_CATEGORIES, dtype=object)[codes],
            "hot_periods": hot.sum(axis=1).astype(np.int64),
            "cold_periods": cold.sum(axis=1).astype(np.int64),
            "final_bin": final_bin,
            "trend_z": trend_z,
            "trend_p": trend_p,
        }
    )
    out.attrs["message"] = _periods_message(t)
    return out


def _classify(
    hot: np.ndarray, cold: np.ndarray, trend_z: np.ndarray, trend_sig: np.ndarray
) -> np.ndarray:
    """Index into :data:`EMERGING_CATEGORIES` for every row of the hot/cold masks."""
    n, t = hot.shape
    code = np.full(n, len(EMERGING_CATEGORIES) - 1, dtype=np.intp)
    if t < 2:  # no history to speak of
        return code
    up = trend_sig & (trend_z > 0)
    down = trend_sig & (trend_z < 0)
    hot_code = _family(hot, cold, rising=up, falling=down)
    cold_code = _family(cold, hot, rising=down, falling=up)  # colder = more intense
    final_hot, final_cold = hot[:, -1], cold[:, -1]
    code = np.where(final_hot, hot_code, code)
    code = np.where(final_cold, cold_code + len(_PATTERNS), code)
    neither = ~final_hot & ~final_cold
    historical = _PATTERNS.index("historical")
    code = np.where(neither & _most(hot), historical, code)
    return np.where(neither & _most(cold), historical + len(_PATTERNS), code)


def _family(
    same: np.ndarray, other: np.ndarray, *, rising: np.ndarray, falling: np.ndarray
) -> np.ndarray:
    """Pattern index (into :data:`_PATTERNS`) for rows that are ``same`` in the final period.

    ``same``/``other`` are the hot/cold masks (or cold/hot for the mirror); ``rising`` is a
    significant trend towards more intense ``same``.
    """
    count = same.sum(axis=1)
    run = _final_run(same)
    idx = _PATTERNS.index
    choices = [
        _most(same) & rising,
        _most(same) & falling,
        _most(same),
        other.any(axis=1),
        count == 1,
        (run >= 2) & (run == count),
    ]
    names = ["intensifying", "diminishing", "persistent", "oscillating", "new", "consecutive"]
    return np.select(choices, [idx(name) for name in names], default=idx("sporadic"))


def _most(mask: np.ndarray) -> np.ndarray:
    """At least 90 % of periods (integer test: 10 × count ≥ 9 × T)."""
    return 10 * mask.sum(axis=1) >= 9 * mask.shape[1]


def _final_run(mask: np.ndarray) -> np.ndarray:
    """Length of the run of True ending in the last column of every row."""
    rev = mask[:, ::-1]
    return np.where(rev.all(axis=1), mask.shape[1], np.argmin(rev, axis=1))


def _periods_message(t: int) -> str:
    if t < 2:
        return (
            f"{t} period: emerging hot spots need a history, so every cell is "
            f"'{NO_PATTERN}' (ESRI recommends at least {MIN_RECOMMENDED_PERIODS} periods)"
        )
    if t < MIN_RECOMMENDED_PERIODS:
        return (
            f"only {t} periods: emerging hot-spot categories are indicative "
            f"(ESRI recommends at least {MIN_RECOMMENDED_PERIODS})"
        )
    return ""


# --- one study ---------------------------------------------------------------------------


def hotspots(
    cells: Any, counts: Any, *, k: int = 1, alpha: float = 0.05, fdr: bool = True
) -> pd.DataFrame:
    """Gi* hot spots on the totals and emerging hot spots over the periods, per cell.

    Parameters
    ----------
    cells
        ``(n,)`` distinct ``uint64`` H3 cells.
    counts
        ``(n, T)`` counts per cell and period (months); a 1-D array is one period.
    k
        Neighbourhood: the k-ring around each cell, itself included (k ≥ 1).
    alpha
        Significance for the emerging categories and their trend, in (0, 1).
    fdr
        Benjamini-Hochberg across cells (per period for the emerging categories).

    Returns
    -------
    pandas.DataFrame
        One row per cell in input order: ``cell``, ``total``, ``gi_z``, ``gi_p``,
        ``gi_p_adj`` (BH), ``gi_bin`` (−3..3), ``gi_class`` (:data:`BIN_LABELS`),
        ``emerging``, ``hot_periods``, ``cold_periods``, ``final_bin``, ``trend_z``,
        ``trend_p``. ``attrs["message"]`` says why a result is empty or only indicative
        ("" otherwise). With fewer than 3 cells with incidents every cell is
        "not significant" and "no pattern detected" (z = 0, p = 1).

    Raises
    ------
    SettingsError
        Every problem with ``k``, ``alpha``, the cells and the shapes, at once.
    """
    # Check: every problem at once.
    cells_u, x = _check_study(cells, counts, k=k, alpha=alpha)
    total = x.sum(axis=1)
    with_incidents = int(np.count_nonzero(total))
    if with_incidents < _MIN_CELLS:
        return _empty_result(cells_u, total, x.shape[1], with_incidents)
    # Compute: one neighbour matrix for the totals and every period.
    weights = grid.neighbour_matrix(cells_u, k, include_self=True)
    z, p = gi_star(total, weights)
    p_adj = bh_adjusted(p)
    bins = hotspot_bins(z, p, fdr=fdr)
    emerging = emerging_hotspots(x, weights, alpha=alpha, fdr=fdr)
    # Assemble.
    out = pd.DataFrame(
        {"cell": cells_u, "total": total, "gi_z": z, "gi_p": p, "gi_p_adj": p_adj, "gi_bin": bins}
    )
    out["gi_class"] = out["gi_bin"].map(BIN_LABELS)
    out = pd.concat([out, emerging.rename(columns={"category": "emerging"})], axis=1)
    out.attrs["message"] = emerging.attrs["message"]
    return out


def _check_study(cells: Any, counts: Any, *, k: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    problems: list[str] = []
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        problems.append(f"k (the neighbourhood ring) must be an integer ≥ 1; {k!r} was given")
    if not (isinstance(alpha, (int, float, np.floating)) and 0 < alpha < 1):
        problems.append(f"alpha must be a number between 0 and 1 (exclusive); {alpha!r} was given")
    cells_u = np.asarray(cells)
    x = np.asarray(counts, dtype=np.float64)
    x = x.reshape(-1, 1) if x.ndim == 1 else x
    if cells_u.ndim != 1 or not np.issubdtype(cells_u.dtype, np.integer):
        problems.append(
            f"cells must be a 1-D array of uint64 H3 cells; "
            f"{cells_u.dtype} of shape {cells_u.shape} was given"
        )
    elif np.unique(cells_u).size != cells_u.size:
        problems.append(
            f"cells must be distinct; {cells_u.size - np.unique(cells_u).size} are repeated"
        )
    if x.ndim != 2 or x.shape[0] != cells_u.size:
        problems.append(
            f"counts must be (n cells, T periods) with n = {cells_u.size} "
            f"matching cells; shape {x.shape} was given"
        )
    elif x.size and not np.isfinite(x).all():
        problems.append(f"counts hold {int((~np.isfinite(x)).sum())} NaN or infinite values")
    if problems:
        raise SettingsError("\n".join(problems), problems)
    return cells_u.astype(np.uint64), x


def _empty_result(
    cells: np.ndarray, total: np.ndarray, t: int, with_incidents: int
) -> pd.DataFrame:
    """The no-statistics result: every cell not significant, no pattern, z = 0, p = 1."""
    n = cells.size
    zeros, ones = np.zeros(n), np.ones(n)
    out = pd.DataFrame(
        {
            "cell": cells,
            "total": total,
            "gi_z": zeros,
            "gi_p": ones,
            "gi_p_adj": ones,
            "gi_bin": np.zeros(n, np.int8),
            "gi_class": np.full(n, BIN_LABELS[0], dtype=object),
            "emerging": np.full(n, NO_PATTERN, dtype=object),
            "hot_periods": np.zeros(n, np.int64),
            "cold_periods": np.zeros(n, np.int64),
            "final_bin": np.zeros(n, np.int8),
            "trend_z": zeros,
            "trend_p": ones,
        }
    )
    cells_word = "cell" if with_incidents == 1 else "cells"
    out.attrs["message"] = (
        f"only {with_incidents} {cells_word} with incidents (of {n}, over {t} periods): "
        f"too few for hot-spot statistics (at least {_MIN_CELLS} needed)"
    )
    return out


# --- time of day -------------------------------------------------------------------------


def temporal_profile(occurred: Any, time_known: Any) -> pd.DataFrame:
    """Incidents by weekday and hour: a 7 × 24 count table for rows whose time is known.

    Parameters
    ----------
    occurred
        ``datetime64`` array or pandas Series (time-zone aware or not: the weekday and hour
        are read as given). NaT rows count as unknown.
    time_known
        Boolean, same length: the time of day is real, not a month or a date alone.

    Returns
    -------
    pandas.DataFrame
        Index ``weekday`` Monday..Sunday, columns ``hour`` 0..23, ``int64`` counts;
        ``attrs["n"]`` the incidents counted, ``attrs["message"]`` why the table is empty
        ("" otherwise).
    """
    when = pd.DatetimeIndex(pd.to_datetime(occurred))
    known = np.asarray(time_known, dtype=bool)
    if known.shape != (len(when),):
        msg = f"occurred and time_known differ in length ({len(when)} and {known.size})."
        raise SettingsError(msg)
    use = known & ~np.asarray(when.isna())
    key = when.day_of_week.to_numpy()[use] * 24 + when.hour.to_numpy()[use]
    table = np.bincount(key.astype(np.intp), minlength=7 * 24).reshape(7, 24)
    out = pd.DataFrame(
        table.astype(np.int64),
        index=pd.Index(WEEKDAYS, name="weekday"),
        columns=pd.Index(range(24), name="hour"),
    )
    out.attrs["n"] = int(use.sum())
    out.attrs["message"] = (
        ""
        if out.attrs["n"]
        else "no incident has a known time of day (police.uk gives months only)"
    )
    return out
