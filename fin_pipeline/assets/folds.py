"""Walk-forward folds: each fold's date boundaries and its normalization, one partition per fold."""

import dataclasses

from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from fin_pipeline.assets.features import feature_windows
from fin_pipeline.assets.universe import load_universe
from fin_pipeline.partitions import fold_partitions
from fin_pipeline.resources import DataStore
from fin_pipeline.storage import read_json, write_json
from fin_pipeline.training.splits import FoldBoundaries
from fin_pipeline.training.walkforward import FoldSpec, compute_folds, fit_normalization, fold_positions

WALK_FORWARD_GROUP = "walk_forward"
# A fold reads every ticker's features: the folds cut one calendar shared by the whole universe.
ALL_TICKERS = AssetDep(feature_windows, partition_mapping=AllPartitionMapping())


class FoldConfig(Config):
    mode: str = Field(default="expanding", description="'expanding' training window from the start, or 'rolling'.")
    purge_days: int = Field(
        default=1, ge=1, description="Trading days between the last training target and the first validation day."
    )
    embargo_days: int = Field(default=0, ge=0, description="Extra trading days dropped after the purge.")
    validation_days: int | None = Field(
        default=None, ge=1, description="Trading days per validation block; empty: the blocks cover the second half."
    )
    min_train_days: int = Field(default=252, ge=1, description="A fold with fewer training days is an error.")


@asset(partitions_def=fold_partitions, group_name=WALK_FORWARD_GROUP, deps=[ALL_TICKERS], kinds={"json"})
def walk_forward_folds(context: AssetExecutionContext, config: FoldConfig, store: DataStore) -> MaterializeResult:
    """The fold's date boundaries: training range, purge and embargo, validation block, window counts."""
    universe = load_universe(store, "walk_forward_folds")
    spec = FoldSpec(len(fold_partitions.get_partition_keys()), **config.model_dump())
    try:
        folds = compute_folds(universe.windows, spec, universe.horizon)
    except ValueError as exc:
        raise Failure(f"walk_forward_folds: {exc}", allow_retries=False) from exc
    fold = next(f for f in folds if f.fold == context.partition_key)
    train_pos, val_pos = fold_positions(universe.windows, fold)
    record = {
        **fold.to_dict(),
        "horizon": universe.horizon,
        "train_windows": len(train_pos),
        "val_windows": len(val_pos),
        "spec": dataclasses.asdict(spec),
    }
    write_json(record, store.fold_path(fold.fold))
    keys = ("train_start", "train_end", "val_start", "val_end", "purge_days", "embargo_days", "train_windows")
    return MaterializeResult(metadata={**{k: record[k] for k in keys}, "val_windows": len(val_pos)})


def read_fold(store: DataStore, fold: str) -> FoldBoundaries:
    """The boundaries ``walk_forward_folds`` stored for ``fold``."""
    path = store.fold_path(fold)
    if not path.is_file():
        raise Failure(f"{fold}: no fold boundaries at {path}; materialize walk_forward_folds[{fold}] first")
    fields = {f.name for f in dataclasses.fields(FoldBoundaries)}
    return FoldBoundaries.from_dict({k: v for k, v in read_json(path).items() if k in fields})


@asset(
    partitions_def=fold_partitions,
    group_name=WALK_FORWARD_GROUP,
    deps=[walk_forward_folds, ALL_TICKERS],
    kinds={"json"},
)
def normalization_stats(context: AssetExecutionContext, store: DataStore) -> MaterializeResult:
    """Per-feature centre and scale of the fold, fitted on its training rows only (all tickers)."""
    fold = read_fold(store, context.partition_key)
    universe = load_universe(store, "normalization_stats")
    train_pos, _ = fold_positions(universe.windows, fold)
    stats = fit_normalization(universe.windows, train_pos)
    write_json(stats.to_dict(), store.normalization_path(fold.fold))
    table = "\n".join(
        ["| feature | mean | std |", "|---|---|---|"]
        + [
            f"| {c} | {m:.4g} | {s:.4g} |"
            for c, m, s in zip(universe.windows.feature_columns, stats.mean, stats.std, strict=True)
        ]
    )
    return MaterializeResult(
        metadata={"rows": stats.rows, "target_scale": stats.target_scale, "features": MetadataValue.md(table)}
    )
