"""The walk-forward report from every fold's results: tables, the stitched backtest, pictures and Markdown.

``walk_forward_report`` reads the folds' files and calls :func:`write_report`; a notebook or the pipeline
benchmark can call it with results held in memory.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd

from fin_pipeline.backtest.metrics import summary_table
from fin_pipeline.backtest.plots import drawdown_png, equity_curve_png, learning_curves_png, metrics_table_md
from fin_pipeline.backtest.strategy import backtest_all
from fin_pipeline.storage import atomic_path, write_parquet
from fin_pipeline.training.evaluation import BASELINES, markdown_table, metrics_table

# The per-fold summary: (predictor, metric) pairs a person compares first.
SUMMARY = [
    ("model", "mse"),
    ("zero", "mse"),
    ("model", "ic"),
    ("ridge", "ic"),
    ("momentum", "ic"),
    ("model", "rank_ic"),
    ("model", "directional_accuracy"),
    ("ridge", "directional_accuracy"),
]
# The backtest numbers a table shows first (the stored Parquet has all of them).
BACKTEST_COLUMNS = [
    "total_return",
    "annualized_return",
    "sharpe",
    "sortino",
    "max_drawdown",
    "win_rate",
    "hit_ratio",
    "var_95",
    "cvar_95",
    "avg_turnover",
]


@dataclasses.dataclass(frozen=True)
class FoldResult:
    """What ``fold_metrics`` stored for one fold, plus the training history of its model."""

    fold: str
    val_start: str
    val_end: str
    metrics: pd.DataFrame  # one row per predictor (column ``predictor``), forecast metrics as columns
    predictions: pd.DataFrame  # one row per validation window: ticker, date, target, model, baselines
    backtest: pd.DataFrame  # one row per strategy (column ``strategy``), backtest metrics as columns
    history: list[dict[str, Any]]  # the trainer's per-epoch records


@dataclasses.dataclass(frozen=True)
class WalkForwardReport:
    summary: pd.DataFrame  # per fold: validation dates and the SUMMARY metrics
    overall: pd.DataFrame  # forecast metrics over all folds' predictions at once
    backtest: pd.DataFrame  # backtest metrics of the stitched out-of-sample series, per strategy
    predictions: pd.DataFrame  # the stitched out-of-sample predictions
    tables: dict[str, str]  # Markdown
    pictures: dict[str, Path]  # PNG files


def fold_summary(per_fold: pd.DataFrame) -> pd.DataFrame:
    """One row per fold: validation dates and the :data:`SUMMARY` metrics, from the stacked fold metrics."""
    values = sorted({metric for _, metric in SUMMARY})
    wide = per_fold.pivot_table(index="fold", columns="predictor", values=values, dropna=False)
    out = per_fold.groupby("fold")[["val_start", "val_end", "n"]].first()
    for who, metric in SUMMARY:
        out[f"{who}_{metric}"] = wide[(metric, who)]
    return out.reset_index()


def write_report(folds: list[FoldResult], out: Path) -> WalkForwardReport:
    """Stitch the folds' validation blocks (consecutive, never overlapping) into one out-of-sample series and
    write its tables (Parquet), pictures (PNG) and ``report.md`` into ``out``, each file atomically."""
    if not folds:
        raise ValueError("no folds to report on")
    per_fold = pd.concat(
        [f.metrics.assign(fold=f.fold, val_start=f.val_start, val_end=f.val_end) for f in folds], ignore_index=True
    )
    stitched = pd.concat([f.predictions.assign(fold=f.fold) for f in folds], ignore_index=True)
    stitched = stitched.sort_values(["date", "ticker"], ignore_index=True)
    overall = metrics_table(stitched, ("model", *BASELINES)).reset_index()
    summary = fold_summary(per_fold)
    results = backtest_all(stitched)
    backtest = summary_table(results)
    fold_sharpe = pd.concat([f.backtest.assign(fold=f.fold) for f in folds]).pivot_table(
        index="fold", columns="strategy", values="sharpe", dropna=False
    )

    out = Path(out)
    write_parquet(per_fold, out / "fold_metrics.parquet")
    write_parquet(summary, out / "fold_summary.parquet")
    write_parquet(overall, out / "overall_metrics.parquet")
    write_parquet(stitched, out / "oos_predictions.parquet")
    write_parquet(backtest.reset_index(), out / "backtest.parquet")
    pictures = {
        "equity": equity_curve_png({k: r.equity for k, r in results.items()}, out / "equity_curve.png"),
        "drawdown": drawdown_png(results["model"].equity, out / "drawdown.png"),
        "learning_curves": learning_curves_png({f.fold: f.history for f in folds}, out / "learning_curves.png"),
    }
    tables = {
        "per_fold": markdown_table(summary),
        "stitched": markdown_table(overall),
        "backtest": metrics_table_md(backtest[BACKTEST_COLUMNS].reset_index()),
        "fold_sharpe": metrics_table_md(fold_sharpe.reset_index()),
    }
    text = (
        f"# Walk-forward report\n\n{len(folds)} folds, {len(stitched)} out-of-sample predictions "
        f"({stitched['date'].min():%Y-%m-%d} … {stitched['date'].max():%Y-%m-%d}).\n\n"
        f"## Forecasts per fold\n\n{tables['per_fold']}\n\n"
        f"## Forecasts, all folds stitched\n\n{tables['stitched']}\n\n"
        f"## Backtest, all folds stitched (net of {results['model'].cost_bps:g} bps costs)\n\n{tables['backtest']}\n\n"
        f"## Sharpe per fold\n\n{tables['fold_sharpe']}\n\n"
        + "".join(f"![{name}]({path.name})\n\n" for name, path in pictures.items())
    )
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(text)
    return WalkForwardReport(summary, overall, backtest, stitched, tables, pictures)
