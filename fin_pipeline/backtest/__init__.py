"""Out-of-sample backtests of predictions: strategy simulation, risk metrics and pictures (no Dagster here)."""

from fin_pipeline.backtest.books import MODES, positions_from_predictions
from fin_pipeline.backtest.metrics import SUMMARY_KEYS, summary, summary_table
from fin_pipeline.backtest.strategy import (
    BOOKS,
    BUY_AND_HOLD,
    NEUTRAL_SUFFIX,
    BacktestResult,
    backtest,
    backtest_all,
    buy_and_hold,
)

__all__ = [
    "BOOKS",
    "BUY_AND_HOLD",
    "MODES",
    "NEUTRAL_SUFFIX",
    "SUMMARY_KEYS",
    "BacktestResult",
    "backtest",
    "backtest_all",
    "buy_and_hold",
    "positions_from_predictions",
    "summary",
    "summary_table",
]
