"""The model board: every known model × every fold trained fresh on the same blocks, and the leaderboard.

``board_predictions[fold|model]`` (a multi-partition: model × fold) trains one model on one fold and stores its
test-block predictions (:mod:`fin_pipeline.evaluation.board`); it reads the fold's boundaries and normalization
as ``trained_model`` does and writes only its own file (``board/<model>/<fold>.parquet``): a network trains in
``board/<model>/runs/<fold>/<run id>/``, never beside ``trained_model``'s checkpoints. ``leaderboard`` scores the
stored predictions of the models enabled by FIN_PIPELINE_MODELS (:mod:`fin_pipeline.evaluation.leaderboard`).
"""

import base64
import contextlib
import dataclasses
from pathlib import Path

from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    MultiPartitionsDefinition,
    RetryPolicy,
    StaticPartitionsDefinition,
    asset,
)

from fin_pipeline.backtest.trials import TrialRegistry
from fin_pipeline.core.choices import BOARD_MODELS
from fin_pipeline.core.settings import load_settings
from fin_pipeline.defs.assets.folds import FOLD_CODE_VERSION, check_as_recorded, normalization_stats
from fin_pipeline.defs.assets.training import TrainingConfig, model_identity
from fin_pipeline.defs.assets.universe import data_fold_keys, load_universe
from fin_pipeline.defs.costs import CostsConfig
from fin_pipeline.defs.executors import TRAINING_OP_TAGS
from fin_pipeline.defs.integrity import refuse_corrupt
from fin_pipeline.defs.partitions import fold_partitions
from fin_pipeline.defs.resources import DataStore
from fin_pipeline.evaluation import outputs
from fin_pipeline.evaluation.board import enabled_models, predict_model
from fin_pipeline.evaluation.leaderboard import BoardRecord, best, stitch, summary
from fin_pipeline.evaluation.leaderboard import leaderboard as score_board
from fin_pipeline.report.leaderboard import leaderboard_markdown, leaderboard_png
from fin_pipeline.store import layout
from fin_pipeline.store.parquet import write_parquet
from fin_pipeline.training.configuration import read_configuration, resolve

BOARD_GROUP = "board"
board_partitions = MultiPartitionsDefinition(
    {"model": StaticPartitionsDefinition(list(BOARD_MODELS)), "fold": fold_partitions}
)


def board_models(store: DataStore) -> tuple[str, ...]:
    """The models on the board: FIN_PIPELINE_MODELS, or the configured network (the data directory's training
    configuration, read and never written here; the defaults before the first build) and the baselines."""
    configured = resolve(read_configuration(store.pull(store.configuration_path())))["training"]["model"]
    return enabled_models(load_settings().models, configured)


@asset(
    partitions_def=board_partitions,
    group_name=BOARD_GROUP,
    # the fold's boundaries and normalization, as trained_model reads them: Dagster maps each model × fold to the
    # fold dimension's partition (the one dimension the two partitionings share)
    deps=[normalization_stats],
    kinds={"parquet"},
    code_version=FOLD_CODE_VERSION,
    pool="training",  # a network trains here: it queues for the one GPU with trained_model
    retry_policy=RetryPolicy(max_retries=2, delay=1),  # a corrupt input is not retried: refuse_corrupt
    op_tags=TRAINING_OP_TAGS,
)
def board_predictions(context: AssetExecutionContext, config: TrainingConfig, store: DataStore) -> MaterializeResult:
    """One model trained fresh on one fold's training block (tuned on its tuning block), its test block predicted."""
    keys = context.partition_key.keys_by_dimension
    model, key = keys["model"], keys["fold"]
    what = f"board_predictions[{key}|{model}]"
    with refuse_corrupt(what):
        configuration, spec = config.configuration(store, what)
        fold = store.read_fold(key)
        stats = store.read_normalization(key)
        universe = load_universe(store, "board_predictions")
        check_as_recorded(store, universe, key, "board_predictions")
        workdir = store.path(layout.board_run_dir(model, key, context.run.run_id))
        try:
            published = published_model(store, key, model, spec, configuration)
            result = predict_model(model, universe.windows, fold, stats, spec, workdir, published)
        except RuntimeError as exc:  # lightgbm asked for but not installed: a retry cannot help
            raise Failure(f"{what}: {exc}", allow_retries=False) from exc
        for folder in (workdir.parent, workdir.parent.parent):  # runs/<fold>, runs: gone once empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        meta = {"model": model, "fold": fold.to_dict(), "training": result.training, "chosen": result.chosen}
        path = store.write_board(model, key, result.frame, meta)
    return MaterializeResult(
        metadata={
            "model": model,
            "fold": key,
            "test_windows": len(result.frame),
            "test_days": int(result.frame["date"].nunique()),
            "dropped_tickers": ", ".join(result.dropped_tickers) or "none",
            **{k: v for k, v in result.chosen.items() if isinstance(v, int | float | str)},
            "path": MetadataValue.path(store.describe(path)),
        }
    )


