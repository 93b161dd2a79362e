"""Forecast metrics of the model and the baselines, computed on the same test rows.

Every metric takes ``pred`` and ``target`` (one row per window: a ticker on a day) and, for the cross-sectional
ones, the day of each row. A metric that is undefined on the rows it gets (a constant prediction has no
correlation; a day with one ticker has no cross-section) is ``NaN``, and reports show it as "undefined".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

METRICS = ("mse", "mae", "ic", "rank_ic", "directional_accuracy", "n")


def mse(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean squared error: mean((p − y)²)."""
    return float(np.mean((pred - target) ** 2))


def mae(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute error: mean(|p − y|)."""
    return float(np.mean(np.abs(pred - target)))


def _daily_correlation(pred: np.ndarray, target: np.ndarray, days: np.ndarray, rank: bool) -> float:
    """mean over days d of corr(p_d, y_d), the correlation across the tickers of day d.

    The mean of :func:`fin_pipeline.backtest.statistics.ic_series` (the one implementation): days with fewer than
    two tickers, or with a constant prediction or target, have no correlation and are left out; with no day left
    the result is NaN. ``rank=True`` correlates ranks (average rank for ties).
    """
    # Imported here: the statistics module loads scipy, statsmodels and arch (seconds), which a training step
    # that only needs this mean should not pay for.
    from fin_pipeline.backtest.statistics import ic_series

    ic = ic_series(pred, target, days, rank=rank)
    return float(ic.mean()) if len(ic) else float("nan")


def information_coefficient(pred: np.ndarray, target: np.ndarray, days: np.ndarray) -> float:
    """IC: mean over days of the Pearson correlation across tickers, mean_d corr(p_d, y_d)."""
    return _daily_correlation(pred, target, days, rank=False)


def rank_information_coefficient(pred: np.ndarray, target: np.ndarray, days: np.ndarray) -> float:
    """Rank IC: mean over days of the Spearman correlation across tickers, mean_d corr(rank p_d, rank y_d)."""
    return _daily_correlation(pred, target, days, rank=True)


def directional_accuracy(pred: np.ndarray, target: np.ndarray) -> float:
    """Share of rows with a called direction that got it right: mean(sign p = sign y | p ≠ 0, y ≠ 0).

    A row where the prediction is exactly 0 calls no direction; with no such row the result is NaN.
    """
    called = (pred != 0) & (target != 0)
    return float(np.mean(np.sign(pred[called]) == np.sign(target[called]))) if called.any() else float("nan")


def forecast_metrics(pred: np.ndarray, target: np.ndarray, days: np.ndarray) -> dict[str, float]:
    """All metrics of one predictor on the same rows."""
    pred, target = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    if len(pred) == 0:
        raise ValueError("no predictions to evaluate")
    return {
        "mse": mse(pred, target),
        "mae": mae(pred, target),
        "ic": information_coefficient(pred, target, days),
        "rank_ic": rank_information_coefficient(pred, target, days),
        "directional_accuracy": directional_accuracy(pred, target),
        "n": float(len(pred)),
    }


def metrics_table(predictions: pd.DataFrame, predictors: tuple[str, ...]) -> pd.DataFrame:
    """One row per predictor column of ``predictions`` (which has ``date`` and ``target``), the metrics as columns."""
    rows = {
        name: forecast_metrics(predictions[name].to_numpy(), predictions["target"].to_numpy(), predictions["date"])
        for name in predictors
    }
    return pd.DataFrame.from_dict(rows, orient="index")[list(METRICS)].rename_axis("predictor")
