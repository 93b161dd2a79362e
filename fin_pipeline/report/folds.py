"""The folds of a walk-forward record: what each fold stored, its rows in the report's fold tables, and the folds'
test blocks stitched into one out-of-sample series (consecutive and never overlapping, so each day is predicted
once, by the model of the fold whose test block holds it)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from fin_pipeline.backtest.strategy import BUY_AND_HOLD
from fin_pipeline.core.formatting import format_stat


@dataclasses.dataclass(frozen=True)
class FoldResult:
    """What ``fold_metrics`` stored for one fold, plus the training history of its model."""

    fold: str
    bounds: dict[str, Any]  # FoldBoundaries.to_dict(): training, tuning and test dates, gaps, horizon
    forecasts: pd.DataFrame  # one row per predictor (column ``predictor``): metrics and IC statistics
    predictions: pd.DataFrame  # one row per test window: ticker, date, target, next_return, model, baselines
    backtest: pd.DataFrame  # one row per strategy (column ``strategy``): risk metrics and Sharpe statistics
    comparison: dict[str, Any]  # the model against the best baseline and zero (Diebold–Mariano)
    history: list[dict[str, Any]]  # the trainer's per-epoch records (val_loss = the tuning loss)
    baselines: dict[str, Any] | None = None  # what the baselines chose on the tuning block (ridge's α, edge hits)
    train_spec: dict[str, Any] | None = None  # the checkpoint's training specification: the trial's configuration


def fold_table(folds: list[FoldResult]) -> pd.DataFrame:
    """One row per fold: the three blocks' dates, the gap settings, the test block's tickers and windows, epochs."""
    rows = []
    for f in folds:
        b, best = f.bounds, min(f.history, key=lambda h: h["val_loss"], default={})
        rows.append(
            {
                "fold": f.fold,
                "train": f"{b['train_start']} … {b['train_end']}",
                "tuning": f"{b['tune_start']} … {b['tune_end']}",
                "test": f"{b['test_start']} … {b['test_end']}",
                "purge_days": b["purge_days"],
                "embargo_days": b["embargo_days"],
                "test_tickers": int(f.predictions["ticker"].nunique()),
                "test_windows": len(f.predictions),
                "epochs": len(f.history),
                "best_epoch": best.get("epoch"),
            }
        )
    return pd.DataFrame(rows)


def per_fold_table(folds: list[FoldResult]) -> pd.DataFrame:
    """One row per fold: the model's IC with its statistics, the best baseline's IC, the Diebold–Mariano p against
    it, the model's Sharpe (sign and neutral books) with its standard error and PSR, and ridge's penalty with the
    times its choice sat on the edge of its grid (which was then extended). DSR belongs to the stitched record,
    deflated by the store's trials."""
    rows = []
    for f in folds:
        fc, bt = f.forecasts.set_index("predictor"), f.backtest.set_index("strategy")
        best = f.comparison["vs_best"]
        days = f.predictions["date"].nunique()
        rows.append(
            {
                "fold": f.fold,
                "test_days": days,
                "model_ic": fc.loc["model", "ic"],
                "icir": fc.loc["model", "icir"],
                "nw_t": fc.loc["model", "ic_nw_t"],
                "ic_ci": (
                    f"{fc.loc['model', 'ic_ci_low']:.3g} … {fc.loc['model', 'ic_ci_high']:.3g}"
                    if fc.loc["model", "ic_ci_low"] == fc.loc["model", "ic_ci_low"]
                    else format_stat(float("nan"), days, int(f.bounds["horizon"]))
                ),
                "best_baseline": best["best_baseline"],
                "baseline_ic": fc.loc[best["best_baseline"], "ic"],
                "dm_p": best["dm_p_a_better"],
                "sharpe": bt.loc["model", "sharpe"],
                "sharpe_se": bt.loc["model", "sharpe_se"],
                "psr": bt.loc["model", "psr"],
                "neutral_sharpe": bt.loc["model_neutral", "sharpe"],
                "buy_hold_sharpe": bt.loc[BUY_AND_HOLD, "sharpe"],
                "ridge_alpha": (f.baselines or {}).get("ridge_alpha"),
                "ridge_edge_hits": (f.baselines or {}).get("ridge_edge_hits"),
            }
        )
    return pd.DataFrame(rows)


def stitch(folds: list[FoldResult]) -> pd.DataFrame:
    """The folds' test blocks, one out-of-sample series (column ``fold`` added), sorted by date and ticker."""
    stitched = pd.concat([f.predictions.assign(fold=f.fold) for f in folds], ignore_index=True)
    return stitched.sort_values(["date", "ticker"], ignore_index=True)
