"""Forecast accuracy: hit-rate curves, PAI, PEI and RRI, baselines, rolling-origin backtests.

A :class:`Panel` holds cells × months counts of one study with each cell's centre and area.
A *forecaster* is any callable ``(panel, origin, horizon) -> scores`` that scores every cell
for months ``origin .. origin + horizon - 1`` from ``panel.counts[:, :origin]`` alone; the
risk model is one more forecaster beside the :data:`BASELINES`. :func:`rolling_origin`
slides the origin over the last months of the panel and scores every forecaster against
what happened next.

The area rule
-------------
Cells are ranked by score, highest first, ties broken by cell order (the lower index first),
so the result is deterministic. (Sparse baselines tie many cells at 0; for H3 cells in uint64
order the tie order is loosely spatial, which matters only below the last non-zero score.)
For an area share ``s`` the flagged set is the *smallest prefix* of that ranking whose area
reaches ``s × A`` (A the total area), compared with a relative tolerance of 1e-9 so that
float rounding (``0.07 × 100 = 7.000000000000001``) does not add a cell. The realised share
``a/A`` can therefore exceed the target; it is reported and it is the share PAI divides by.

The statistics
--------------
- hit rate = n/N, the share of the period's incidents inside the flagged cells;
- PAI (Chainey, Tompson & Uhlig 2008) = (n/N)/(a/A);
- PEI (Hunt 2016) = PAI / PAI*, with PAI* the PAI of ranking the cells by the actual counts
  under the same area rule (ties again by cell order). With equal areas PAI* is the best PAI
  for that area; where areas differ (border cells) ranking by count is not always best, so
  PEI can slightly exceed 1 for a forecast that favours small, dense cells;
- RRI (Levine 2008, CrimeStat's Recapture Rate Index) = (n₂/n₁)/(N₂/N₁), with period 1 the
  months just before the origin and period 2 the forecast months, n the incidents in the
  *same* flagged cells in each period and N all incidents in that period; equivalently the
  hit rate in the forecast months over the hit rate of the same cells in the period before.

Where a statistic is undefined (no incidents to capture) it is set to 0, never NaN, and the
row's ``note`` says why.
"""

from __future__ import annotations

import inspect
import re
import textwrap
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.spatial import cKDTree

from geojtai.errors import SettingsError

__all__ = [
    "BASELINES",
    "CURVE_SHARES",
    "DEFAULT_SHARES",
    "RRI_VARIANT",
    "BacktestResult",
    "Forecaster",
    "Panel",
    "baseline",
    "evaluate_scores",
    "format_summary",
    "hit_rate_curve",
    "kde",
    "last_period",
    "oracle",
    "pai",
    "pei",
    "prospective",
    "rolling_mean",
    "rolling_origin",
    "rri",
]

DEFAULT_SHARES: tuple[float, ...] = (0.01, 0.05, 0.10, 0.20)
CURVE_SHARES: tuple[float, ...] = tuple(i / 100 for i in range(1, 101))
RRI_VARIANT = (
    "RRI (Levine 2008 recapture rate index) = (n2/n1)/(N2/N1): incidents in the flagged cells "
    "in the forecast months (n2) over those in the same cells in the same number of months "
    "just before the origin (n1), normalised by all incidents in each period (N2, N1)"
)
_AREA_RTOL = 1e-9  # float rounding must not push the flagged set one cell past its share
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")

Forecaster = Callable[["Panel", int, int], np.ndarray]
"""``(panel, origin, horizon) -> scores (n,)`` for months ``origin .. origin + horizon - 1``."""


@dataclass(frozen=True, eq=False)
class Panel:
    """Cells × months counts of one study, with each cell's geometry facts.

    The arrays are copied and made read-only, so a forecaster cannot change them. Panels
    compare by identity, which lets forecasters cache what they build from a panel's
    geometry (a sparse distance-weight matrix) across the folds of a backtest.

    Parameters
    ----------
    cells
        H3 cells (uint64), distinct, ``(n,)``.
    months
        ``YYYY-MM`` labels of the columns, consecutive, ``(T,)``.
    counts
        Incident counts (or harm) per cell and month, finite and non-negative, ``(n, T)``.
    x, y
        BNG easting and northing of each cell centre, metres, ``(n,)``.
    area
        Area of each cell inside the study region, m² (cell area × area fraction), ``(n,)``,
        positive.

    Raises
    ------
    SettingsError
        Listing every problem found: shapes that disagree, repeated cells, bad or
        non-consecutive months, NaN, infinite or negative values.
    """

    cells: np.ndarray
    months: tuple[str, ...]
    counts: np.ndarray
    x: np.ndarray
    y: np.ndarray
    area: np.ndarray

    def __post_init__(self) -> None:
        months = tuple(str(m) for m in np.asarray(self.months, dtype=object).ravel())
        arrays = {
            "cells": np.array(self.cells, dtype=np.uint64),
            "counts": np.array(self.counts, dtype=np.float64),
            "x": np.array(self.x, dtype=np.float64),
            "y": np.array(self.y, dtype=np.float64),
            "area": np.array(self.area, dtype=np.float64),
        }
        problems = _panel_problems(arrays, months)
        if problems:
            msg = "invalid panel: " + "; ".join(problems)
            raise SettingsError(msg, problems)
        for name, value in arrays.items():
            value.flags.writeable = False
            object.__setattr__(self, name, value)
        object.__setattr__(self, "months", months)

    @property
    def n_cells(self) -> int:
        """Number of cells (rows)."""
        return int(self.counts.shape[0])

    @property
    def n_months(self) -> int:
        """Number of months (columns)."""
        return int(self.counts.shape[1])


