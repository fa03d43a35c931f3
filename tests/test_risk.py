"""Risk models on simulated cells with known relative risks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.exceptions import NotFittedError

from geojtai import risk
from geojtai.errors import SettingsError

TRUE = {"within_a_200": 3.0, "in_b": 2.0, "within_c_100": 1.5}


@pytest.fixture(scope="module")
def town() -> tuple[pd.DataFrame, np.ndarray, np.ndarray, dict[str, str]]:
    """6,000 cells; each layer has candidate exposures at several distances (nested)."""
    rng = np.random.default_rng(3)
    n = 6_000
    dist_a = rng.exponential(600, n)
    dist_c = rng.exponential(500, n)
    X = pd.DataFrame(
        {
            "within_a_100": (dist_a <= 100).astype(float),
            "within_a_200": (dist_a <= 200).astype(float),
            "within_a_400": (dist_a <= 400).astype(float),
            "in_b": (rng.random(n) < 0.15).astype(float),
            "within_c_100": (dist_c <= 100).astype(float),
            "within_c_300": (dist_c <= 300).astype(float),
            "within_decoy_100": (rng.random(n) < 0.2).astype(float),  # no effect
            "count_a_200": np.floor(rng.random(n) * 3),  # not a binary exposure: ignored
        }
    )
    exposure = 36 * rng.uniform(0.5, 1.0, n)
    log_rr = sum(np.log(v) * X[k].to_numpy() for k, v in TRUE.items())
    y = rng.poisson(0.05 * exposure * np.exp(log_rr)).astype(float)
    groups = {c: c.split("_")[1] if c.startswith("within") else c.split("_", 1)[1] for c in X}
    groups["in_b"] = "b"
    return X, y, exposure, groups


def test_the_penalised_model_recovers_factors_distances_and_rrvs(
    town: tuple[pd.DataFrame, np.ndarray, np.ndarray, dict[str, str]],
) -> None:
    X, y, exposure, groups = town
    model = risk.ContextualRiskModel(groups=groups).fit(X, y, exposure)
    assert list(model.rrv_.index) == ["within_a_200", "in_b", "within_c_100"]
    for name, value in TRUE.items():
        assert model.rrv_[name] == pytest.approx(value, rel=0.1)
    assert "within_decoy_100" not in model.features_  # no effect: dropped
    assert (model.gain_ > 3.84).all()
    rr = model.relative_risk(X)
    assert rr.max() == pytest.approx(float(np.prod(model.rrv_)), rel=1e-9)
    assert np.exp(model.intercept_) == pytest.approx(0.05, rel=0.15)


def test_explain_lists_the_factors_present_strongest_first(
    town: tuple[pd.DataFrame, np.ndarray, np.ndarray, dict[str, str]],
) -> None:
    X, y, exposure, groups = town
    model = risk.ContextualRiskModel(groups=groups).fit(X, y, exposure)
    cells = pd.DataFrame(
        {c: [0.0, 0.0, 1.0] for c in X.columns}
        | {"within_a_200": [1.0, 0.0, 1.0], "in_b": [1.0, 0.0, 1.0]}
    )
    got = model.explain(cells, top=2)
    assert got["factor_1"].tolist() == ["within_a_200", None, "within_a_200"]
    assert got["factor_2"].tolist() == ["in_b", None, "in_b"]
    assert got["rrv_2"].tolist()[1] == 1.0
    assert got["relative_risk"].tolist()[1] == 1.0


def test_sklearn_conventions_and_errors(
    town: tuple[pd.DataFrame, np.ndarray, np.ndarray, dict[str, str]],
) -> None:
    X, y, exposure, _ = town
    model = risk.ContextualRiskModel(alpha=0.01)
    assert model.get_params()["alpha"] == 0.01
    with pytest.raises(NotFittedError):
        model.predict(X)
    with pytest.raises(SettingsError, match="no incidents"):
        model.fit(X, np.zeros(len(X)), exposure)
    with pytest.raises(SettingsError, match="must match"):
        model.fit(X, y[:10], exposure)
    # Without any exposure that raises risk, the model is the base rate alone.
    flat = risk.ContextualRiskModel().fit(X[["within_decoy_100"]], y, exposure)
    assert flat.features_ == [] and flat.relative_risk(X).tolist() == [1.0] * len(X)


def test_the_boosted_model_uses_recent_history() -> None:
    rng = np.random.default_rng(5)
    n, t = 400, 14
    hot = rng.random(n) < 0.1
    rate = np.where(hot, 2.0, 0.1)
    counts = rng.poisson(rate[:, None] * np.ones((n, t))).astype(float)
    static = pd.DataFrame({"count_x_100": rng.integers(0, 3, n).astype(float)})
    ring = sparse.csr_matrix((n, n))
    model = risk.BoostedRiskModel(max_iter=60).fit(static, counts[:, :-1], np.ones(n), ring)
    forecast = model.predict(static, counts[:, :-1], np.ones(n), ring)
    assert forecast[hot].mean() > 5 * forecast[~hot].mean()
    assert forecast[hot].mean() == pytest.approx(2.0, rel=0.25)
    with pytest.raises(SettingsError, match="at least 2 months"):
        risk.BoostedRiskModel().fit(static, counts[:, :1], np.ones(n), ring)


def test_describe_factor_in_words() -> None:
    titles = {"shopping_centres": "Shopping centres", "streets": "Streets"}
    assert risk.describe_factor("in_shopping_centres", titles) == "in or touching shopping centres"
    assert risk.describe_factor("has_streets_major", titles) == "major roads (streets) in the cell"
