"""Walk-forward folds: each fold's training, tuning and test blocks and its normalization, one partition per fold."""

import pandas as pd
from dagster import (
    AssetExecutionContext,
    DataVersion,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from fin_pipeline.core.formatting import markdown_table
from fin_pipeline.core.settings import load_settings
from fin_pipeline.defs.assets.features import feature_windows
from fin_pipeline.defs.assets.universe import data_fold_keys, load_universe
from fin_pipeline.defs.config import check_run_training_config, config_from_spec, spec_values
from fin_pipeline.defs.partitions import every_partition, fold_partitions
from fin_pipeline.defs.resources import DataStore
from fin_pipeline.evaluation.nightly import check_plans, plan_folds, restated_since
from fin_pipeline.sources.update import rebuild_command
from fin_pipeline.training.fold_boundaries import FoldBoundaries
from fin_pipeline.training.folds import universe_end_message
from fin_pipeline.training.walkforward import (
    FoldSpec,
    code_version,
    compute_folds,
    fit_fold_normalization,
    fold_positions,
    fold_record,
    fold_version,
    training_version,
)

WALK_FORWARD_GROUP = "walk_forward"
# A fold reads every ticker's features: the folds cut one calendar shared by the whole universe.
ALL_TICKERS = every_partition(feature_windows)
# The fold assets' code version: a hash of the package's source. A code change marks every fold stale in the UI
# (cause: new code version); nothing is retrained until the user backfills.
FOLD_CODE_VERSION = code_version()


class FoldConfig(
    config_from_spec(
        "FoldConfigFields", FoldSpec, "How the calendar is cut into folds.", exclude=("period", "first_test_date")
    )
):
    def spec(self) -> FoldSpec:
        """The library's spec; the period and first test date name the fold partitions, so they are settings
        (FIN_PIPELINE_FOLD_PERIOD, FIN_PIPELINE_FIRST_TEST_DATE), not run config."""
        settings = load_settings()
        values = spec_values(self)
        if values.get("min_tickers") is None:  # the setting (FIN_PIPELINE_MIN_TICKERS), else FoldSpec's default
            values["min_tickers"] = settings.min_tickers
            if values["min_tickers"] is None and settings.universe_rule is not None:
                # a point-in-time universe holds the rule's N, not the whole pool: half of N by default
                values["min_tickers"] = FoldSpec().tickers_needed(settings.universe_rule.n)
        elif not 2 <= values["min_tickers"] <= len(settings.universe):
            raise Failure(
                f"fold config: min_tickers={values['min_tickers']} must be between 2 and the universe's "
                f"{len(settings.universe)} ticker(s)",
                allow_retries=False,
            )
        return FoldSpec(period=settings.fold_period, first_test_date=settings.first_test_date, **values)


@asset(
    partitions_def=fold_partitions,
    group_name=WALK_FORWARD_GROUP,
    deps=[ALL_TICKERS],
    kinds={"json"},
    code_version=FOLD_CODE_VERSION,
)
def walk_forward_folds(context: AssetExecutionContext, config: FoldConfig, store: DataStore) -> MaterializeResult:
    """The fold's blocks: training | gap | tuning | gap | test (its calendar period) dates, gap, window counts."""
    universe = load_universe(store, "walk_forward_folds")
    spec, key = config.spec(), context.partition_key
    check_run_training_config(context, store, f"walk_forward_folds[{key}]")  # before this job writes anything
    try:
        keys = data_fold_keys(universe)
        if key not in keys:
            raise ValueError(
                f"fold {key}: its test period has not begun in the data, which ends on "
                f"{universe.windows.index['date'].max():%Y-%m-%d}; materialize it once the period's first trading "
                "day has arrived"
            )
        if universe_end_message(universe.windows, spec, [key]):  # said as the CLI and the sensor say it
            raise ValueError(f"fold {key}: {universe_end_message(universe.windows, spec, keys)}")
        folds = compute_folds(universe.windows, spec, universe.horizon)  # the pool's calendar
        at = next(i for i, f in enumerate(folds) if f.fold == key)
        fold, previous = folds[at], folds[at - 1] if at else None
        windows = universe.fold_windows(fold)  # the universe as of the test start (the whole one: hand-picked)
        fold_positions(windows, fold)  # an empty training or tuning block fails here, naming the fold
        # Nothing stored is rewritten by accident: the fold's stored blocks may not move, a closed fold's rows stay.
        (plan,) = plan_folds(universe.windows, spec, store, [key], universe.horizon, universe.fold_windows)
        check_plans([plan])
        if plan.restated:
            raise ValueError(f"fold {key}: {plan.reason}; to rebuild it deliberately: {rebuild_command(key)}")
    except ValueError as exc:
        raise Failure(f"walk_forward_folds: {exc}", allow_retries=False) from exc
    record = {**fold_document(windows, fold, spec), "universe": universe.membership(fold, previous)}
    store.write_fold(fold.fold, record)  # one JSON, written to a temporary file and renamed
    blocks = pd.DataFrame(
        [
            {
                "block": name,
                "first day": record[f"{key}_start"],
                "last day": record[f"{key}_end"],
                "trading days": record[f"{key}_days"],
                "windows": record[f"{key}_windows"],
                "tickers": record[f"{key}_tickers"],
            }
            for name, key in (("training", "train"), ("tuning", "tune"), ("test", "test"))
        ]
    )
    shown = {k: v for k, v in record.items() if k not in ("fold", "index", "spec", "universe")}
    members = record["universe"]
    shown["universe"] = f"{members['rule']}: {members['count']} tickers"
    if members["entered"] is not None:
        shown["universe_churn"] = f"{len(members['entered'])} in, {len(members['left'])} out"
    return MaterializeResult(
        metadata={**shown, "blocks": MetadataValue.md(markdown_table(blocks))},
        data_version=DataVersion(record["data_version"]),
    )


def fold_document(windows, fold, spec: FoldSpec) -> dict:
    """What ``folds/<fold>.json`` holds: the fold's blocks, its rules, and two versions by rows: the fold's (up to
    its test block's end) and its model's (up to its tuning block's end)."""
    return {
        **fold_record(windows, fold),
        "spec": spec.to_dict(),
        "data_version": fold_version(windows, fold, spec.to_dict()),
        "training_version": training_version(windows, fold),
    }


def check_as_recorded(store: DataStore, universe, fold: str, what: str) -> None:
    """A fold stored closed whose rows were restated since is kept as recorded: ``what`` (a fold asset) refuses
    to rewrite it, before writing, naming the deliberate command."""
    record = store.read_fold_record(fold, missing_ok=True)
    if record is not None and restated_since(universe.fold_windows(FoldBoundaries.from_dict(record)), record):
        raise Failure(
            f"{what}[{fold}]: the fold is closed and its rows were restated since it was scored: it is kept as "
            f"recorded (what was known then); to rebuild it deliberately: {rebuild_command(fold)}",
            allow_retries=False,
        )


@asset(
    partitions_def=fold_partitions,
    group_name=WALK_FORWARD_GROUP,
    deps=[walk_forward_folds],  # the rows it reads are in the fold's data version
    kinds={"json"},
    code_version=FOLD_CODE_VERSION,
)
def normalization_stats(context: AssetExecutionContext, store: DataStore) -> MaterializeResult:
    """Per-feature centre and scale of the fold, fitted on its training and tuning rows only (all tickers)."""
    fold = store.read_fold(context.partition_key)
    universe = load_universe(store, "normalization_stats")
    check_as_recorded(store, universe, fold.fold, "normalization_stats")
    version = store.read_fold_record(fold.fold)["training_version"]
    stats = fit_fold_normalization(universe.fold_windows(fold), fold)
    store.write_normalization(fold.fold, stats)
    table = pd.DataFrame({"feature": universe.windows.feature_columns, "mean": stats.mean, "std": stats.std})
    return MaterializeResult(
        metadata={
            "rows": stats.rows,
            "target_scale": stats.target_scale,
            "features": MetadataValue.md(markdown_table(table)),
            "training_version": version,
        },
        # The training rows' version: the open fold's new test days leave it, and so the model, unchanged.
        data_version=DataVersion(version),
    )
