"""Forecast metrics and honest baselines, computed on the same validation rows as the model.

Every metric takes ``pred`` and ``target`` (one row per window: a ticker on a day) and, for the cross-sectional
ones, the day of each row. A metric that is undefined on the rows it gets (a constant prediction has no
correlation; a day with one ticker has no cross-section) is ``NaN``, and reports show it as "undefined".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BASELINES = ("zero", "momentum", "ridge")
METRICS = ("mse", "mae", "ic", "rank_ic", "directional_accuracy", "n")


def mse(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean squared error: mean((p − y)²)."""
    return float(np.mean((pred - target) ** 2))


def mae(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute error: mean(|p − y|)."""
    return float(np.mean(np.abs(pred - target)))


def _daily_correlation(pred: np.ndarray, target: np.ndarray, days: np.ndarray, rank: bool) -> float:
    """mean over days d of corr(p_d, y_d), the correlation across the tickers of day d.

    Days with fewer than two tickers, or with a constant prediction or target, have no correlation and are
    left out; with no day left the result is NaN. ``rank=True`` correlates ranks (average rank for ties).
    """
    df = pd.DataFrame({"p": pred, "y": target, "d": days})
    if rank:
        grouped = df.groupby("d")
        df["p"], df["y"] = grouped["p"].rank(), grouped["y"].rank()
    g = df.groupby("d")
    n = g["p"].transform("size")
    dp, dy = df["p"] - g["p"].transform("mean"), df["y"] - g["y"].transform("mean")
    sums = pd.DataFrame({"pp": dp * dp, "yy": dy * dy, "py": dp * dy, "d": df["d"]})[n >= 2].groupby("d").sum()
    valid = (sums["pp"] > 0) & (sums["yy"] > 0)
    if not valid.any():
        return float("nan")
    corr = sums.loc[valid, "py"] / np.sqrt(sums.loc[valid, "pp"] * sums.loc[valid, "yy"])
    return float(corr.mean())


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


def fit_ridge(features: np.ndarray, target: np.ndarray, alpha: float = 1.0) -> tuple[np.ndarray, float]:
    """Ridge regression with an unpenalised intercept: argmin_w,b ‖Xw + b − y‖² + α‖w‖², in closed form."""
    x = np.asarray(features, np.float64)
    y = np.asarray(target, np.float64)
    x_mean, y_mean = x.mean(axis=0), y.mean()
    xc = x - x_mean
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (y - y_mean))
    return w, float(y_mean - x_mean @ w)


def format_value(value: object) -> str:
    """A table cell: 4 significant digits for floats, "undefined" for NaN, counts as integers."""
    if isinstance(value, float | np.floating):
        if value != value:
            return "undefined"
        return f"{int(value)}" if float(value).is_integer() and abs(value) >= 1 else f"{value:.4g}"
    return str(value)


def markdown_table(df: pd.DataFrame) -> str:
    """``df`` as a Markdown table (for Dagster metadata and the report)."""
    rows = [[format_value(v) for v in row] for row in df.itertuples(index=False)]
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def metrics_table(predictions: pd.DataFrame, predictors: tuple[str, ...]) -> pd.DataFrame:
    """One row per predictor column of ``predictions`` (which has ``date`` and ``target``), the metrics as columns."""
    rows = {
        name: forecast_metrics(predictions[name].to_numpy(), predictions["target"].to_numpy(), predictions["date"])
        for name in predictors
    }
    return pd.DataFrame.from_dict(rows, orient="index")[list(METRICS)].rename_axis("predictor")
