"""Per fold: a freshly trained checkpoint, and its test block scored against honest baselines."""

import contextlib
from dataclasses import asdict

from dagster import (
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    asset,
)

from fin_pipeline.core.formatting import markdown_table
from fin_pipeline.core.settings import load_settings
from fin_pipeline.defs.assets.folds import (
    FOLD_CODE_VERSION,
    WALK_FORWARD_GROUP,
    check_as_recorded,
    normalization_stats,
    walk_forward_folds,
)
from fin_pipeline.defs.assets.universe import load_universe
from fin_pipeline.defs.config import TRAINING_RENAME, config_from_spec, spec_values, training_configuration
from fin_pipeline.defs.costs import CostsConfig
from fin_pipeline.defs.executors import TRAINING_OP_TAGS
from fin_pipeline.defs.integrity import refuse_corrupt
from fin_pipeline.defs.partitions import fold_partitions
from fin_pipeline.defs.resources import DataStore
from fin_pipeline.evaluation.scoring import flat_metrics, score_fold
from fin_pipeline.report.tables import shown_tables
from fin_pipeline.runtime.progress import epoch_callback
from fin_pipeline.runtime.tracking import build_id, start_training
from fin_pipeline.runtime.workers import worker_metadata
from fin_pipeline.sources.execution import describe
from fin_pipeline.store import layout
from fin_pipeline.store.location import LeaseError
from fin_pipeline.training.checkpoint import TrainingError, TrainingInterrupted, read_checkpoint
from fin_pipeline.training.configuration import configuration_hash
from fin_pipeline.training.data import resolve_device
from fin_pipeline.training.fold_boundaries import FoldBoundaries
from fin_pipeline.training.runs import remove_orphans, resume_from_dead_run
from fin_pipeline.training.versions import model_version
from fin_pipeline.training.walkforward import (
    TrainSpec,
    code_version,
    publish_checkpoints,
    train_fold,
)


class TrainingConfig(
    config_from_spec(
        "TrainingConfigFields", TrainSpec, "What to train and how.", rename=TRAINING_RENAME, from_file=True
    )
):
    def configuration(self, store: DataStore, what: str) -> tuple[dict, TrainSpec]:
        """The training configuration (the data directory's file, which these fields may only restate) and its
        training spec, validated."""
        values = {k: v for k, v in spec_values(self, TRAINING_RENAME).items() if k in TrainSpec.__dataclass_fields__}
        return training_configuration(store, {"training": values}, what)


@asset(
    partitions_def=fold_partitions,
    group_name=WALK_FORWARD_GROUP,
    deps=[normalization_stats],  # its version is the training rows': a model never depends on its test period
    kinds={"pytorch"},
    code_version=FOLD_CODE_VERSION,
    pool="training",  # folds queue for the one GPU instead of oversubscribing it (limit in dagster.yaml)
    retry_policy=RetryPolicy(max_retries=2, delay=1),  # a corrupt input is not retried: refuse_corrupt
    op_tags=TRAINING_OP_TAGS,  # Celery: the gpu queue; Kubernetes: a pod with one GPU
)
def trained_model(context: AssetExecutionContext, config: TrainingConfig, store: DataStore) -> MaterializeResult:
    """A fresh model trained on the fold's training windows; best checkpoint by the tuning-block loss."""
    with refuse_corrupt(f"trained_model[{context.partition_key}]"):
        return _trained_model(context, config, store)


def _trained_model(context: AssetExecutionContext, config: TrainingConfig, store: DataStore) -> MaterializeResult:
    configuration, spec = config.configuration(store, f"trained_model[{context.partition_key}]")
    fold = store.read_fold(context.partition_key)
    stats = store.read_normalization(fold.fold)
    universe = load_universe(store, "trained_model")
    check_as_recorded(store, universe, fold.fold, "trained_model")
    # Each run trains in its own folder; a retry of the same run resumes from its last epoch there, and so does
    # a step that Celery re-delivers after its worker died (its retry number is still 0).
    model_dir = store.model_dir(fold.fold)
    workdir = store.path(layout.run_dir(layout.model_dir(fold.fold), context.run.run_id))
    objects = store.objects()
    try:
        # S3: one writer per fold at a time (a lease object, see fin_pipeline/store/location.py); the run folders,
        # this run's own from a worker that died included, come from the store.
        # the lease's TTL is the setting FIN_PIPELINE_LEASE_TTL (a bad value is refused when settings load)
        with objects.lease(model_dir, owner=context.run.run_id, ttl=load_settings().lease_ttl) as lease:
            store.pull_tree(workdir.parent)
            return _train(context, (configuration, spec), fold, stats, universe, store, workdir, lease)
    except LeaseError as exc:
        raise Failure(f"{fold.fold}: {exc}", allow_retries=False) from exc


