"""Honest baselines, computed on the same test rows as the model, chosen without looking at the test block.

* ``zero``: no move, p = 0.
* ``momentum``: the past h-day log return repeats, p = log(close_t / close_{t−h}) = Σ_{k<h} ret_1d_{t−k}.
* ``ridge``: a ridge regression on the last day's normalized features, fitted on the fold's training windows,
  with its penalty α chosen by the MSE on the fold's **tuning** block (:func:`choose_ridge_alpha`): from the
  decades of :data:`RIDGE_ALPHAS`, the grid extended a decade at a time past whichever edge the choice sits on,
  within :data:`RIDGE_ALPHA_LIMITS`, so that a baseline held back by the grid's edge is not the one we beat.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from fin_pipeline.features.windows import WindowSet
from fin_pipeline.training.fold_boundaries import FoldBoundaries
from fin_pipeline.training.folds import fold_positions
from fin_pipeline.training.normalization import FoldStats

BASELINES = ("zero", "momentum", "ridge")
RIDGE_ALPHAS = (1e-1, 1e0, 1e1, 1e2, 1e3, 1e4, 1e5)  # the initial grid, one value per decade
# How far the grid extends. Features are standardized on the training rows, so XᵀX's eigenvalues are about the
# number of training rows (10³ … 10⁶ here): α = 10⁹ shrinks every weight to under 0.1% of least squares (the
# intercept-only forecast, to a good approximation), and α = 10⁻⁴ is least squares itself.
RIDGE_ALPHA_LIMITS = (1e-4, 1e9)


def fit_ridge(features: np.ndarray, target: np.ndarray, alpha: float = 1.0) -> tuple[np.ndarray, float]:
    """Ridge regression with an unpenalised intercept: argmin_w,b ‖Xw + b − y‖² + α‖w‖², in closed form."""
    x = np.asarray(features, np.float64)
    y = np.asarray(target, np.float64)
    x_mean, y_mean = x.mean(axis=0), y.mean()
    xc = x - x_mean
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (y - y_mean))
    return w, float(y_mean - x_mean @ w)


def past_return(ws: WindowSet, positions: np.ndarray, horizon: int) -> np.ndarray:
    """log(close_t / close_{t−h}) of each window's last day t: the sum of its last h rows' ``ret_1d``."""
    if not 1 <= horizon <= ws.window:
        raise ValueError(f"horizon must be in [1, {ws.window}] (the window length), got {horizon}")
    ret_1d = ws.feature_columns.index("ret_1d")
    last = np.asarray(positions) + ws.window - 1
    return sum(ws.values[last - k, ret_1d].astype(np.float64) for k in range(horizon))


def add_baselines(
    ws: WindowSet, fold: FoldBoundaries, stats: FoldStats, predictions: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``predictions`` (rows with a ``window`` column) with the baselines' predictions added, and what was chosen
    for them (``ridge_alpha`` and what :func:`choose_ridge_alpha` reports: each candidate's tuning MSE, edge hits)."""
    pos = fold_positions(ws, fold)
    last = ws.window - 1  # window k's last row is k + W - 1

    def design(positions: np.ndarray) -> np.ndarray:
        return stats.normalize(ws.values[np.asarray(positions) + last])

    x_train, y_train = design(pos.train), ws.y(pos.train).astype(np.float64)
    x_tune, y_tune = design(pos.tune), ws.y(pos.tune).astype(np.float64)
    alpha, choice = choose_ridge_alpha(x_train, y_train, x_tune, y_tune)
    w, b = fit_ridge(x_train, y_train, alpha)
    rows = predictions["window"].to_numpy()
    out = predictions.assign(
        zero=0.0,
        momentum=past_return(ws, rows, fold.horizon),
        ridge=design(rows) @ w + b,
    )
    return out, {"ridge_alpha": alpha, **choice}


def choose_ridge_alpha(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_tune: np.ndarray,
    y_tune: np.ndarray,
    grid: tuple[float, ...] = RIDGE_ALPHAS,
    limits: tuple[float, float] = RIDGE_ALPHA_LIMITS,
) -> tuple[float, dict[str, Any]]:
    """The penalty α with the lowest tuning MSE, mean((x_tune·w_α + b_α − y_tune)²), (w_α, b_α) the ridge fit on
    the training rows (:func:`fit_ridge`); ties go to the least penalty.

    Starting from ``grid`` (decades), while the best α is the grid's largest (smallest) value and the next
    decade up (down) is within ``limits``, that decade is added and the choice made again: each such step is an
    **edge hit**. Only the tuning block is looked at. Returns α and what to report: ``ridge_tune_mse`` (every α
    tried → its tuning MSE), ``ridge_edge_hits`` (how many times the choice sat on an edge and the grid was
    extended), ``ridge_edge`` (the side of the initial grid the choice sat on: ``upper``, ``lower`` or ``""``) and
    ``ridge_at_limit`` (the final α is still the grid's edge, at a limit: the baseline may want more).
    """
    low, high = limits
    tune_mse: dict[float, float] = {}

    def score(alpha: float) -> None:
        w, b = fit_ridge(x_train, y_train, alpha)
        tune_mse[alpha] = float(np.mean((x_tune @ w + b - y_tune) ** 2))

    for alpha in grid:
        score(float(alpha))
    hits, first_edge = 0, ""
    while True:
        best = min(tune_mse, key=lambda a: (tune_mse[a], a))
        tried = sorted(tune_mse)
        side = "upper" if best == tried[-1] else "lower" if best == tried[0] else ""
        # The next decade, from the exponent (repeated ×10 would drift off the powers of ten).
        step = 10.0 ** (round(math.log10(best)) + (1 if side == "upper" else -1))
        if not side or not low <= step <= high:
            break
        first_edge = first_edge or side
        hits += 1
        score(step)
    return best, {
        "ridge_tune_mse": {str(a): m for a, m in sorted(tune_mse.items())},
        "ridge_edge_hits": hits,
        "ridge_edge": first_edge,
        "ridge_at_limit": bool(side),
    }
