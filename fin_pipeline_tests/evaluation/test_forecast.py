import math

import numpy as np
import pytest

from fin_pipeline.evaluation.forecast import (
    directional_accuracy,
    forecast_metrics,
    information_coefficient,
    rank_information_coefficient,
)
from fin_pipeline.training.baselines import fit_ridge

DAYS = np.array(["d1", "d1", "d1", "d2", "d2", "d2", "d3"])


def test_ic_is_the_mean_of_daily_cross_sectional_pearson_correlations():
    pred = np.array([1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 5.0])
    target = np.array([1.0, 2.0, 4.0, 3.0, 2.0, 1.0, 9.0])
    # d1: corr([1,2,3],[1,2,4]) = 3 / sqrt(2 * 4.6667); d2: -1; d3 has one ticker: no cross-section, left out.
    d1 = 3.0 / math.sqrt(2.0 * (14 / 3))
    assert information_coefficient(pred, target, DAYS) == pytest.approx((d1 - 1.0) / 2)
    # Ranks: d1 [1,2,3] vs [1,2,3] -> 1; d2 -> -1.
    assert rank_information_coefficient(pred, target, DAYS) == pytest.approx(0.0)


def test_constant_prediction_has_an_undefined_ic_not_zero():
    pred, target = np.zeros(7), np.arange(7.0)
    assert math.isnan(information_coefficient(pred, target, DAYS))
    assert math.isnan(directional_accuracy(pred, target))


def test_directional_accuracy_counts_only_called_directions():
    pred = np.array([0.5, -0.5, 0.2, 0.0])
    target = np.array([1.0, 1.0, 0.3, -1.0])
    assert directional_accuracy(pred, target) == pytest.approx(2 / 3)


def test_forecast_metrics_mse_mae():
    m = forecast_metrics(np.array([1.0, 2.0]), np.array([0.0, 4.0]), np.array(["a", "a"]))
    assert (m["mse"], m["mae"], m["n"]) == (pytest.approx(2.5), pytest.approx(1.5), 2.0)
    with pytest.raises(ValueError, match="no predictions"):
        forecast_metrics(np.array([]), np.array([]), np.array([]))


def test_ridge_recovers_a_linear_rule_and_shrinks_with_alpha():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 3))
    y = x @ np.array([0.5, -1.0, 2.0]) + 0.3
    w, b = fit_ridge(x, y, alpha=1e-9)
    np.testing.assert_allclose(w, [0.5, -1.0, 2.0], atol=1e-6)
    assert b == pytest.approx(0.3, abs=1e-6)
    w_big, _ = fit_ridge(x, y, alpha=1e6)
    assert np.linalg.norm(w_big) < 0.01 * np.linalg.norm(w)