def _panel_problems(arrays: dict[str, np.ndarray], months: tuple[str, ...]) -> list[str]:
    problems: list[str] = []
    cells, counts = arrays["cells"], arrays["counts"]
    n = cells.shape[0] if cells.ndim == 1 else -1
    if cells.ndim != 1 or n == 0:
        problems.append(f"cells must be a non-empty 1-D array; shape {cells.shape} was given")
    elif np.unique(cells).size != n:
        problems.append(f"cells must be distinct; {n - np.unique(cells).size} repeat")
    if counts.shape != (n, len(months)) or not months:
        problems.append(
            f"counts must have shape (cells, months) = ({n}, {len(months)}) with at least "
            f"one month; {counts.shape} was given"
        )
    elif not np.isfinite(counts).all() or (counts < 0).any():
        bad = int((~np.isfinite(counts) | (counts < 0)).sum())
        problems.append(f"counts must be finite and non-negative; {bad} values are not")
    for name in ("x", "y", "area"):
        value = arrays[name]
        if value.shape != (n,):
            problems.append(f"{name} must have shape ({n},); {value.shape} was given")
        elif not np.isfinite(value).all():
            problems.append(f"{name} has {int((~np.isfinite(value)).sum())} NaN or infinite values")
    if arrays["area"].shape == (n,) and (arrays["area"] <= 0).any():
        problems.append(f"area must be positive; {int((arrays['area'] <= 0).sum())} cells are not")
    problems.extend(_month_problems(months))
    return problems


def _month_problems(months: tuple[str, ...]) -> list[str]:
    bad = [m for m in months if not _MONTH.match(m)]
    if bad:
        return [f"months must be 'YYYY-MM' labels; {bad[:3]!r} are not"]
    index = np.array([int(m[:4]) * 12 + int(m[5:7]) for m in months], dtype=np.int64)
    gaps = np.flatnonzero(np.diff(index) != 1)
    if gaps.size:
        pairs = [f"{months[i]} -> {months[i + 1]}" for i in gaps[:3]]
        return [f"months must be consecutive; they jump at {', '.join(pairs)}"]
    return []


# ----------------------------------------------------------------------------- metrics


def _as_vector(name: str, values: object, n: int | None = None) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or (n is not None and array.shape[0] != n):
        expected = "a 1-D array" if n is None else f"shape ({n},)"
        msg = f"{name} must have {expected}; shape {array.shape} was given"
        raise SettingsError(msg)
    if not np.isfinite(array).all():
        msg = f"{name} has {int((~np.isfinite(array)).sum())} NaN or infinite values"
        raise SettingsError(msg)
    return array


