"""The walk-forward report: every fold's metrics beside the baselines, and the stitched out-of-sample series."""

import pandas as pd
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
from fin_pipeline.assets.training import fold_metrics
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
    metrics, predictions = [], []
    for fold in folds:
        m, meta = read_parquet(store.metrics_dir(fold) / "metrics.parquet")
        p, _ = read_parquet(store.metrics_dir(fold) / "predictions.parquet")
        bounds = meta["fold"]
        metrics.append(m.assign(fold=fold, val_start=bounds["val_start"], val_end=bounds["val_end"]))
        predictions.append(p.assign(fold=fold))
    per_fold = pd.concat(metrics, ignore_index=True)
    stitched = pd.concat(predictions, ignore_index=True).sort_values(["date", "ticker"], ignore_index=True)
    overall = evaluate_fold(stitched).reset_index()  # the same metrics over all out-of-sample rows at once
    summary = fold_summary(per_fold)

    out = store.report_dir()
    write_parquet(per_fold, out / "fold_metrics.parquet")
    write_parquet(summary, out / "fold_summary.parquet")
    write_parquet(overall, out / "overall_metrics.parquet")
    write_parquet(stitched, out / "oos_predictions.parquet")
    text = (
        f"# Walk-forward report\n\n{len(folds)} folds, {len(stitched)} out-of-sample predictions "
        f"({stitched['date'].min():%Y-%m-%d} … {stitched['date'].max():%Y-%m-%d}).\n\n"
        f"## Per fold\n\n{markdown_table(summary)}\n\n## All folds stitched\n\n{markdown_table(overall)}\n"
    )
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(text)
    context.log.info(f"walk-forward report written to {out}")
    return MaterializeResult(
        metadata={
            "folds": len(folds),
            "oos_predictions": len(stitched),
            "per_fold": MetadataValue.md(markdown_table(summary)),
            "stitched": MetadataValue.md(markdown_table(overall)),
            "path": MetadataValue.path(str(out)),
        }
    )