def _train(context, configured, fold, stats, universe, store: DataStore, workdir, lease) -> MaterializeResult:
    (configuration, spec), model_dir, objects = configured, workdir.parent.parent, store.objects()

    def upload(_trainer, _record) -> None:  # S3: the run folder's checkpoints, so that another worker can resume
        for name in layout.CHECKPOINTS:
            if (workdir / name).is_file():
                objects.push(workdir / name)
        if lease is not None:
            lease.renew()

    resume = (workdir / layout.LAST).is_file()
    resumed_from = context.run.run_id if resume else ""
    if resume:
        context.log.info(f"{fold.fold}: attempt {context.retry_number}, resuming from {workdir / layout.LAST}")
    extra = model_identity(store.read_fold_record(fold.fold)["training_version"], spec, configuration)
    is_active = _run_is_active(context)
    if not resume:  # a new run: resume from a dead run's last epoch of this fold if inputs and config match
        expected = {"fold": fold.to_dict(), "normalization": stats.to_dict(), "train_spec": asdict(spec), **extra}
        resumed_from = resume_from_dead_run(model_dir, workdir, expected, is_active, context.log.info) or ""
        resume = bool(resumed_from)
    resumed_epoch = read_checkpoint(workdir / layout.LAST)["epoch"] if resume else 0
    callbacks, tracked = observe_training(context, f"fold {fold.fold}", spec, fold, extra)
    with finish_tracking(tracked) as done:
        try:
            outcome = train_fold(
                universe.fold_windows(fold),  # the fold's universe, as of its test start
                fold,
                stats,
                spec,
                workdir,
                resume=resume,
                extra=extra,
                callbacks=[*callbacks, upload] if objects.remote else callbacks,
            )
        except TrainingError as exc:  # a NaN/inf loss or weights: deterministic, so a retry would only repeat it
            raise Failure(f"{fold.fold}: {exc}", allow_retries=False) from exc
        done(outcome.history, workdir / layout.BEST)
    if lease is not None:
        lease.renew()  # still ours (If-Match): nobody took the fold over while this run trained
    best = publish_checkpoints(workdir, model_dir)
    for name in layout.CHECKPOINTS:  # S3: each in one PUT, then the run folder goes
        objects.push(model_dir / name)
    objects.delete_tree(workdir)
    for folder in remove_orphans(model_dir, is_active):  # dead runs' folders: the fold is published now
        objects.delete_tree(folder)
        context.log.info(f"removed the orphaned run folder {store.describe(folder)}")
    with contextlib.suppress(OSError):
        workdir.parent.rmdir()
    last = outcome.history[-1]
    return MaterializeResult(
        metadata={
            "epochs": len(outcome.history),
            "best_epoch": outcome.best_epoch,
            "best_tune_loss": outcome.best_score,
            "resumed_from_run": resumed_from,  # "" for a fresh start; this run's id for a retried step
            "resumed_from_epoch": resumed_epoch,  # the last complete epoch it went on from (0: fresh)
            "last_train_loss": last["train_loss"],
            "seconds": sum(h["seconds"] for h in outcome.history),
            "device": str(resolve_device(spec.device)),
            "model": spec.model,
            "data_version": extra["data_version"],
            "code_version": extra["code_version"],
            "model_version": extra["model_version"],
            "configuration_hash": extra["configuration_hash"],
            "path": MetadataValue.path(store.describe(best)),
            **worker_metadata(),  # host, pid and torch threads of the process that trained
        }
    )


def model_identity(rows_version: str, spec: TrainSpec, configuration: dict) -> dict:
    """What a fold's checkpoint records as its identity (its ``extra``): from what determines the model (its
    training rows' version, configuration and seed, code), never from its training."""
    code = code_version()
    return {
        "data_version": rows_version,
        "code_version": code,
        "model_version": model_version(rows_version, asdict(spec), code),
        "configuration": configuration,  # the record's: a request that differs is refused by name
        "configuration_hash": configuration_hash(configuration),
    }


def scored_document(fold_record: dict, model_extra: dict) -> dict:
    """``scored.json`` beside a fold's metrics, read by the nightly plan: the fold version these metrics saw, the
    training rows of the model they scored, and what it was trained with (None: a model from before records)."""
    return {
        "data_version": fold_record["data_version"],
        "training_version": model_extra.get("data_version"),
        "configuration": model_extra.get("configuration"),
    }


