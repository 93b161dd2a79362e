"""What the report's tables show: the columns first shown, and how a short test block's undefined statistics read.

The stored tables keep every column and NaN; these are the views a person reads (report.md, the UI's metadata,
the CLI): a statistic that the days there are do not define (a new fold's first test days) reads
``n/a (n days)``.
"""

from __future__ import annotations

import pandas as pd

from fin_pipeline.backtest.statistics import FORECAST_STATISTICS
from fin_pipeline.backtest.trials import TRIAL_BOOKS
from fin_pipeline.core.formatting import with_days

# The backtest numbers a table shows first (the stored Parquet has all of them).
SHOWN_BACKTEST_COLUMNS = [
    "total_return",
    "annualized_return",
    "sharpe",
    "sharpe_se",
    "sharpe_ci_low",
    "sharpe_ci_high",
    "lags",
    "psr",
    "dsr",
    "max_drawdown",
    "win_rate",
    "hit_ratio",
    "var_95",
    "cvar_95",
    "avg_turnover",
]
# The forecast numbers a table shows first: the errors, the IC with the daily IC's statistics (named as
# :data:`~fin_pipeline.backtest.statistics.FORECAST_STATISTICS` names them: ic_std … ic_ci_high), the rank IC,
# the hit rate and the rows scored.
SHOWN_FORECAST_COLUMNS = [
    "mse",
    "mae",
    "ic",
    *(name for name in FORECAST_STATISTICS if name.startswith("ic")),
    "rank_ic",
    "directional_accuracy",
    "n",
]


# The per-fold statistics that a fold's first test days may not define: shown as "n/a (n days)".
PER_FOLD_STATS = [
    "model_ic",
    "icir",
    "nw_t",
    "ic_ci",
    "baseline_ic",
    "dm_p",
    "sharpe",
    "sharpe_se",
    "psr",
    "dsr",
    "neutral_sharpe",
    "buy_hold_sharpe",
]


def shown_per_fold(per_fold: pd.DataFrame, horizon: int = 1) -> pd.DataFrame:
    """:func:`per_fold_table` for display: an undefined statistic of a short test block reads ``n/a (n days)``."""
    return with_days(per_fold, per_fold["test_days"], PER_FOLD_STATS, horizon)


def shown_tables(
    forecasts: pd.DataFrame, backtest: pd.DataFrame, horizon: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The forecast and backtest tables of a :class:`~fin_pipeline.evaluation.scoring.Scores` (or as stored)
    for display: their columns of :data:`SHOWN_FORECAST_COLUMNS` and :data:`SHOWN_BACKTEST_COLUMNS`, undefined
    statistics as ``n/a (n days)`` (each row's ``n_days``)."""
    return (
        with_days(forecasts, forecasts["n_days"], SHOWN_FORECAST_COLUMNS, horizon)[SHOWN_FORECAST_COLUMNS],
        with_days(backtest, backtest["n_days"], SHOWN_BACKTEST_COLUMNS, horizon)[SHOWN_BACKTEST_COLUMNS],
    )


def report_tables(
    folds: pd.DataFrame,
    per_fold: pd.DataFrame,
    forecasts: pd.DataFrame,
    backtest: pd.DataFrame,
    capacity: pd.DataFrame | None = None,
    horizon: int = 1,
) -> dict[str, pd.DataFrame]:
    """The walk-forward report's tables as a person reads them, by name in the report's order, whatever renders
    them (Markdown in ``report.md`` and the UI's metadata, plain text in the CLI): ``folds``; ``per_fold``
    (:func:`shown_per_fold`; a report written before the table had ``test_days`` is shown as stored);
    ``stitched`` and ``backtest`` (:func:`shown_tables` of the forecasts indexed by predictor and the books indexed
    by strategy); ``capacity`` when measured. DSR is the model's books' alone: the other books are references
    that nobody selected among trials, so their DSR reads "not a trial"."""
    shown_forecasts, shown_backtest = shown_tables(forecasts, backtest, horizon)
    shown_backtest = shown_backtest.astype(object)
    shown_backtest.loc[~shown_backtest.index.isin(TRIAL_BOOKS), "dsr"] = "not a trial"
    return {
        "folds": folds,
        "per_fold": shown_per_fold(per_fold, horizon) if "test_days" in per_fold else per_fold,
        "stitched": shown_forecasts,
        "backtest": shown_backtest,
        **({"capacity": capacity} if capacity is not None else {}),
    }