def _check_cells(
    scores: object, actual: object, area: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scores = _as_vector("scores", scores)
    if scores.size == 0:
        msg = "there are no cells to rank"
        raise SettingsError(msg)
    actual = _as_vector("actual", actual, scores.size)
    area = _as_vector("area", area, scores.size)
    if (actual < 0).any():
        msg = f"actual counts must be non-negative; {int((actual < 0).sum())} are not"
        raise SettingsError(msg)
    if (area <= 0).any():
        msg = f"area must be positive; {int((area <= 0).sum())} cells are not"
        raise SettingsError(msg)
    return scores, actual, area


def _check_shares(shares: Sequence[float] | np.ndarray) -> np.ndarray:
    values = np.asarray(shares, dtype=np.float64).ravel()
    if values.size == 0 or not np.isfinite(values).all() or ((values <= 0) | (values > 1)).any():
        msg = f"area shares must be in (0, 1]; {list(np.asarray(shares).ravel())!r} was given"
        raise SettingsError(msg)
    if np.unique(values).size != values.size:
        msg = f"area shares must be distinct; {values.tolist()!r} was given"
        raise SettingsError(msg)
    return values


def _ranking(scores: np.ndarray) -> np.ndarray:
    """Cells by descending score; a stable sort keeps tied cells in index order."""
    return np.argsort(-scores, kind="stable")


def _prefixes(
    order: np.ndarray, actual: np.ndarray, area: np.ndarray, shares: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells flagged, realised area share and incidents captured at each share."""
    cum_area = np.cumsum(area[order])
    cum_actual = np.cumsum(actual[order])
    total_area = cum_area[-1]
    # The smallest k with cum_area[k-1] >= share × A, i.e. the first index reaching it, + 1.
    target = shares * total_area * (1.0 - _AREA_RTOL)
    k = np.minimum(np.searchsorted(cum_area, target, side="left") + 1, order.size)
    return k, cum_area[k - 1] / total_area, cum_actual[k - 1]


def _curve(
    order: np.ndarray, actual: np.ndarray, area: np.ndarray, targets: np.ndarray
) -> pd.DataFrame:
    k, area_share, captured = _prefixes(order, actual, area, targets)
    total = float(actual.sum())
    return pd.DataFrame(
        {
            "share": targets,
            "area_share": area_share,
            "cells": k.astype(np.int64),
            "captured": captured,
            "total": np.full(targets.size, total),
            "hit_rate": captured / total if total > 0 else np.zeros(targets.size),
        }
    )


def hit_rate_curve(
    scores: np.ndarray,
    actual: np.ndarray,
    area: np.ndarray,
    *,
    shares: Sequence[float] | np.ndarray | None = None,
) -> pd.DataFrame:
    """Incidents captured by the highest-scoring cells at each share of the area.

    Cells are ranked by score (ties by cell order) and flagged until their area reaches
    the share (the module's area rule: the smallest prefix whose area ≥ share × total).

    Parameters
    ----------
    scores
        Forecast score per cell, ``(n,)``; only the order matters.
    actual
        Incidents per cell in the period being forecast, ``(n,)``.
    area
        Area of each cell, ``(n,)``, positive, in any unit.
    shares
        Target area shares in (0, 1]; :data:`DEFAULT_SHARES` (1, 5, 10, 20 %) when None.
        :data:`CURVE_SHARES` (1..100 %) gives the whole curve.

    Returns
    -------
    pandas.DataFrame
        One row per share: ``share`` (target), ``area_share`` (realised), ``cells``,
        ``captured`` (n), ``total`` (N), ``hit_rate`` (n/N; 0 when N = 0).

    Examples
    --------
    >>> hit_rate_curve([3, 2, 1, 0], [5, 0, 3, 2], [1, 1, 1, 1], shares=[0.5])[
    ...     ["cells", "captured", "hit_rate"]].to_dict("records")
    [{'cells': 2, 'captured': 5.0, 'hit_rate': 0.5}]
    """
    scores, actual, area = _check_cells(scores, actual, area)
    targets = _check_shares(DEFAULT_SHARES if shares is None else shares)
    return _curve(_ranking(scores), actual, area, targets)


def _ratio(numerator: np.ndarray | float, denominator: np.ndarray | float) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is not positive."""
    num, den = np.broadcast_arrays(
        np.asarray(numerator, dtype=np.float64), np.asarray(denominator, dtype=np.float64)
    )
    out = np.zeros(num.shape)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _scalar_or_array(value: np.ndarray) -> float | np.ndarray:
    return float(value) if value.ndim == 0 else value


def pai(captured_share: float | np.ndarray, area_share: float | np.ndarray) -> float | np.ndarray:
    """Predictive Accuracy Index, (n/N)/(a/A).

    Parameters
    ----------
    captured_share
        n/N, the share of incidents inside the flagged area (the hit rate).
    area_share
        a/A, the flagged share of the total area (use the realised share).

    Returns
    -------
    float or numpy.ndarray
        PAI; 0 where ``area_share`` is 0.

    Examples
    --------
    >>> pai(0.5, 0.2)
    2.5
    """
    return _scalar_or_array(_ratio(captured_share, area_share))


def pei(pai_value: float | np.ndarray, best_pai: float | np.ndarray) -> float | np.ndarray:
    """Predictive Efficiency Index, PAI / PAI*.

    Parameters
    ----------
    pai_value
        The forecast's PAI.
    best_pai
        PAI* of ranking the cells by the actual counts under the same area rule.

    Returns
    -------
    float or numpy.ndarray
        PEI; 0 where PAI* is 0 (no incidents to capture).
    """
    return _scalar_or_array(_ratio(pai_value, best_pai))


def rri(
    *,
    train_captured: float | np.ndarray,
    test_captured: float | np.ndarray,
    train_total: float | np.ndarray,
    test_total: float | np.ndarray,
) -> float | np.ndarray:
    """Recapture Rate Index (Levine 2008), (n₂/n₁)/(N₂/N₁); see :data:`RRI_VARIANT`.

    Parameters
    ----------
    train_captured
        n₁, incidents in the flagged cells in the period before (period 1).
    test_captured
        n₂, incidents in the same cells in the forecast period (period 2).
    train_total
        N₁, all incidents in period 1.
    test_total
        N₂, all incidents in period 2.

    Returns
    -------
    float or numpy.ndarray
        RRI = (n₂/N₂)/(n₁/N₁); 0 where it is undefined (n₁ = 0 or N₂ = 0).

    Examples
    --------
    >>> rri(train_captured=10, test_captured=6, train_total=100, test_total=80)
    0.75
    """
    # (n₂·N₁)/(n₁·N₂): one division, so round numbers stay exact (0.75, not 0.7499...).
    n1, n2 = (
        np.asarray(train_captured, dtype=np.float64),
        np.asarray(test_captured, dtype=np.float64),
    )
    big_n1, big_n2 = (
        np.asarray(train_total, dtype=np.float64),
        np.asarray(test_total, dtype=np.float64),
    )
    return _scalar_or_array(_ratio(n2 * big_n1, n1 * big_n2))


def _notes(total: float, train_captured: np.ndarray | None, shares: np.ndarray) -> list[str]:
    notes: list[list[str]] = [[] for _ in shares]
    if total <= 0:
        for row in notes:
            row.append("no incidents in the forecast months: hit rate, PAI and PEI set to 0")
    if train_captured is not None:
        for row, n1 in zip(notes, train_captured, strict=True):
            if n1 <= 0:
                row.append("RRI undefined (no incidents in the flagged cells before): set to 0")
            elif total <= 0:
                row.append("RRI undefined (no incidents in the forecast months): set to 0")
    return ["; ".join(row) for row in notes]


def evaluate_scores(
    scores: np.ndarray,
    actual: np.ndarray,
    area: np.ndarray,
    *,
    shares: Sequence[float] | np.ndarray | None = None,
    train_actual: np.ndarray | None = None,
) -> pd.DataFrame:
    """Hit rate, PAI, PEI and (optionally) RRI of one forecast at each area share.

    Parameters
    ----------
    scores
        Forecast score per cell, ``(n,)``.
    actual
        Incidents per cell in the forecast period, ``(n,)``.
    area
        Area of each cell, ``(n,)``.
    shares
        Target area shares in (0, 1]; :data:`DEFAULT_SHARES` when None.
    train_actual
        Incidents per cell in the period before (as long as the forecast period); when
        given, the RRI of the flagged cells is added.

    Returns
    -------
    pandas.DataFrame
        One row per share: ``share`` (target), ``area_share`` (realised), ``cells``,
        ``captured``, ``total``, ``hit_rate``, ``pai``, ``best_pai``, ``pei``, then with
        ``train_actual`` ``train_captured``, ``train_total`` and ``rri``; and ``note``
        (empty, or why a statistic was set to 0).

    Examples
    --------
    >>> evaluate_scores([2, 1, 0, 0], [3, 0, 1, 0], [1, 1, 1, 1], shares=[0.25])[
    ...     ["hit_rate", "pai", "pei"]].round(2).to_dict("records")
    [{'hit_rate': 0.75, 'pai': 3.0, 'pei': 1.0}]
    """
    scores, actual, area = _check_cells(scores, actual, area)
    targets = _check_shares(DEFAULT_SHARES if shares is None else shares)
    order = _ranking(scores)
    frame = _curve(order, actual, area, targets)
    total = float(actual.sum())
    # PAI*: the same area rule applied to the ranking by what actually happened.
    _, best_share, best_captured = _prefixes(_ranking(actual), actual, area, targets)
    frame["pai"] = pai(frame["hit_rate"].to_numpy(), frame["area_share"].to_numpy())
    frame["best_pai"] = pai(_ratio(best_captured, total), best_share)
    frame["pei"] = pei(frame["pai"].to_numpy(), frame["best_pai"].to_numpy())
    n1 = None
    if train_actual is not None:
        before = _as_vector("train_actual", train_actual, scores.size)
        n1 = np.cumsum(before[order])[frame["cells"].to_numpy() - 1]
        frame["train_captured"] = n1
        frame["train_total"] = float(before.sum())
        frame["rri"] = rri(
            train_captured=n1,
            test_captured=frame["captured"].to_numpy(),
            train_total=float(before.sum()),
            test_total=total,
        )
    frame["note"] = _notes(total, n1, targets)
    return frame


# ----------------------------------------------------------------------------- baselines


def _positive(name: str, value: float, *, integer: bool = False) -> None:
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, kinds) or not value > 0:
        kind = "a positive integer" if integer else "a positive number"
        msg = f"{name} must be {kind}; {value!r} was given"
        raise SettingsError(msg)


def _history(panel: Panel, origin: int, horizon: int, window: int) -> np.ndarray:
    """The last ``window`` months before ``origin`` (fewer when the panel starts later)."""
    if isinstance(origin, bool) or not isinstance(origin, (int, np.integer)):
        msg = f"origin must be an integer month index; {origin!r} was given"
        raise SettingsError(msg)
    if not 1 <= origin <= panel.n_months:
        msg = f"origin must be 1..{panel.n_months} (at least one month of history); got {origin}"
        raise SettingsError(msg)
    _positive("horizon", horizon, integer=True)
    return panel.counts[:, max(0, origin - window) : origin]


def _cached(build: Callable[[Panel], sparse.csr_array]) -> Callable[[Panel], sparse.csr_array]:
    """``build`` memoised per panel (panels hash by identity), freed with the panel."""
    cache: weakref.WeakKeyDictionary[Panel, sparse.csr_array] = weakref.WeakKeyDictionary()

    def get(panel: Panel) -> sparse.csr_array:
        weights = cache.get(panel)
        if weights is None:
            weights = cache[panel] = build(panel)
        return weights

    return get


def _kernel_matrix(
    panel: Panel, radius: float, kernel: Callable[[np.ndarray], np.ndarray]
) -> sparse.csr_array:
    """Sparse ``kernel(d_ij)`` for every pair of cell centres within ``radius`` (inclusive)."""
    tree = cKDTree(np.column_stack([panel.x, panel.y]))
    pairs = tree.sparse_distance_matrix(tree, radius, output_type="ndarray")
    n = panel.n_cells
    return sparse.csr_array((kernel(pairs["v"]), (pairs["i"], pairs["j"])), shape=(n, n))


def last_period() -> Forecaster:
    """Forecast that the last month repeats: counts of month ``origin − 1`` × horizon.

    Returns
    -------
    Forecaster
        Expected counts over the horizon.
    """

    def forecast(panel: Panel, origin: int, horizon: int) -> np.ndarray:
        return _history(panel, origin, horizon, 1)[:, -1] * horizon

    return forecast


def rolling_mean(*, window: int = 6) -> Forecaster:
    """Forecast each cell's mean of the last ``window`` months × horizon.

    Parameters
    ----------
    window
        Months averaged; fewer where the panel has fewer months before the origin.

    Returns
    -------
    Forecaster
        Expected counts over the horizon.
    """
    _positive("window", window, integer=True)

    def forecast(panel: Panel, origin: int, horizon: int) -> np.ndarray:
        return _history(panel, origin, horizon, window).mean(axis=1) * horizon

    return forecast


def prospective(
    *, window: int = 6, distance_unit: float = 100.0, max_distance: float = 400.0
) -> Forecaster:
    """Prospective hot-spotting (Bowers, Johnson & Pease 2004) on cell counts.

    Every past incident in cell j in month m adds ``1/(1 + d_ij) · 1/(1 + t)`` to cell i,
    where d_ij is the distance between the cell centres in units of ``distance_unit``
    (so 100 m away counts 1/2 with the default) up to ``max_distance`` (inclusive), and
    t = origin − 1 − m is the age in months (0 for the month just before the origin), up
    to ``window − 1``. The distance weights are a sparse matrix built once per panel.

    Parameters
    ----------
    window
        Months of history used (ages 0 .. window − 1).
    distance_unit
        Metres per unit of d.
    max_distance
        Metres beyond which an incident adds nothing.

    Returns
    -------
    Forecaster
        A relative score (the same for every month of the horizon).
    """
    _positive("window", window, integer=True)
    _positive("distance_unit", distance_unit)
    _positive("max_distance", max_distance)
    weights = _cached(
        lambda panel: _kernel_matrix(panel, max_distance, lambda d: 1.0 / (1.0 + d / distance_unit))
    )

    def forecast(panel: Panel, origin: int, horizon: int) -> np.ndarray:
        past = _history(panel, origin, horizon, window)
        age = np.arange(past.shape[1] - 1, -1, -1)  # columns run oldest .. newest
        return np.asarray(weights(panel) @ (past @ (1.0 / (1.0 + age))))

    return forecast


def kde(*, window: int = 12, bandwidth: float = 250.0, truncate: float = 3.0) -> Forecaster:
    """Gaussian kernel density of the last ``window`` months' incidents, per cell.

    Incidents sit at their cell's centre. The kernel is
    ``exp(−d²/2h²) / (2πh² (1 − exp(−c²/2)))`` for d ≤ c·h (h the bandwidth, c
    ``truncate``), a Gaussian renormalised to unit mass within its cut-off, so the density
    still integrates to the incident count. The score is the monthly mean density at the
    cell centre × the cell's area × horizon: expected incidents in the cell over the
    horizon, which on a fine, large lattice sum to the mean monthly count × horizon.

    Parameters
    ----------
    window
        Months of history averaged.
    bandwidth
        Kernel standard deviation h, metres.
    truncate
        Cut-off radius in bandwidths.

    Returns
    -------
    Forecaster
        Expected counts over the horizon.
    """
    _positive("window", window, integer=True)
    _positive("bandwidth", bandwidth)
    _positive("truncate", truncate)
    norm = 2.0 * np.pi * bandwidth**2 * -np.expm1(-(truncate**2) / 2.0)
    weights = _cached(
        lambda panel: _kernel_matrix(
            panel, truncate * bandwidth, lambda d: np.exp(-0.5 * (d / bandwidth) ** 2) / norm
        )
    )

    def forecast(panel: Panel, origin: int, horizon: int) -> np.ndarray:
        mean = _history(panel, origin, horizon, window).mean(axis=1)
        return np.asarray(weights(panel) @ mean) * panel.area * horizon

    return forecast


def oracle(intensity: np.ndarray) -> Forecaster:
    """Forecast the true expected counts: the bound every method should stay under.

    Parameters
    ----------
    intensity
        Known expected count per cell and month, ``(n, T)`` like the panel's counts (the
        synthetic town's ground truth).

    Returns
    -------
    Forecaster
        ``intensity[:, origin : origin + horizon].sum(axis=1)``.
    """
    truth = np.array(intensity, dtype=np.float64)
    if truth.ndim != 2 or not np.isfinite(truth).all() or (truth < 0).any():
        msg = f"intensity must be a finite non-negative (cells, months) array; shape {truth.shape}"
        raise SettingsError(msg)
    truth.flags.writeable = False

    def forecast(panel: Panel, origin: int, horizon: int) -> np.ndarray:
        _history(panel, origin, horizon, 1)
        if truth.shape != panel.counts.shape or origin + horizon > panel.n_months:
            msg = (
                f"oracle intensity has shape {truth.shape}; the panel {panel.counts.shape} "
                f"and months {origin}..{origin + horizon - 1} must fit inside it"
            )
            raise SettingsError(msg)
        return truth[:, origin : origin + horizon].sum(axis=1)

    return forecast


BASELINES: Mapping[str, Callable[..., Forecaster]] = MappingProxyType(
    {
        "last_period": last_period,
        "rolling_mean": rolling_mean,
        "prospective": prospective,
        "kde": kde,
    }
)
"""Forecaster factories that need nothing but the panel; :func:`oracle` needs the truth."""


def baseline(name: str, **params: float) -> Forecaster:
    """The baseline forecaster called ``name``, built with ``params``.

    Examples
    --------
    >>> forecast = baseline("rolling_mean", window=3)
    """
    if name not in BASELINES:
        msg = f"unknown baseline {name!r}; valid ones are {sorted(BASELINES)}"
        raise SettingsError(msg)
    valid = set(inspect.signature(BASELINES[name]).parameters)
    if unknown := sorted(set(params) - valid):
        msg = f"baseline {name!r} takes no {unknown}; valid parameters are {sorted(valid)}"
        raise SettingsError(msg)
    return BASELINES[name](**params)


# ----------------------------------------------------------------------------- backtest


@dataclass(frozen=True)
class BacktestResult:
    """What :func:`rolling_origin` measured.

    Attributes
    ----------
    folds
        One row per method × origin × share: ``method``, ``origin`` (the first forecast
        month, ``YYYY-MM``; the forecaster saw only the months before it), ``share``,
        ``area_share`` (realised), ``cells``, ``captured``, ``total``, ``hit_rate``,
        ``pai``, ``best_pai``, ``pei``, ``train_captured``, ``train_total``, ``rri``,
        ``note``.
    summary
        One row per method × share. Means over folds: ``area_share``, ``cells``,
        ``hit_rate``, ``pai``, ``pei``; ``rri`` is the mean over the ``rri_folds`` folds
        where it is defined (0 when none). Pooled over folds: ``captured``, ``total``,
        ``train_captured``, ``train_total`` (sums), ``pai_pooled`` = (Σn/ΣN)/(mean a/A)
        (the area is the same in every fold) and ``rri_pooled`` = (Σn₂/Σn₁)/(ΣN₂/ΣN₁).
        ``folds`` counts the folds.
    curve
        Mean over folds of ``area_share`` and ``hit_rate`` per method at 1..100 % of the
        area (:data:`CURVE_SHARES`), for plots.
    origins
        The origin months, in order.
    horizon
        Months forecast at each origin.
    rri_variant
        The RRI definition used (:data:`RRI_VARIANT`).
    """

    folds: pd.DataFrame
    summary: pd.DataFrame
    curve: pd.DataFrame
    origins: tuple[str, ...]
    horizon: int
    rri_variant: str = RRI_VARIANT


def _origins(n_months: int, *, test_months: int, horizon: int, step: int, min_train: int) -> range:
    for name, value in {
        "test_months": test_months,
        "horizon": horizon,
        "step": step,
        "min_train": min_train,
    }.items():
        _positive(name, value, integer=True)
    if horizon > test_months:
        msg = f"horizon ({horizon}) must not exceed test_months ({test_months})"
        raise SettingsError(msg)
    # The RRI compares with the `horizon` months before each origin, so those must exist too.
    needed = test_months + max(min_train, horizon)
    if n_months < needed:
        msg = (
            f"rolling_origin needs at least {needed} months (test_months={test_months} after "
            f"max(min_train={min_train}, horizon={horizon}) months of history); "
            f"the panel has {n_months}"
        )
        raise SettingsError(msg)
    return range(n_months - test_months, n_months - horizon + 1, step)


def _scores(forecast: Forecaster, name: str, panel: Panel, origin: int, horizon: int) -> np.ndarray:
    scores = np.asarray(forecast(panel, origin, horizon), dtype=np.float64)
    if scores.shape != (panel.n_cells,) or not np.isfinite(scores).all():
        msg = (
            f"forecaster {name!r} at origin {panel.months[origin]} returned shape "
            f"{scores.shape} with {int((~np.isfinite(scores)).sum())} NaN or infinite "
            f"scores; expected {panel.n_cells} finite scores"
        )
        raise SettingsError(msg)
    return scores


def _summarise(folds: pd.DataFrame) -> pd.DataFrame:
    defined = (folds["train_captured"] > 0) & (folds["total"] > 0)
    work = folds.assign(rri_folds=defined, rri=folds["rri"].where(defined, 0.0))
    summary = (
        work.groupby(["method", "share"], sort=False)
        .agg(
            folds=("origin", "size"),
            area_share=("area_share", "mean"),
            cells=("cells", "mean"),
            hit_rate=("hit_rate", "mean"),
            pai=("pai", "mean"),
            pei=("pei", "mean"),
            rri=("rri", "sum"),
            rri_folds=("rri_folds", "sum"),
            captured=("captured", "sum"),
            total=("total", "sum"),
            train_captured=("train_captured", "sum"),
            train_total=("train_total", "sum"),
        )
        .reset_index()
    )
    summary["rri"] = _ratio(summary["rri"].to_numpy(), summary["rri_folds"].to_numpy())
    summary["pai_pooled"] = pai(
        _ratio(summary["captured"].to_numpy(), summary["total"].to_numpy()),
        summary["area_share"].to_numpy(),
    )
    summary["rri_pooled"] = rri(
        train_captured=summary["train_captured"].to_numpy(),
        test_captured=summary["captured"].to_numpy(),
        train_total=summary["train_total"].to_numpy(),
        test_total=summary["total"].to_numpy(),
    )
    return summary


def rolling_origin(
    panel: Panel,
    forecasters: Mapping[str, Forecaster],
    *,
    test_months: int = 6,
    horizon: int = 1,
    step: int = 1,
    shares: Sequence[float] = DEFAULT_SHARES,
    min_train: int = 3,
    truth: np.ndarray | None = None,
) -> BacktestResult:
    """Backtest forecasters from a sliding origin over the last ``test_months`` months.

    Origins run from ``T − test_months`` by ``step`` while ``origin + horizon ≤ T``. At
    each, every forecaster sees ``panel.counts[:, :origin]`` and is scored against the
    counts of months ``origin .. origin + horizon − 1`` (summed), and its flagged cells'
    RRI against the ``horizon`` months before the origin.

    Parameters
    ----------
    panel
        Cells × months counts with cell geometry.
    forecasters
        Method name → forecaster, e.g. ``{name: f() for name, f in BASELINES.items()}``.
    test_months
        Months at the end of the panel that are forecast.
    horizon
        Months forecast at each origin.
    step
        Months between origins.
    shares
        Target area shares for the statistics.
    min_train
        Months of history required before the first origin.
    truth
        Optional (cells × months) expected counts to score against instead of the observed
        ones (a synthetic town's true intensity). Forecasters still learn from the observed
        counts only; scored against the expectation, the oracle is the best possible
        ranking, so no method can beat it except by the area rule's rounding.

    Returns
    -------
    BacktestResult
        Per-fold rows, a summary per method × share and mean hit-rate curves.

    Raises
    ------
    SettingsError
        Too few months for the folds (with how many are needed), no forecasters, bad
        settings, or a forecaster returning the wrong shape or non-finite scores.
    """
    # Check: the settings, the forecasters, and that the panel is long enough.
    origins = _origins(
        panel.n_months, test_months=test_months, horizon=horizon, step=step, min_train=min_train
    )
    targets = _check_shares(shares)
    if not forecasters:
        msg = "rolling_origin needs at least one forecaster"
        raise SettingsError(msg)
    # Compute: every method at every origin, against the months it forecast.
    scored = panel.counts if truth is None else np.asarray(truth, dtype=float)
    if scored.shape != panel.counts.shape:
        msg = f"truth has shape {scored.shape}; the panel's counts have {panel.counts.shape}"
        raise SettingsError(msg)
    folds, curves = [], []
    for origin in origins:
        actual = scored[:, origin : origin + horizon].sum(axis=1)
        before = scored[:, origin - horizon : origin].sum(axis=1)
        for name, forecast in forecasters.items():
            scores = _scores(forecast, name, panel, origin, horizon)
            frame = evaluate_scores(scores, actual, panel.area, shares=targets, train_actual=before)
            folds.append(frame.assign(method=name, origin=panel.months[origin]))
            curve = hit_rate_curve(scores, actual, panel.area, shares=CURVE_SHARES)
            curves.append(curve.assign(method=name))
    # Assemble: fold rows, their summary, and the mean curves.
    fold_frame = pd.concat(folds, ignore_index=True)
    first = ["method", "origin"]
    fold_frame = fold_frame[first + [c for c in fold_frame.columns if c not in first]]
    curve_frame = (
        pd.concat(curves, ignore_index=True)
        .groupby(["method", "share"], sort=False)[["area_share", "hit_rate"]]
        .mean()
        .reset_index()
    )
    return BacktestResult(
        folds=fold_frame,
        summary=_summarise(fold_frame),
        curve=curve_frame,
        origins=tuple(panel.months[o] for o in origins),
        horizon=horizon,
    )


# ----------------------------------------------------------------------------- report


def _percent(share: float) -> str:
    return f"{share * 100:g}%"


def _column(values: pd.Series) -> list[str]:
    """Values to two decimals, the highest (as shown) marked with ``*``."""
    text = [f"{v:.2f}" for v in values]
    best = max(float(t) for t in text)
    return [t + ("*" if float(t) == best else " ") for t in text]


def format_summary(result: BacktestResult, *, rri_share: float | None = None) -> str:
    """The backtest as a plain-text table: one row per method, the best per column starred.

    Parameters
    ----------
    result
        From :func:`rolling_origin`.
    rri_share
        The area share whose RRI is shown; by default the share closest to 5 %.

    Returns
    -------
    str
        Columns PAI and PEI at each share (means over folds) and RRI, then a footer that
        defines them and names the RRI variant.
    """
    summary = result.summary
    shares = list(dict.fromkeys(summary["share"].tolist()))
    methods = list(dict.fromkeys(summary["method"].tolist()))
    if rri_share is None:
        rri_share = min(shares, key=lambda s: (abs(s - 0.05), s))
    elif rri_share not in shares:
        msg = f"rri_share {rri_share!r} was not evaluated; valid ones are {shares}"
        raise SettingsError(msg)
    columns: dict[str, list[str]] = {"method": methods}
    for stat in ("pai", "pei"):
        table = summary.pivot(index="method", columns="share", values=stat).loc[methods]
        for share in shares:
            columns[f"{stat.upper()} {_percent(share)}"] = _column(table[share])
    rri_at = summary[summary["share"] == rri_share].set_index("method").loc[methods, "rri"]
    columns[f"RRI {_percent(rri_share)}"] = _column(rri_at)
    widths = {k: max(len(k), *(len(v) for v in vals)) for k, vals in columns.items()}
    lines = ["  ".join(k.ljust(widths[k]) for k in columns)]
    lines.append("  ".join("-" * widths[k] for k in columns))
    lines.extend(
        "  ".join(columns[k][row].ljust(widths[k]) for k in columns) for row in range(len(methods))
    )
    n_folds = len(result.origins)
    unit = "month" if result.horizon == 1 else "months"
    footer = [
        f"PAI = (n/N)/(a/A) with the realised flagged area a; PEI = PAI / PAI of ranking the "
        f"cells by the actual counts. Means over {n_folds} folds (origins "
        f"{result.origins[0]}..{result.origins[-1]}, horizon {result.horizon} {unit}).",
        f"RRI at {_percent(rri_share)} of the area, mean over the folds where defined: "
        f"{result.rri_variant}.",
        "* best (highest) in the column.",
    ]
    empty = result.folds.loc[result.folds["total"] <= 0, "origin"].nunique()
    if empty:
        footer.append(f"{empty} folds had no incidents in the forecast months (statistics 0).")
    lines = [line.rstrip() for line in lines] + [""]
    return "\n".join(lines + [textwrap.fill(text, width=100) for text in footer])
