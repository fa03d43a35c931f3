"""Risk × coverage: every cell in one of 3 × 3 classes, for the bivariate map.

**Risk classes** rank the study's cells by contextual risk, highest first (a stable sort,
so cells of equal risk keep the study's cell order and the earlier cell ranks higher):

* ``high``: the first ``ceil(10 % · n)`` cells (at least one) — the same cells as the
  "top 10 %" of ``coverage.json`` (:func:`geojtai.coverage.coverage_summary`);
* ``medium``: the next cells, up to ``ceil(30 % · n)`` in all (the next 20 %);
* ``low``: the rest.

A cell whose risk is zero, negative or missing is ``low`` wherever it ranks: a cell where
nothing is expected is not at risk (the gap list, :func:`geojtai.coverage.gaps`, leaves such
cells out for the same reason). So all-zero risk puts every cell in ``low``.

**Coverage classes** come from the number of distinct agencies working in the cell now:
``none`` (0 or missing), ``single`` (1 agency) and ``multi`` (2 or more).

The colours (:data:`BIVARIATE_COLOURS`) are muted blue-greys — darker with risk, bluer with
coverage, after Joshua Stevens' bivariate schemes — except **high risk with no coverage**,
a saturated red that stands out.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = [
    "BIVARIATE_COLOURS",
    "BIVARIATE_OPACITY",
    "COVERAGE_CLASSES",
    "COVERAGE_TITLES",
    "HIGH_SHARE",
    "MEDIUM_SHARE",
    "RISK_CLASSES",
    "RISK_TITLES",
    "bivariate_classes",
    "class_counts",
    "coverage_classes",
    "risk_classes",
    "top_count",
    "top_risk_positions",
]

#: Share of cells in the ``high`` risk class (the riskiest), as coverage.json's top 10 %.
HIGH_SHARE = 0.10
#: Share of cells in the ``medium`` class, the next after ``high``.
MEDIUM_SHARE = 0.20
#: Risk classes from least to most risk.
RISK_CLASSES = ("low", "medium", "high")
#: Coverage classes from least to most coverage.
COVERAGE_CLASSES = ("none", "single", "multi")
RISK_TITLES: Mapping[str, str] = {
    "low": "Low risk",
    "medium": "Medium risk (next 20%)",
    "high": "High risk (top 10%)",
}
COVERAGE_TITLES: Mapping[str, str] = {
    "none": "no coverage",
    "single": "single agency",
    "multi": "multi-agency",
}
#: Fill colour of each class, keyed ``"<risk>-<coverage>"``.
BIVARIATE_COLOURS: Mapping[str, str] = {
    "low-none": "#eeeeee",
    "low-single": "#cddbe6",
    "low-multi": "#a9c2d8",
    "medium-none": "#c4c4c4",
    "medium-single": "#a3b4c3",
    "medium-multi": "#7c9bb9",
    "high-none": "#d7191c",
    "high-single": "#77889a",
    "high-multi": "#4b6a8d",
}
#: Fill opacity of each class: the bulk of a town (low risk, no coverage) recedes.
BIVARIATE_OPACITY: Mapping[str, float] = {
    name: 0.35 if name == "low-none" else (0.9 if name == "high-none" else 0.75)
    for name in BIVARIATE_COLOURS
}


def top_count(n: int, share: float) -> int:
    """How many cells make the top ``share`` of ``n``: ``ceil(share · n)``, at least one.

    The same count as :func:`geojtai.coverage.coverage_summary` (0 when there are no cells).

    Examples
    --------
    >>> top_count(347, 0.10), top_count(6, 0.10), top_count(0, 0.10)
    (35, 1, 0)
    """
    return max(1, int(np.ceil(share * n))) if n else 0


def top_risk_positions(risk: np.ndarray | pd.Series, share: float = HIGH_SHARE) -> np.ndarray:
    """Positions of the top ``share`` of cells by risk, riskiest first (ties: cell order).

    The same cells as ``coverage.json``'s top figures: zero and missing risks included when
    they rank there, missing risk ranking last.

    Examples
    --------
    >>> top_risk_positions(np.array([0.5, 2.0, 2.0, 1.0]), 0.5).tolist()
    [1, 2]
    """
    values = _risk_values(risk)
    return np.argsort(-values, kind="stable")[: top_count(values.size, share)]


def risk_classes(
    risk: np.ndarray | pd.Series, *, high: float = HIGH_SHARE, medium: float = MEDIUM_SHARE
) -> np.ndarray:
    """Each cell's risk class, ``low``, ``medium`` or ``high`` (see the module docstring).

    Examples
    --------
    >>> risk_classes(np.array([0.0, 5.0, 1.0, 3.0, 0.2, 0.1, 0.3, 0.4, 0.6, 0.7])).tolist()
    ['low', 'high', 'medium', 'medium', 'low', 'low', 'low', 'low', 'low', 'low']
    """
    values = _risk_values(risk)
    n = values.size
    order = np.argsort(-values, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    out = np.full(n, "low", dtype=object)
    # Rounded: 0.1 + 0.2 is 0.30000000000000004, which would make ceil(0.3 · 10) four.
    out[rank < top_count(n, round(high + medium, 12))] = "medium"
    out[rank < top_count(n, high)] = "high"
    out[~(values > 0)] = "low"  # nothing expected: not at risk, wherever it ranks
    return out


def coverage_classes(depth: np.ndarray | pd.Series) -> np.ndarray:
    """Each cell's coverage class from its number of agencies: ``none``, ``single``, ``multi``.

    Examples
    --------
    >>> coverage_classes(np.array([0, 1, 2, 5, np.nan])).tolist()
    ['none', 'single', 'multi', 'multi', 'none']
    """
    agencies = np.nan_to_num(np.asarray(depth, dtype="float64"), nan=0.0)
    return np.where(agencies >= 2, "multi", np.where(agencies >= 1, "single", "none")).astype(
        object
    )


def bivariate_classes(
    risk: np.ndarray | pd.Series, depth: np.ndarray | pd.Series | None
) -> pd.DataFrame:
    """The risk × coverage class of every cell, with its colour.

    Parameters
    ----------
    risk
        Contextual risk per cell (expected incidents next month), over all the study's cells.
    depth
        Distinct agencies working in each cell now, in the same order; ``None`` when the
        study has no interventions (every cell ``none``).

    Returns
    -------
    pandas.DataFrame
        One row per cell, in the input order: ``risk_class``, ``coverage_class``, ``class``
        (``"high-none"``), ``fill`` and ``fill_opacity``.

    Raises
    ------
    ValueError
        ``risk`` and ``depth`` differ in length.

    Examples
    --------
    >>> bivariate_classes(np.array([3.0, 1.0, 0.0]), np.array([0, 2, 1]))["class"].tolist()
    ['high-none', 'low-multi', 'low-single']
    """
    risk_values = _risk_values(risk)
    if depth is None:
        depth = np.zeros(risk_values.size)
    if len(depth) != risk_values.size:
        msg = f"`risk` has {risk_values.size} cells but `depth` has {len(depth)}."
        raise ValueError(msg)
    rows = risk_classes(risk_values)
    columns = coverage_classes(depth)
    names = pd.Series(rows, dtype=object) + "-" + pd.Series(columns, dtype=object)
    return pd.DataFrame(
        {
            "risk_class": rows,
            "coverage_class": columns,
            "class": names.to_numpy(dtype=object),
            "fill": names.map(BIVARIATE_COLOURS).to_numpy(dtype=object),
            "fill_opacity": names.map(BIVARIATE_OPACITY).to_numpy(dtype="float64"),
        }
    )


def class_counts(classes: pd.DataFrame) -> pd.DataFrame:
    """Cells per class as a 3 × 3 table: risk classes (rows, high first) × coverage classes.

    Examples
    --------
    >>> table = class_counts(bivariate_classes(np.array([3.0, 1.0, 0.0]), None))
    >>> table.loc["high", "none"], int(table.to_numpy().sum())
    (np.int64(1), 3)
    """
    table = pd.crosstab(classes["risk_class"], classes["coverage_class"])
    return table.reindex(
        index=list(reversed(RISK_CLASSES)), columns=list(COVERAGE_CLASSES), fill_value=0
    ).astype("int64")


def _risk_values(risk: np.ndarray | pd.Series) -> np.ndarray:
    """Risk as floats, missing as ``-inf`` so it ranks last."""
    values = np.asarray(risk, dtype="float64")
    return np.where(np.isnan(values), -np.inf, values)
