"""Honest baselines, computed on the same test rows as the model, chosen without looking at the test block.

* ``zero``: no move, p = 0.
* ``momentum``: the past h-day log return repeats, p = log(close_t / close_{t−h}) = Σ_{k<h} ret_1d_{t−k}.
* ``ridge``: a ridge regression on the last day's normalized features, fitted on the fold's training windows,
  with its penalty α chosen from :data:`RIDGE_ALPHAS` by the MSE on the fold's **tuning** block.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from fin_pipeline.features.windows import WindowSet
from fin_pipeline.training.folds import fold_positions
from fin_pipeline.training.normalization import FoldStats
from fin_pipeline.training.splits import FoldBoundaries

BASELINES = ("zero", "momentum", "ridge")
RIDGE_ALPHAS = (1e-1, 1e0, 1e1, 1e2, 1e3, 1e4, 1e5)


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
    for them (``ridge_alpha`` and each candidate's tuning MSE)."""
    pos = fold_positions(ws, fold)
    last = ws.window - 1  # window k's last row is k + W - 1

    def design(positions: np.ndarray) -> np.ndarray:
        return stats.normalize(ws.values[np.asarray(positions) + last])

    x_train, y_train = design(pos.train), ws.y(pos.train).astype(np.float64)
    x_tune, y_tune = design(pos.tune), ws.y(pos.tune).astype(np.float64)
    tune_mse = {}
    for alpha in RIDGE_ALPHAS:
        w, b = fit_ridge(x_train, y_train, alpha)
        tune_mse[alpha] = float(np.mean((x_tune @ w + b - y_tune) ** 2))
    alpha = min(tune_mse, key=tune_mse.get)  # the first of equals: the least penalty
    w, b = fit_ridge(x_train, y_train, alpha)
    rows = predictions["window"].to_numpy()
    out = predictions.assign(
        zero=0.0,
        momentum=past_return(ws, rows, fold.horizon),
        ridge=design(rows) @ w + b,
    )
    return out, {"ridge_alpha": alpha, "ridge_tune_mse": {str(a): m for a, m in tune_mse.items()}}
