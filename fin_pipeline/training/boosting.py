"""A gradient-boosted trees baseline (LightGBM; Ke et al. 2017), fitted and early-stopped like the ridge baseline.

The design of a window whose last day is t: the fold-normalized features of day t (all of them, as the ridge
sees them) plus the normalized ``ret_1d``, ``ret_5d`` and ``ret_20d`` of days t−1 … t−4 (:data:`LAG_COLUMNS` at
:data:`LAGS`): a tree cannot sum lagged returns as a linear model of the last day's ``ret_5d``/``ret_20d`` can,
so the recent path of the one-day return and of the two longer returns is given to it explicitly. Every lag lies
inside the window (W > 4), so nothing the window does not hold is read.

The trees fit y / target_scale (the fold's fitting-target scale, so that LightGBM's absolute thresholds such as
``min_sum_hessian_in_leaf`` see O(1) numbers) on the fold's **training** windows; the number of trees is chosen
by the L2 loss on the fold's **tuning** block (early stopping), never the test block. The fit is deterministic:
one thread, ``deterministic=True``, row-wise histograms, a fixed seed.

:mod:`lightgbm` is imported only when this baseline is asked for; without it the error names the setting that
asked (FIN_PIPELINE_MODELS) and the install command.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fin_pipeline.features.windows import WindowSet
from fin_pipeline.training.fold_boundaries import FoldBoundaries
from fin_pipeline.training.folds import fold_positions
from fin_pipeline.training.normalization import FoldStats

LAG_COLUMNS = ("ret_1d", "ret_5d", "ret_20d")
LAGS = (1, 2, 3, 4)
MAX_ROUNDS = 500  # trees at most; early stopping on the tuning block picks how many are kept
EARLY_STOPPING_ROUNDS = 30  # rounds without a better tuning loss before the search stops
SEED = 0
PARAMS: dict[str, Any] = {
    "objective": "regression",  # L2: the same loss the tuning block is scored on
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 100,  # daily returns are mostly noise: leaves of fewer windows would fit it
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "num_threads": 1,
    "deterministic": True,
    "force_row_wise": True,
    "seed": SEED,
    "verbosity": -1,
}


def require_lightgbm(setting: str = "FIN_PIPELINE_MODELS") -> Any:
    """The :mod:`lightgbm` module, or ``RuntimeError`` naming ``setting`` (what asked for it) and the install."""
    try:
        import lightgbm
    except ImportError:
        raise RuntimeError(
            f"the lightgbm baseline is enabled ({setting} names 'lightgbm') but the lightgbm package is not "
            "installed: pip install lightgbm (or remove 'lightgbm' from the setting)"
        ) from None
    return lightgbm


def feature_names(ws: WindowSet) -> list[str]:
    """The design's column names: the last day's features, then each lag column at each lag."""
    return [*ws.feature_columns, *(f"{c}_lag{k}" for c in LAG_COLUMNS for k in LAGS)]


def lightgbm_design(ws: WindowSet, stats: FoldStats, positions: np.ndarray) -> np.ndarray:
    """(len(positions), F + 12) float64: normalized features of each window's last day t, then the normalized
    :data:`LAG_COLUMNS` of days t−k for k in :data:`LAGS` (rows of the same window)."""
    if max(LAGS) >= ws.window:
        raise ValueError(f"lag {max(LAGS)} does not fit in windows of {ws.window} days")
    last = np.asarray(positions, dtype=np.intp) + ws.window - 1
    cols = [ws.feature_columns.index(c) for c in LAG_COLUMNS]
    lagged = [stats.normalize(ws.values[last - k])[:, cols] for k in LAGS]  # (B, 3) each, lag-major
    # order the lag block column-major (ret_1d lags 1..4, then ret_5d ...) to match feature_names
    lag_block = np.stack(lagged, axis=2).reshape(len(last), -1)
    return np.hstack([stats.normalize(ws.values[last]), lag_block])


def lightgbm_predictions(
    ws: WindowSet, fold: FoldBoundaries, stats: FoldStats, rows: np.ndarray
) -> tuple[np.ndarray, dict[str, Any]]:
    """Predictions (log-return units) for the windows at ``rows``, and what was chosen: ``lightgbm_best_iteration``
    (trees kept, chosen on the tuning block), ``lightgbm_tune_mse`` (its tuning MSE, y / target_scale units) and
    ``lightgbm_rounds`` (trees grown before early stopping ended the search).

    Trained on the fold's training windows; the validation set of early stopping is the fold's tuning block only.
    """
    lgb = require_lightgbm()
    pos = fold_positions(ws, fold)
    scale = stats.target_scale
    x_train = lightgbm_design(ws, stats, pos.train)
    y_train = ws.y(pos.train).astype(np.float64) / scale
    x_tune = lightgbm_design(ws, stats, pos.tune)
    y_tune = ws.y(pos.tune).astype(np.float64) / scale
    names = feature_names(ws)
    train = lgb.Dataset(x_train, y_train, feature_name=names, free_raw_data=False)
    tune = lgb.Dataset(x_tune, y_tune, reference=train, feature_name=names, free_raw_data=False)
    record: dict[str, Any] = {}
    booster = lgb.train(
        {**PARAMS, "metric": "l2"},
        train,
        num_boost_round=MAX_ROUNDS,
        valid_sets=[tune],
        valid_names=["tune"],
        callbacks=[
            lgb.early_stopping(EARLY_STOPPING_ROUNDS, first_metric_only=True, verbose=False),
            lgb.record_evaluation(record),
        ],
    )
    best = int(booster.best_iteration) or booster.current_iteration()
    tune_curve = record["tune"]["l2"]
    predictions = booster.predict(lightgbm_design(ws, stats, rows), num_iteration=best) * scale
    return np.asarray(predictions, np.float64), {
        "lightgbm_best_iteration": best,
        "lightgbm_tune_mse": float(tune_curve[best - 1]),
        "lightgbm_rounds": len(tune_curve),
    }
