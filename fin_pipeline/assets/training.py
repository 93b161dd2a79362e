"""Per fold: a freshly trained checkpoint, and its out-of-sample metrics against honest baselines."""

import contextlib
import shutil

from dagster import (
    AssetExecutionContext,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    asset,
)
from pydantic import Field

from fin_pipeline.assets.folds import ALL_TICKERS, WALK_FORWARD_GROUP, normalization_stats, read_fold
from fin_pipeline.assets.universe import load_universe
from fin_pipeline.backtest import backtest_all, summary_table
from fin_pipeline.backtest.plots import metrics_table_md
from fin_pipeline.backtest.report import BACKTEST_COLUMNS
from fin_pipeline.executors import TRAINING_OP_TAGS
from fin_pipeline.partitions import fold_partitions
from fin_pipeline.resources import DataStore
from fin_pipeline.storage import atomic_path, read_json, write_parquet
from fin_pipeline.training.data import resolve_device
from fin_pipeline.training.evaluation import markdown_table
from fin_pipeline.training.walkforward import (
    FoldStats,
    TrainSpec,
    add_baselines,
    code_version,
    data_version,
    evaluate_fold,
    predict_fold,
    train_fold,
)
from fin_pipeline.workers import worker_metadata


class TrainingConfig(Config):
    model: str = Field(default="lstm", description="Model: lstm, cnn, attention or ensemble.")
    loss: str = Field(default="mse", description="Loss name (mse, mae, huber, sharpe, ...) or preset (robust, ...).")
    optimizer: str = Field(default="adam", description="Optimizer: adam, adamw, sgd or rmsprop.")
    scheduler: str = Field(default="plateau", description="Learning-rate schedule: step, cosine, plateau or none.")
    epochs: int = Field(default=100, description="Most epochs to train (early stopping may stop sooner).")
    patience: int = Field(default=15, description="Epochs without validation improvement before stopping.")
    batch_size: int = Field(default=32, description="Training windows per batch.")
    learning_rate: float = Field(default=1e-3, description="Initial learning rate.")
    weight_decay: float = Field(default=0.0, description="Optimizer weight decay (L2).")
    max_grad_norm: float = Field(default=1.0, description="Clip the global gradient norm to this.")
    seed: int = Field(default=0, description="Seed of the model's initial weights and of the batch order.")
    device: str = Field(default="auto", description="auto (CUDA when present), cpu or cuda[:N].")

    def spec(self) -> TrainSpec:
        try:
            return TrainSpec(**self.model_dump()).validate()
        except (TypeError, ValueError) as exc:
            raise Failure(f"trained_model config rejected before training: {exc}", allow_retries=False) from exc


@asset(
    partitions_def=fold_partitions,
    group_name=WALK_FORWARD_GROUP,
    deps=[normalization_stats, ALL_TICKERS],
    kinds={"pytorch"},
    pool="training",  # folds queue for the one GPU instead of oversubscribing it (limit in dagster.yaml)
    retry_policy=RetryPolicy(max_retries=2, delay=1),
    op_tags=TRAINING_OP_TAGS,  # Celery: the gpu queue; Kubernetes: a pod with one GPU
)
def trained_model(context: AssetExecutionContext, config: TrainingConfig, store: DataStore) -> MaterializeResult:
    """A fresh model trained on the fold's training windows; best checkpoint by validation loss."""
    spec = config.spec()
    fold = read_fold(store, context.partition_key)
    stats = FoldStats.from_dict(read_json(store.normalization_path(fold.fold)))
    universe = load_universe(store, "trained_model")
    # Each run trains in its own folder; a retry of the same run resumes from its last epoch there, and so does
    # a step that Celery re-delivers after its worker died (its retry number is still 0).
    model_dir = store.model_dir(fold.fold)
    workdir = model_dir / "runs" / context.run.run_id
    resume = (workdir / "last.pt").is_file()
    if resume:
        context.log.info(f"{fold.fold}: attempt {context.retry_number}, resuming from {workdir / 'last.pt'}")
    extra = {"data_version": data_version(universe.paths), "code_version": code_version()}
    outcome = train_fold(universe.windows, fold, stats, spec, workdir, resume=resume, extra=extra)
    for name in ("best.pt", "last.pt"):  # publish: only a finished run replaces the fold's checkpoints
        with atomic_path(model_dir / name) as tmp:
            shutil.copyfile(workdir / name, tmp)
    shutil.rmtree(workdir)
    with contextlib.suppress(OSError):  # other runs of this fold may still be working there
        workdir.parent.rmdir()
    last = outcome.history[-1]
    return MaterializeResult(
        metadata={
            "epochs": len(outcome.history),
            "best_epoch": outcome.best_epoch,
            "best_val_loss": outcome.best_score,
            "last_train_loss": last["train_loss"],
            "seconds": sum(h["seconds"] for h in outcome.history),
            "device": str(resolve_device(spec.device)),
            "model": spec.model,
            "data_version": extra["data_version"],
            "code_version": extra["code_version"],
            "path": MetadataValue.path(str(model_dir / "best.pt")),
            **worker_metadata(),  # host, pid and torch threads of the process that trained
        }
    )


@asset(
    partitions_def=fold_partitions, group_name=WALK_FORWARD_GROUP, deps=[trained_model, ALL_TICKERS], kinds={"parquet"}
)
def fold_metrics(context: AssetExecutionContext, store: DataStore) -> MaterializeResult:
    """Validation predictions of the fold's model and baselines, with MSE, MAE, IC, rank IC and hit rate."""
    fold = read_fold(store, context.partition_key)
    checkpoint = store.model_dir(fold.fold) / "best.pt"
    if not checkpoint.is_file():
        raise Failure(f"{fold.fold}: no checkpoint at {checkpoint}; materialize trained_model[{fold.fold}] first")
    universe = load_universe(store, "fold_metrics")
    stats = FoldStats.from_dict(read_json(store.normalization_path(fold.fold)))
    predictions = add_baselines(universe.windows, fold, stats, predict_fold(universe.windows, checkpoint))
    metrics = evaluate_fold(predictions)
    backtests = summary_table(backtest_all(predictions, fold=fold.fold))  # model, baselines, buy and hold
    out = store.metrics_dir(fold.fold)
    write_parquet(predictions, out / "predictions.parquet", meta={"fold": fold.to_dict()})
    write_parquet(metrics.reset_index(), out / "metrics.parquet", meta={"fold": fold.to_dict()})
    write_parquet(backtests.reset_index(), out / "backtest.parquet", meta={"fold": fold.to_dict()})
    # Flat numbers, so the UI plots each across the fold partitions; an undefined metric is left out.
    flat = {
        f"{who}_{name}": float(value)
        for who, row in metrics.iterrows()
        for name, value in row.items()
        if name != "n" and value == value
    }
    flat |= {
        f"{who}_{name}": float(backtests.loc[who, name])
        for who in backtests.index
        for name in ("sharpe", "total_return", "max_drawdown")
        if backtests.loc[who, name] == backtests.loc[who, name]
    }
    return MaterializeResult(
        metadata={
            **flat,
            "validation_windows": len(predictions),
            "val_start": str(fold.val_start),
            "val_end": str(fold.val_end),
            "metrics": MetadataValue.md(markdown_table(metrics.reset_index())),
            "backtest": MetadataValue.md(metrics_table_md(backtests[BACKTEST_COLUMNS].reset_index())),
        }
    )