def observe_training(context: AssetExecutionContext, label: str, spec: TrainSpec, fold: FoldBoundaries, extra: dict):
    """What watches a training: a structured log line per epoch (and the CLI's progress display), and the MLflow
    run when tracking is on. Returns the trainer callbacks and the tracked run (see :func:`finish_tracking`)."""
    settings = load_settings()
    bounds = fold.to_dict()
    rules = {k: bounds[k] for k in ("horizon", "execution", "purge_days", "embargo_days", "min_tickers")}
    build = {
        "train_spec": asdict(spec),
        "fold_rules": {**rules, "period": settings.fold_period, "first_test_date": str(settings.first_test_date)},
        "code_version": extra["code_version"],
    }
    tracked = start_training(
        settings.tracking_uri,
        experiment=settings.tracking_experiment or f"fin_pipeline {spec.model} {build_id(build)}",
        name=label,
        params={**build, "fold": bounds, "data_version": extra["data_version"]},
        tags={"fin_pipeline.training": label, "dagster.run_id": context.run.run_id},
        warn=context.log.warning,
    )
    return [epoch_callback(label, spec.epochs, context.log.info), tracked.callback()], tracked


@contextlib.contextmanager
def finish_tracking(tracked):
    """Ends the tracked run: ``FINISHED`` with the history and best checkpoint passed to the yielded function,
    ``KILLED`` when the training was stopped by a signal, ``FAILED`` on any other error (which propagates)."""
    finished = []

    def done(history, best_path) -> None:
        tracked.finish("FINISHED", history, best_path)
        finished.append(True)

    try:
        yield done
    except BaseException as exc:
        if not finished:
            stopped = isinstance(exc, TrainingInterrupted) or isinstance(exc.__cause__, TrainingInterrupted)
            tracked.finish("KILLED" if stopped else "FAILED")
        raise


def _run_is_active(context: AssetExecutionContext):
    """Whether a run id names a run of the instance that has not finished (dead runs are marked failed on start)."""

    def is_active(run_id: str) -> bool:
        run = context.instance.get_run_by_id(run_id)
        return run is not None and not run.is_finished

    return is_active


@asset(
    partitions_def=fold_partitions,
    group_name=WALK_FORWARD_GROUP,
    deps=[trained_model, walk_forward_folds],  # the test rows are in the fold's data version
    kinds={"parquet"},
    code_version=FOLD_CODE_VERSION,
)
def fold_metrics(context: AssetExecutionContext, config: CostsConfig, store: DataStore) -> MaterializeResult:
    """The fold's test block, read once: predictions of the model and baselines, metrics, statistics, backtests."""
    with refuse_corrupt(f"fold_metrics[{context.partition_key}]"):
        return _fold_metrics(context, config, store)


def _fold_metrics(context: AssetExecutionContext, config: CostsConfig, store: DataStore) -> MaterializeResult:
    costs = config.costs("fold_metrics")
    fold = store.read_fold(context.partition_key)
    checkpoint = store.fold_checkpoint(fold.fold)
    universe = load_universe(store, "fold_metrics")
    check_as_recorded(store, universe, fold.fold, "fold_metrics")
    stats = store.read_normalization(fold.fold)
    scores, predictions, chosen = score_fold(
        universe.fold_windows(fold), fold, stats, checkpoint, store.stored_metrics_dir(fold.fold), costs=costs
    )
    model_extra = read_checkpoint(checkpoint)["extra"]
    store.publish_metrics(fold.fold, scored_document(store.read_fold_record(fold.fold), model_extra))
    shown_forecasts, shown_backtest = shown_tables(scores.forecasts, scores.backtest, fold.horizon)
    return MaterializeResult(
        metadata={
            **flat_metrics(scores),
            "configuration_hash": model_extra.get("configuration_hash", "not recorded"),
            "test_windows": len(predictions),
            "test_tickers": int(predictions["ticker"].nunique()),
            "test_days": int(predictions["date"].nunique()),  # a new fold's first days: statistics "n/a (n days)"
            "test_start": str(fold.test_start),
            "test_end": str(fold.test_end),
            "ridge_alpha": chosen["ridge_alpha"],
            "execution": describe(fold.execution),
            "untradable_days": universe.untradable_days,  # ticker-days without an execution price: not traded
            "costs": costs.describe(),
            "ridge_edge_hits": chosen["ridge_edge_hits"],  # its choice sat on the grid's edge: grid extended
            "ridge_at_limit": chosen["ridge_at_limit"],
            # tickers with a vendor hole in the test block: dropped from this fold's scoring, not failing it
            "dropped_tickers": ", ".join(
                f"{t} (missing {len(days)} test day(s): {', '.join(days[:3])}{' …' if len(days) > 3 else ''})"
                for t, days in chosen["dropped_tickers"].items()
            )
            or "none",
            "verdict": MetadataValue.md("\n\n".join(scores.verdict)),
            # No DSR per fold: it belongs to the stitched record, deflated by the store's trials (the report).
            "metrics": MetadataValue.md(markdown_table(shown_forecasts)),
            "backtest": MetadataValue.md(markdown_table(shown_backtest)),
        }
    )
