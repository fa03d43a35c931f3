"""Contextual (place-based) risk models: scikit-learn estimators fitted on past months.

Two models, both predicting incidents per cell per month:

* :class:`ContextualRiskModel` — Risk Terrain Modeling (Caplan & Kennedy) as a penalised
  Poisson regression. For each place layer it keeps the one binary exposure (proximity,
  overlap, high density, presence of a road class) that explains the counts best on its own,
  fits a ridge-penalised Poisson GLM with the cells' exposure (months × share of the cell
  in the study region) as offset, then drops, one at a time, factors that do not raise risk
  (RRV ≤ 1) or whose likelihood-ratio test is not significant. Each kept factor has a
  **Relative Risk Value** RRV = exp(β); a cell's relative risk is exp(Σ β·x). Interpretable:
  :meth:`ContextualRiskModel.explain` lists the factors that raise each cell's risk.
* :class:`BoostedRiskModel` — gradient boosting with a Poisson loss on the same exposures
  plus recent-history lags (last month, 3- and 12-month means, the neighbours' recent mean,
  months since the last incident), trained on cell × month rows so it learns how place and
  recent history combine. Stronger, less interpretable.

Both follow scikit-learn's conventions: ``__init__`` stores parameters, ``fit`` returns
``self``, learned attributes end in ``_``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse, stats
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.utils.validation import check_is_fitted

from geojtai.errors import SettingsError
from geojtai.features import lag_features

__all__ = [
    "BINARY_PREFIXES",
    "BoostedRiskModel",
    "ContextualRiskModel",
    "boosted_forecaster",
    "describe_factor",
    "rtm_forecaster",
]

#: The feature kinds RTM treats as exposures (0/1 per cell).
BINARY_PREFIXES = ("in_", "within_", "dense", "has_")


def _poisson_ll(y: np.ndarray, mu: np.ndarray) -> float:
    """Poisson log-likelihood without the log(y!) term (constant across models)."""
    mu = np.maximum(mu, 1e-300)
    return float(np.sum(y * np.log(mu) - mu))


@dataclass(frozen=True)
class _Fit:
    intercept_: float
    coef_: np.ndarray
    loglik: float


def _fit_poisson(
    A: np.ndarray, y: np.ndarray, exposure: np.ndarray, alpha: float, *, max_iter: int = 50
) -> _Fit:
    """Ridge-penalised Poisson GLM with offset log(exposure), by Newton-Raphson (IRLS).

    Maximises ``loglik / n − alpha/2 · ||β||²`` (the intercept is not penalised), a ridge
    penalty scaled like scikit-learn's ``PoissonRegressor``. A few features and a closed-form Hessian make a fit take about a millisecond,
    which the layer-by-layer selection needs (hundreds of fits per backtest fold).
    """
    n, p = A.shape
    design = np.column_stack([np.ones(n), A])
    offset = np.log(exposure)
    beta = np.zeros(p + 1)
    beta[0] = np.log(y.sum() / exposure.sum())
    penalty = np.full(p + 1, alpha * n)
    penalty[0] = 0.0
    for _ in range(max_iter):
        # Clipped linear predictor and capped steps keep a separated factor (no incident
        # where it is present) finite: the ridge penalty then holds its β at a large value.
        mu = np.exp(np.clip(design @ beta + offset, -30.0, 30.0))
        grad = design.T @ (y - mu) - penalty * beta
        hess = (design * mu[:, None]).T @ design + np.diag(penalty) + 1e-9 * np.eye(p + 1)
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:  # collinear exposures: the least-squares step
            step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        step *= min(1.0, 5.0 / max(float(np.max(np.abs(step))), 1e-300))
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    mu = np.exp(np.clip(design @ beta + offset, -30.0, 30.0))
    return _Fit(float(beta[0]), beta[1:].copy(), _poisson_ll(y, mu))


class ContextualRiskModel(BaseEstimator):
    """Risk Terrain Modeling as a penalised Poisson regression (see the module docstring).

    Parameters
    ----------
    alpha
        Ridge penalty of the Poisson GLM (as scikit-learn's ``PoissonRegressor`` defines
        it); small by default so the RRVs are close to the maximum-likelihood ones.
    level
        Significance level of the likelihood-ratio test a factor must pass to stay in,
        Bonferroni-corrected for the number of exposures its layer offered (the best of
        several distances looks better than any one by chance): with 15 candidates the
        statistic must exceed 9.14 instead of 3.84.
    groups
        Optional map feature → group (the place layer); one feature per group is kept.
        Default: the text after the first ``_`` up to the last ``_`` part that is a number
        or a class (see :func:`geojtai.features.layer_of`), given by the caller.
    """

    def __init__(
        self,
        alpha: float = 1e-4,
        level: float = 0.05,
        groups: dict[str, str] | None = None,
    ) -> None:
        self.alpha = alpha
        self.level = level
        self.groups = groups

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: np.ndarray, exposure: np.ndarray) -> ContextualRiskModel:
        """Select one exposure per layer, fit the GLM, drop factors that do not help.

        Parameters
        ----------
        X
            Cells × candidate features; only the binary kinds (:data:`BINARY_PREFIXES`) are
            considered.
        y
            Incidents per cell over the training months.
        exposure
            Months × share of the cell inside the study region, per cell (the offset).
        """
        y = np.asarray(y, dtype=float)
        exposure = np.asarray(exposure, dtype=float)
        if len(X) != y.size or y.size != exposure.size:
            msg = f"X has {len(X)} rows, y {y.size} and exposure {exposure.size}; they must match"
            raise SettingsError(msg)
        keep = exposure > 0
        Xb = X.loc[keep, [c for c in X.columns if c.startswith(BINARY_PREFIXES)]]
        Xb = Xb.loc[:, Xb.nunique() > 1]  # a constant exposure says nothing about risk
        yk, ek = y[keep], exposure[keep]
        if yk.sum() <= 0:
            msg = "no incidents in the training months: nothing to fit a risk model to"
            raise SettingsError(msg)
        groups = {c: (self.groups or {}).get(c, c) for c in Xb.columns}
        self.candidates_ = _best_per_group(Xb, yk, ek, groups)
        chosen = [f for f in self.candidates_["feature"] if self.candidates_.loc[f, "gain"] > 0]
        chosen = self._swap(Xb, yk, ek, chosen, groups)
        offered = pd.Series(groups).value_counts()
        self.thresholds_ = {
            f: float(stats.chi2.ppf(1 - self.level / offered[groups[f]], df=1)) for f in Xb.columns
        }
        chosen = self._backward(Xb, yk, ek, chosen)
        self.features_ = chosen
        fit = self._glm(Xb[chosen], yk, ek)
        self.coef_ = pd.Series(fit.coef_, index=chosen, dtype=float)
        self.intercept_ = fit.intercept_
        self.rrv_ = pd.Series(np.exp(self.coef_.to_numpy()), index=chosen).sort_values(
            ascending=False
        )
        self.gain_ = self._gains(Xb, yk, ek, chosen)
        return self

    def _glm(self, X: pd.DataFrame, y: np.ndarray, exposure: np.ndarray) -> _Fit:
        return _fit_poisson(X.to_numpy(dtype=float), y, exposure, self.alpha)

    def _loglik(self, X: pd.DataFrame, y: np.ndarray, exposure: np.ndarray) -> float:
        return self._glm(X, y, exposure).loglik

    def _swap(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        exposure: np.ndarray,
        chosen: list[str],
        groups: dict[str, str],
        rounds: int = 4,
    ) -> list[str]:
        """Coordinate ascent: try each layer's other exposures with the rest held fixed.

        Chosen alone, a layer's best distance can stand in for a neighbouring layer (pubs
        cluster by shopping centres); chosen jointly, each layer keeps its own effect.
        """
        chosen = list(chosen)
        for _ in range(rounds):
            changed = False
            for i, current in enumerate(list(chosen)):
                rest = chosen[:i] + chosen[i + 1 :]
                options = [c for c in X.columns if groups[c] == groups[current]]
                scores = {o: self._loglik(X[[*rest, o]], y, exposure) for o in options}
                best = max(scores, key=lambda o: (scores[o], o == current))
                if best != current:
                    chosen[i], changed = best, True
            if not changed:
                break
        return chosen

    def _backward(
        self, X: pd.DataFrame, y: np.ndarray, exposure: np.ndarray, chosen: list[str]
    ) -> list[str]:
        """Drop, one at a time, the weakest factor that lowers risk or is not significant."""
        chosen = list(chosen)
        while chosen:
            glm = self._glm(X[chosen], y, exposure)
            full = glm.loglik
            lr = {
                f: 2 * (full - self._loglik(X[[c for c in chosen if c != f]], y, exposure))
                for f in chosen
            }
            bad = {
                f: lr[f]
                for f, b in zip(chosen, glm.coef_, strict=True)
                if b <= 0 or lr[f] < self.thresholds_[f]
            }
            if not bad:
                return chosen
            chosen.remove(min(bad, key=lambda f: lr[f]))
        return chosen

    def _gains(
        self, X: pd.DataFrame, y: np.ndarray, exposure: np.ndarray, chosen: list[str]
    ) -> pd.Series:
        if not chosen:
            return pd.Series(dtype=float)
        full = self._loglik(X[chosen], y, exposure)
        return pd.Series(
            {
                f: 2 * (full - self._loglik(X[[c for c in chosen if c != f]], y, exposure))
                for f in chosen
            }
        )

    # -- using it --------------------------------------------------------------------------
    def relative_risk(self, X: pd.DataFrame) -> np.ndarray:
        """exp(Σ β·x) per cell: risk relative to a cell with no risk factor."""
        check_is_fitted(self, "features_")
        if not self.features_:
            return np.ones(len(X))
        return np.exp(X[self.features_].to_numpy(dtype=float) @ self.coef_.to_numpy())

    def predict(self, X: pd.DataFrame, exposure: np.ndarray | float = 1.0) -> np.ndarray:
        """Expected incidents per cell (per month × share inside the region by default)."""
        check_is_fitted(self, "features_")
        return np.exp(self.intercept_) * self.relative_risk(X) * np.asarray(exposure)

    def explain(self, X: pd.DataFrame, *, top: int = 3) -> pd.DataFrame:
        """The factors raising each cell's risk, strongest first (vectorised over cells).

        Returns
        -------
        pandas.DataFrame
            ``factor_1`` .. ``factor_<top>`` (feature names present in the cell, by RRV;
            None when fewer), ``rrv_1`` .. ``rrv_<top>`` (1.0 when none) and
            ``relative_risk``, one row per cell.
        """
        check_is_fitted(self, "features_")
        ordered = list(self.rrv_.index)
        n = len(X)
        present = X[ordered].to_numpy(dtype=float) > 0 if ordered else np.zeros((n, 0), bool)
        rank = np.cumsum(present, axis=1) * present  # 1 for the strongest present, 2, ...
        names = np.array([*ordered, None], dtype=object)
        rrvs = np.array([*self.rrv_.to_numpy(), 1.0])
        out: dict[str, Any] = {}
        for slot in range(1, top + 1):
            hit = rank == slot
            first = hit.argmax(axis=1) if ordered else np.zeros(n, dtype=int)
            col = np.where(hit.any(axis=1), first, len(ordered))
            out[f"factor_{slot}"] = pd.Series(names[col], index=X.index, dtype=object)
            out[f"rrv_{slot}"] = np.round(rrvs[col], 3)
        out["relative_risk"] = self.relative_risk(X)
        return pd.DataFrame(out, index=X.index)


def _best_per_group(
    X: pd.DataFrame, y: np.ndarray, exposure: np.ndarray, groups: dict[str, str]
) -> pd.DataFrame:
    """Each group's binary feature with the largest likelihood-ratio gain on its own.

    With one 0/1 feature the Poisson MLE is closed-form (a rate per group), so every
    candidate is scored with two matrix products. Only risk-raising features (rate with >
    rate without) are eligible.
    """
    A = X.to_numpy(dtype=float)
    total_y, total_e = y.sum(), exposure.sum()
    y1, e1 = A.T @ y, A.T @ exposure
    y0, e0 = total_y - y1, total_e - e1
    with np.errstate(divide="ignore", invalid="ignore"):
        r1 = np.where(e1 > 0, y1 / e1, 0.0)
        r0 = np.where(e0 > 0, y0 / e0, 0.0)
        term1 = np.where(y1 > 0, y1 * np.log(np.where(r1 > 0, r1, 1.0)), 0.0) - r1 * e1
        term0 = np.where(y0 > 0, y0 * np.log(np.where(r0 > 0, r0, 1.0)), 0.0) - r0 * e0
        base = total_y * np.log(total_y / total_e) - total_y
    gain = 2 * (term1 + term0 - base)
    gain = np.where((r1 > r0) & (e1 > 0) & (e0 > 0), gain, 0.0)
    table = pd.DataFrame(
        {
            "feature": X.columns,
            "group": [groups.get(c, c) for c in X.columns],
            "gain": gain,
            "rrv_alone": np.divide(r1, r0, out=np.zeros_like(r1), where=r0 > 0),
        }
    )
    best = table.sort_values(["group", "gain", "feature"], ascending=[True, False, True])
    return best.drop_duplicates("group").set_index("feature", drop=False)


class BoostedRiskModel(BaseEstimator):
    """Gradient boosting (Poisson loss) on place exposures and recent-history lags.

    Parameters
    ----------
    train_origins
        How many past months serve as training targets (each with lags from before it).
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization
        Passed to scikit-learn's ``HistGradientBoostingRegressor(loss="poisson")``.
    random_state
        Seed (the booster is deterministic without early stopping; kept for clarity).
    static_kinds
        Which place features it sees: counts within each distance, overlap and street
        lengths. The 0/1 exposures are thresholds of these, which trees find themselves.
    """

    def __init__(
        self,
        train_origins: int = 12,
        max_iter: int = 150,
        learning_rate: float = 0.08,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 40,
        l2_regularization: float = 1.0,
        random_state: int = 0,
        static_kinds: tuple[str, ...] = ("count_", "in_", "length_"),
    ) -> None:
        self.static_kinds = static_kinds
        self.train_origins = train_origins
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.random_state = random_state

    def _rows(
        self,
        static: pd.DataFrame,
        counts: np.ndarray,
        origin: int,
        neighbours: sparse.csr_matrix,
    ) -> pd.DataFrame:
        lags = lag_features(counts, origin, neighbours)
        kept = [c for c in static.columns if c.startswith(self.static_kinds)]
        return pd.concat([static[kept].reset_index(drop=True), lags], axis=1)

    def fit(
        self,
        static: pd.DataFrame,
        counts: np.ndarray,
        area_fraction: np.ndarray,
        neighbours: sparse.csr_matrix,
    ) -> BoostedRiskModel:
        """Fit on months ``1 .. T-1`` of ``counts`` (the last ``train_origins`` of them).

        Parameters
        ----------
        static
            Cells × place features.
        counts
            Cells × past months (only these are read).
        area_fraction
            Share of each cell inside the study region (the exposure per month).
        neighbours
            k-ring matrix without self (:func:`geojtai.grid.neighbour_matrix`).
        """
        counts = np.asarray(counts, dtype=float)
        t = counts.shape[1]
        origins = list(range(max(1, t - self.train_origins), t))
        if not origins:
            msg = "the boosted model needs at least 2 months of history"
            raise SettingsError(msg)
        frames = [self._rows(static, counts, o, neighbours) for o in origins]
        X = pd.concat(frames, ignore_index=True)
        y = np.concatenate([counts[:, o] for o in origins])
        w = np.tile(np.asarray(area_fraction, dtype=float), len(origins))
        keep = w > 0
        self.columns_ = list(X.columns)
        self.booster_ = HistGradientBoostingRegressor(
            loss="poisson",
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            early_stopping=False,
            random_state=self.random_state,
        ).fit(X[keep].to_numpy(dtype=float), y[keep] / w[keep], sample_weight=w[keep])
        return self

    def predict(
        self,
        static: pd.DataFrame,
        counts: np.ndarray,
        area_fraction: np.ndarray,
        neighbours: sparse.csr_matrix,
    ) -> np.ndarray:
        """Expected incidents per cell in the month after ``counts`` ends."""
        check_is_fitted(self, "booster_")
        X = self._rows(static, np.asarray(counts, dtype=float), counts.shape[1], neighbours)
        rate = self.booster_.predict(X[self.columns_].to_numpy(dtype=float))
        return np.asarray(rate) * np.asarray(area_fraction, dtype=float)


def describe_factor(name: str, titles: dict[str, str]) -> str:
    """A feature name in words.

    Examples
    --------
    >>> describe_factor("within_schools_250", {"schools": "Schools and colleges"})
    'within 250 m of schools and colleges'
    >>> describe_factor("dense3_licensed_premises_300", {"licensed_premises": "Pubs"})
    '3 or more pubs within 300 m'
    """
    kind, _, rest = name.partition("_")
    layer = max((k for k in titles if rest == k or rest.startswith(f"{k}_")), key=len, default="")
    tail = rest[len(layer) + 1 :] if layer else rest
    title = titles.get(layer, rest).lower()
    if kind.startswith("dense") and kind[5:].isdigit():
        return f"{kind[5:]} or more {title} within {tail} m"
    words: dict[str, str] = {
        "in": f"in or touching {title}",
        "within": f"within {tail} m of {title}",
        "has": f"{tail} roads ({title}) in the cell",
        "count": f"number of {title} within {tail} m",
        "length": f"length of {tail} {title} in the cell",
    }
    return words.get(kind, name)


# --------------------------------------------------------------------------- forecasters


class _HasCounts:  # the part of geojtai.evaluate.Panel a forecaster reads
    counts: np.ndarray


def rtm_forecaster(
    static: pd.DataFrame, area_fraction: np.ndarray, groups: dict[str, str], **params: Any
) -> Any:
    """A backtest forecaster: refit :class:`ContextualRiskModel` on the months before each
    origin and score cells by their expected incidents per month."""
    share = np.asarray(area_fraction, dtype=float)

    def forecast(panel: _HasCounts, origin: int, horizon: int) -> np.ndarray:
        past = np.asarray(panel.counts[:, :origin], dtype=float)
        model = ContextualRiskModel(groups=groups, **params)
        model.fit(static, past.sum(axis=1), origin * share)
        return model.predict(static, share) * horizon

    return forecast


def boosted_forecaster(
    static: pd.DataFrame,
    area_fraction: np.ndarray,
    neighbours: sparse.csr_matrix,
    **params: Any,
) -> Any:
    """A backtest forecaster: refit :class:`BoostedRiskModel` on the months before each
    origin and score cells by the next month's expected incidents."""
    share = np.asarray(area_fraction, dtype=float)

    def forecast(panel: _HasCounts, origin: int, horizon: int) -> np.ndarray:
        past = np.asarray(panel.counts[:, :origin], dtype=float)
        model = BoostedRiskModel(**params).fit(static, past, share, neighbours)
        return model.predict(static, past, share, neighbours) * horizon

    return forecast