def published_model(store: DataStore, key: str, model: str, spec, configuration: dict) -> Path | None:
    """The fold's published checkpoint (``trained_model[key]``) when it is exactly board model ``model``: the same
    network, specification, training rows, configuration and code (its recorded ``model_version``), intact; else
    None and the board trains its own."""
    if model != spec.model:
        return None
    path = store.model_dir(key) / layout.BEST
    found = outputs.checkpoint(store, path)
    if not found.ok:
        return None
    wanted = model_identity(store.read_fold_record(key)["training_version"], spec, configuration)
    return store.pull(path) if found.value.get("model_version") == wanted["model_version"] else None


@asset(
    group_name=BOARD_GROUP,
    deps=[AssetDep(board_predictions, partition_mapping=AllPartitionMapping())],
    kinds={"parquet"},
)
def leaderboard(context: AssetExecutionContext, config: CostsConfig, store: DataStore) -> MaterializeResult:
    """The enabled models (FIN_PIPELINE_MODELS) side by side on every fold: IC, books, PSR, DSR, and the PBO."""
    costs = config.costs("leaderboard")
    models = board_models(store)
    universe = load_universe(store, "leaderboard")
    folds = data_fold_keys(universe)
    if not folds:
        raise Failure("leaderboard: no fold's test period has begun in the data yet", allow_retries=False)
    with refuse_corrupt("leaderboard"):
        stored = {(m, f): store.read_board(m, f) for m in models for f in folds}
    missing = [f"{f}|{m}" for (m, f), found in stored.items() if found is None]
    if missing:
        raise Failure(
            f"leaderboard: board_predictions is missing for {missing}; materialize those partitions first",
            allow_retries=False,
        )
    records = {
        m: BoardRecord(
            stitch([stored[m, f][0] for f in folds]),
            [stored[m, f][1]["training"] for f in folds],
            [stored[m, f][1]["fold"] for f in folds],
        )
        for m in models
    }
    trials = store.pull_tree(store.trials_dir())
    board = score_board(records, universe.horizon, costs, TrialRegistry(trials), universe.windows.execution)
    store.push_tree(trials)
    meta = {**summary(board), "folds": folds, "costs": dataclasses.asdict(costs), "horizon": universe.horizon}
    out = store.path(layout.leaderboard_file()).parent
    out.mkdir(parents=True, exist_ok=True)
    write_parquet(board.table, out / layout.LEADERBOARD_FILE, meta=meta)
    chart = leaderboard_png(board.table, board.neutral, out / layout.LEADERBOARD_CHART)
    store.push_tree(out)
    context.log.info(
        f"leaderboard of {len(models)} model(s) over {len(folds)} fold(s) written to {store.describe(out)}"
    )
    image = base64.b64encode(chart.read_bytes()).decode()
    return MaterializeResult(
        metadata={
            "models": ", ".join(models),
            "folds": len(folds),
            "best": best(board.table) or "undefined",
            "pbo": board.pbo if board.pbo == board.pbo else "not computed",
            "n_trials": board.n_trials,
            "costs": costs.describe(),
            "leaderboard": MetadataValue.md(leaderboard_markdown(board.table, meta)),
            "chart": MetadataValue.md(f"![leaderboard](data:image/png;base64,{image})"),
            "path": MetadataValue.path(store.describe(out)),
        }
    )
