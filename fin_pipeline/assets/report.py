"""The walk-forward report: every fold's metrics beside the baselines, and the stitched out-of-sample series."""

import base64
from pathlib import Path

import pandas as pd
import torch
from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from fin_pipeline.assets.folds import WALK_FORWARD_GROUP
from fin_pipeline.assets.training import BACKTEST_COLUMNS, fold_metrics
from fin_pipeline.backtest import BUY_AND_HOLD, backtest_all, summary_table
from fin_pipeline.backtest.plots import drawdown_png, equity_curve_png, learning_curves_png, metrics_table_md
from fin_pipeline.partitions import fold_partitions
from fin_pipeline.resources import DataStore
from fin_pipeline.storage import atomic_path, read_parquet, write_parquet
from fin_pipeline.training.evaluation import markdown_table
from fin_pipeline.training.walkforward import evaluate_fold

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


def fold_summary(per_fold: pd.DataFrame) -> pd.DataFrame:
    """One row per fold: validation dates and the :data:`SUMMARY` metrics, from the stacked fold metrics."""
    wide = per_fold.pivot_table(
        index="fold", columns="predictor", values=["mse", "ic", "rank_ic", "directional_accuracy"], dropna=False
    )
    out = per_fold.groupby("fold")[["val_start", "val_end", "n"]].first()
    for who, metric in SUMMARY:
        out[f"{who}_{metric}"] = wide[(metric, who)]
    return out.reset_index()


@asset(
    group_name=WALK_FORWARD_GROUP,
    deps=[AssetDep(fold_metrics, partition_mapping=AllPartitionMapping())],
    kinds={"parquet"},
)
def walk_forward_report(context: AssetExecutionContext, store: DataStore) -> MaterializeResult:
    """All folds stitched: a table of each fold's metrics and baselines, and the out-of-sample predictions."""
    folds = fold_partitions.get_partition_keys()
    missing = [f for f in folds if not (store.metrics_dir(f) / "metrics.parquet").is_file()]
    if missing:
        raise Failure(f"walk_forward_report: fold_metrics is missing for {missing}; materialize those folds first")
    metrics, predictions, backtests, histories = [], [], [], {}
    for fold in folds:
        m, meta = read_parquet(store.metrics_dir(fold) / "metrics.parquet")
        p, _ = read_parquet(store.metrics_dir(fold) / "predictions.parquet")
        b, _ = read_parquet(store.metrics_dir(fold) / "backtest.parquet")
        bounds = meta["fold"]
        metrics.append(m.assign(fold=fold, val_start=bounds["val_start"], val_end=bounds["val_end"]))
        predictions.append(p.assign(fold=fold))
        backtests.append(b.assign(fold=fold))
        histories[fold] = torch.load(store.model_dir(fold) / "last.pt", weights_only=True)["history"]
    per_fold = pd.concat(metrics, ignore_index=True)
    stitched = pd.concat(predictions, ignore_index=True).sort_values(["date", "ticker"], ignore_index=True)
    overall = evaluate_fold(stitched).reset_index()  # the same metrics over all out-of-sample rows at once
    summary = fold_summary(per_fold)
    # One out-of-sample series: the folds' validation blocks follow each other without overlap.
    results = backtest_all(stitched)
    stitched_backtest = summary_table(results)
    fold_sharpe = pd.concat(backtests).pivot_table(index="fold", columns="strategy", values="sharpe", dropna=False)

    out = store.report_dir()
    write_parquet(per_fold, out / "fold_metrics.parquet")
    write_parquet(summary, out / "fold_summary.parquet")
    write_parquet(overall, out / "overall_metrics.parquet")
    write_parquet(stitched, out / "oos_predictions.parquet")
    write_parquet(stitched_backtest.reset_index(), out / "backtest.parquet")
    pictures = {
        "equity": equity_curve_png({k: r.equity for k, r in results.items()}, out / "equity_curve.png"),
        "drawdown": drawdown_png(results["model"].equity, out / "drawdown.png"),
        "learning_curves": learning_curves_png(histories, out / "learning_curves.png"),
    }
    tables = {
        "per_fold": markdown_table(summary),
        "stitched": markdown_table(overall),
        "backtest": metrics_table_md(stitched_backtest[BACKTEST_COLUMNS].reset_index()),
        "fold_sharpe": metrics_table_md(fold_sharpe.reset_index()),
    }
    text = (
        f"# Walk-forward report\n\n{len(folds)} folds, {len(stitched)} out-of-sample predictions "
        f"({stitched['date'].min():%Y-%m-%d} … {stitched['date'].max():%Y-%m-%d}).\n\n"
        f"## Forecasts per fold\n\n{tables['per_fold']}\n\n## Forecasts, all folds stitched\n\n{tables['stitched']}\n\n"
        f"## Backtest, all folds stitched (net of {results['model'].cost_bps:g} bps costs)\n\n{tables['backtest']}\n\n"
        f"## Sharpe per fold\n\n{tables['fold_sharpe']}\n\n"
        + "".join(f"![{name}]({path.name})\n\n" for name, path in pictures.items())
    )
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(text)
    context.log.info(f"walk-forward report written to {out}")
    return MaterializeResult(
        metadata={
            "folds": len(folds),
            "oos_predictions": len(stitched),
            "model_sharpe": float(stitched_backtest.loc["model", "sharpe"]),
            "buy_and_hold_sharpe": float(stitched_backtest.loc[BUY_AND_HOLD, "sharpe"]),
            **{name: MetadataValue.md(table) for name, table in tables.items()},
            # Inline images, so the pictures show in the UI's metadata panel and not only on disk.
            **{name: MetadataValue.md(_inline_png(path)) for name, path in pictures.items()},
            "path": MetadataValue.path(str(out)),
        }
    )


def _inline_png(path: Path) -> str:
    return f"![{path.stem}](data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()})"
