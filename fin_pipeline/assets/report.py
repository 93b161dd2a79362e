"""The walk-forward report: every fold's metrics beside the baselines, and the stitched out-of-sample series."""

import base64
from pathlib import Path

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
from fin_pipeline.backtest import BUY_AND_HOLD
from fin_pipeline.backtest.report import FoldResult, write_report
from fin_pipeline.partitions import fold_partitions
from fin_pipeline.resources import DataStore
from fin_pipeline.storage import read_parquet
from fin_pipeline.training.checkpoint import read_checkpoint


def read_fold_result(store: DataStore, fold: str) -> FoldResult:
    """What ``fold_metrics`` stored for ``fold``, and its model's training history."""
    directory = store.metrics_dir(fold)
    metrics, meta = read_parquet(directory / "metrics.parquet")
    predictions, _ = read_parquet(directory / "predictions.parquet")
    backtest, _ = read_parquet(directory / "backtest.parquet")
    history = read_checkpoint(store.model_dir(fold) / "last.pt")["history"]
    bounds = meta["fold"]
    return FoldResult(fold, bounds["val_start"], bounds["val_end"], metrics, predictions, backtest, history)


@asset(
    group_name=WALK_FORWARD_GROUP,
    deps=[AssetDep(fold_metrics, partition_mapping=AllPartitionMapping())],
    kinds={"parquet"},
)
def walk_forward_report(context: AssetExecutionContext, store: DataStore) -> MaterializeResult:
    """All folds stitched: each fold's metrics and baselines, the out-of-sample backtest, and pictures."""
    folds = fold_partitions.get_partition_keys()
    missing = [f for f in folds if not (store.metrics_dir(f) / "backtest.parquet").is_file()]
    if missing:
        raise Failure(f"walk_forward_report: fold_metrics is missing for {missing}; materialize those folds first")
    out = store.report_dir()
    report = write_report([read_fold_result(store, f) for f in folds], out)
    context.log.info(f"walk-forward report written to {out}")
    return MaterializeResult(
        metadata={
            "folds": len(folds),
            "oos_predictions": len(report.predictions),
            "model_sharpe": float(report.backtest.loc["model", "sharpe"]),
            "buy_and_hold_sharpe": float(report.backtest.loc[BUY_AND_HOLD, "sharpe"]),
            **{name: MetadataValue.md(table) for name, table in report.tables.items()},
            # Inline images, so the pictures show in the UI's metadata panel and not only on disk.
            **{name: MetadataValue.md(_inline_png(path)) for name, path in report.pictures.items()},
            "path": MetadataValue.path(str(out)),
        }
    )


def _inline_png(path: Path) -> str:
    return f"![{path.stem}](data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()})"
