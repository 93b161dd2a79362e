"""The ridge baseline's penalty search: the grid extends past whichever edge the tuning-best penalty sits on."""

import numpy as np
import pytest

from fin_pipeline.training.baselines import RIDGE_ALPHA_LIMITS, RIDGE_ALPHAS, choose_ridge_alpha


def orthogonal_design(n: int, p: int, seed: int) -> np.ndarray:
    """n × p centred columns with XᵀX = n·I: ridge then shrinks least squares by exactly n / (n + α)."""
    a = np.random.default_rng(seed).normal(size=(n, p))
    q, _ = np.linalg.qr(a - a.mean(axis=0))
    return q * np.sqrt(n)


def tuning_case(best_alpha: float, n: int = 1000, p: int = 6, seed: int = 0):
    """Training rows with a noisy linear signal, and a noise-free tuning block whose target is the least-squares
    fit shrunk by n / (n + best_alpha): the tuning MSE is 0 at α = best_alpha and grows on either side."""
    rng = np.random.default_rng(seed)
    x = orthogonal_design(n, p, seed)
    y = x @ rng.normal(0.0, 0.01, p) + rng.normal(0.0, 1.0, n) + 0.02
    w_ols = x.T @ (y - y.mean()) / n  # XᵀX = n·I
    x_tune = rng.normal(size=(400, p))
    y_tune = x_tune @ (w_ols * n / (n + best_alpha)) + y.mean()
    return x, y, x_tune, y_tune


def test_a_best_penalty_past_the_upper_edge_is_found_by_extending_the_grid():
    x, y, x_tune, y_tune = tuning_case(best_alpha=1e7)
    # The initial grid alone would stop at its upper edge: its tuning MSE falls all the way to 1e5 (by hand).
    w_ols = x.T @ (y - y.mean()) / len(y)
    grid_mse = {a: np.mean((x_tune @ (w_ols * 1000 / (1000 + a)) + y.mean() - y_tune) ** 2) for a in RIDGE_ALPHAS}
    assert min(grid_mse, key=grid_mse.get) == max(RIDGE_ALPHAS) == 1e5
    alpha, choice = choose_ridge_alpha(x, y, x_tune, y_tune)
    assert alpha == 1e7  # where the tuning MSE is 0 by construction
    # On the edge at 1e5 and at 1e6 and at 1e7 (each time the grid was extended), interior after 1e8 was tried.
    assert choice["ridge_edge_hits"] == 3 and choice["ridge_edge"] == "upper" and not choice["ridge_at_limit"]
    assert sorted(map(float, choice["ridge_tune_mse"])) == [*RIDGE_ALPHAS, 1e6, 1e7, 1e8]
    assert choice["ridge_tune_mse"][str(alpha)] == pytest.approx(0.0, abs=1e-20)


def test_a_best_penalty_inside_the_initial_grid_extends_nothing():
    alpha, choice = choose_ridge_alpha(*tuning_case(best_alpha=1e3))
    assert alpha == 1e3 and choice["ridge_edge_hits"] == 0 and choice["ridge_edge"] == ""
    assert sorted(map(float, choice["ridge_tune_mse"])) == list(RIDGE_ALPHAS)


def test_the_lower_edge_extends_down_and_the_limits_stop_the_search():
    alpha, choice = choose_ridge_alpha(*tuning_case(best_alpha=1e-2))
    assert alpha == pytest.approx(1e-2) and choice["ridge_edge"] == "lower" and choice["ridge_edge_hits"] == 2
    # No signal on the tuning block at all (its target is the training mean): more penalty always helps, so
    # the search runs to the upper limit and says it stopped there.
    x, y, x_tune, _ = tuning_case(best_alpha=1e3)
    alpha, choice = choose_ridge_alpha(x, y, x_tune, np.full(len(x_tune), y.mean()))
    low, high = RIDGE_ALPHA_LIMITS
    assert alpha == high and choice["ridge_at_limit"]
    assert choice["ridge_edge_hits"] == round(np.log10(high)) - round(np.log10(max(RIDGE_ALPHAS)))
