"""What the report's tables show: the columns first shown, and how a short test block's undefined statistics read.

The stored tables keep every column and NaN; these are the views a person reads (report.md, the UI's metadata,
the CLI): a statistic that the days there are do not define (a new fold's first test days) reads
``n/a (n days)``.
"""

from __future__ import annotations

import pandas as pd

from fin_pipeline.core.formatting import with_days

# The backtest numbers a table shows first (the stored Parquet has all of them).
BACKTEST_COLUMNS = [
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
FORECAST_COLUMNS = [
    "mse",
    "mae",
    "ic",
    "ic_std",
    "icir",
    "ic_nw_t",
    "ic_nw_p",
    "ic_ci_low",
    "ic_ci_high",
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
    for display:
    their columns of :data:`FORECAST_COLUMNS` and :data:`BACKTEST_COLUMNS`, undefined statistics as
    ``n/a (n days)`` (each row's ``n_days``)."""
    return (
        with_days(forecasts, forecasts["n_days"], FORECAST_COLUMNS, horizon)[FORECAST_COLUMNS],
        with_days(backtest, backtest["n_days"], BACKTEST_COLUMNS, horizon)[BACKTEST_COLUMNS],
    )
