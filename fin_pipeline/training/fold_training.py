"""Train a fold's fresh model on its training windows, early-stopped on its tuning block; predict its test block.

:class:`TrainSpec` is the one place the training settings and their defaults live (the Dagster ``TrainingConfig``
is derived from it). The test block is not an argument of :func:`train_fold`: the loaders it builds serve the
training and tuning windows only. :func:`predict_fold` reads the test block once, after training.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from fin_pipeline.features.windows import WindowSet
from fin_pipeline.models import create_model
from fin_pipeline.store.layout import BEST, CHECKPOINTS
from fin_pipeline.store.parquet import atomic_path
from fin_pipeline.training.checkpoint import load_checkpoint
from fin_pipeline.training.data import TensorBatchLoader
from fin_pipeline.training.fold_boundaries import FoldBoundaries
from fin_pipeline.training.folds import fold_positions
from fin_pipeline.training.losses import QuantileLoss, create_loss_function
from fin_pipeline.training.normalization import FoldStats
from fin_pipeline.training.optim import create_optimizer, create_scheduler
from fin_pipeline.training.random_state import seed_everything
from fin_pipeline.training.spec import TrainSpec
from fin_pipeline.training.targets import fitting_targets
from fin_pipeline.training.trainer import Trainer
from fin_pipeline.training.versions import TRAINING_FIELDS

EVAL_BATCH = 2048  # windows per inference batch: larger is faster and changes no result


def point_column(train_spec: dict[str, Any]) -> int:
    """Which output column is the point forecast: the median of a quantile loss (the 0.5 quantile, or the one
    nearest it), else column 0 (a one-output model)."""
    loss = create_loss_function(train_spec["loss"])
    quantile = next((m for m in loss.modules() if isinstance(m, QuantileLoss)), None)
    if quantile is None:
        return 0
    return int(np.argmin(np.abs(np.asarray(quantile.quantiles) - 0.5)))


@dataclasses.dataclass(frozen=True)
class TrainOutcome:
    best_path: Path
    last_path: Path
    history: list[dict[str, Any]]
    best_epoch: int | None
    best_score: float | None


def scaled_targets(ws: WindowSet, stats: FoldStats) -> np.ndarray:
    """Scaled target of every window position (window k's target is row k + W - 1's); (T - W + 1,) float32."""
    return (ws.targets[ws.window - 1 :] / np.float32(stats.target_scale)).astype(np.float32)


def train_fold(
    ws: WindowSet,
    fold: FoldBoundaries,
    stats: FoldStats,
    spec: TrainSpec,
    workdir: Path,
    *,
    resume: bool = False,
    extra: dict[str, Any] | None = None,
    callbacks: Sequence[Callable[[Trainer, dict[str, Any]], None]] = (),
) -> TrainOutcome:
    """Train a fresh, seeded model on the fold's training windows; keep ``best.pt`` and ``last.pt`` in ``workdir``.

    Early stopping, the best checkpoint and a plateau schedule watch the loss on the fold's **tuning** block;
    the test block is never loaded here. ``resume=True`` continues from ``workdir/last.pt`` (a retried run),
    bit-identical on CPU to an uninterrupted run. ``callbacks`` are called as ``cb(trainer, record)`` after each
    epoch's checkpoints are written (the caller's progress display, experiment tracking, and upload of the
    checkpoints to an object store); they must not touch torch's random state.
    """
    spec.validate()
    pos = fold_positions(ws, fold)
    seed_everything(spec.seed)  # the fresh model's initial weights depend on the seed only, not on the fold order
    model = create_model(spec.model, **spec.model_config)
    y = fitting_targets(ws, stats, spec.target)  # what the loss compares with: raw or within the day's cross-section
    common = dict(mean=stats.mean, std=stats.std, device=spec.device)
    train = TensorBatchLoader(ws.windows, y, spec.batch_size, indices=pos.train, shuffle=True, seed=spec.seed, **common)
    tune = TensorBatchLoader(ws.windows, y, EVAL_BATCH, indices=pos.tune, **common)
    optimizer = create_optimizer(model, spec.optimizer, spec.learning_rate, weight_decay=spec.weight_decay)
    scheduler = None
    if spec.scheduler == "cosine":
        scheduler = create_scheduler(optimizer, "cosine", T_max=spec.epochs)
    elif spec.scheduler != "none":
        scheduler = create_scheduler(optimizer, spec.scheduler)
    trainer = Trainer(
        model,
        train,
        tune,  # the trainer's "validation" loader is the tuning block
        create_loss_function(spec.loss),
        optimizer,
        device=spec.device,
        scheduler=scheduler,
        max_grad_norm=spec.max_grad_norm,
        seed=spec.seed,
        extra={
            "fold": fold.to_dict(),
            "normalization": stats.to_dict(),
            "train_spec": dataclasses.asdict(spec),
            **(extra or {}),
        },
    )
    trainer.set_early_stopping(spec.patience, spec.min_delta)
    checkpoint = trainer.set_checkpoint(workdir, filename=BEST)
    history = trainer.fit(spec.epochs, log_interval=0, resume=resume, callbacks=callbacks)
    return TrainOutcome(checkpoint.path, checkpoint.last_path, history, checkpoint.best_epoch, checkpoint.best_score)


def publish_checkpoints(workdir: Path, model_dir: Path) -> Path:
    """Copy a finished run's ``best.pt`` and ``last.pt`` over the fold's, each atomically, and remove the run's
    folder: only a finished run replaces a fold's checkpoints. Returns the published ``best.pt``."""
    workdir, model_dir = Path(workdir), Path(model_dir)
    for name in CHECKPOINTS:
        with atomic_path(model_dir / name) as tmp:
            shutil.copyfile(workdir / name, tmp)
    shutil.rmtree(workdir)
    with contextlib.suppress(OSError):  # other runs of this fold may still be working beside it
        workdir.parent.rmdir()
    return model_dir / BEST


def window_rows(ws: WindowSet, positions: np.ndarray) -> pd.DataFrame:
    """ticker, date, window, target and next_return of the windows at ``positions`` (in that order).

    ``next_return`` is the one-day executable log return of the window's last row under ``ws.execution`` (for
    ``next_open``: open t+1 to open t+2): what a book decided on that row earns on its first day held. With h = 1
    it equals ``target``. Then the cost inputs of the window's last row (the decision day;
    :data:`~fin_pipeline.backtest.costs.COST_INPUTS`), which the books charge trades with.
    """
    positions = np.asarray(positions)
    idx = ws.index.set_index("window").loc[positions]
    return pd.DataFrame(
        {
            "ticker": idx["ticker"].astype(str).to_numpy(),
            "date": idx["date"].to_numpy(),
            "window": positions,
            "target": idx["target"].to_numpy(np.float64),
            "next_return": ws.next_return(positions),
            **ws.cost_rows(positions + ws.window - 1),
        }
    )


@torch.no_grad()
def predict_fold(
    ws: WindowSet, checkpoint_path: Path, device: str = "cpu", fold: FoldBoundaries | None = None
) -> pd.DataFrame:
    """The model's predictions (in return units) on the **test** windows of the fold the checkpoint was for, or of
    ``fold`` when given: the same fold with a test block grown since training (the open fold re-scored with new
    days); its training and tuning boundaries must be the checkpoint's (ValueError naming them otherwise).

    Columns: ``ticker``, ``date``, ``window``, ``target``, ``next_return``, ``model``; one row per test window.
    """
    model, ckpt = load_checkpoint(checkpoint_path, map_location="cpu")
    trained = FoldBoundaries.from_dict(ckpt["extra"]["fold"])
    if fold is None:
        fold = trained
    else:
        changed = {
            k: (getattr(trained, k), getattr(fold, k))
            for k in TRAINING_FIELDS
            if getattr(trained, k) != getattr(fold, k)
        }
        if fold.fold != trained.fold or changed:
            raise ValueError(
                f"{fold.fold}: the checkpoint {checkpoint_path} was trained for {trained.fold} with other training "
                f"boundaries {changed}; retrain the fold before scoring it"
            )
    stats = FoldStats.from_dict(ckpt["extra"]["normalization"])
    spec = ckpt["extra"]["train_spec"]
    positions = fold_positions(ws, fold)
    outputs = network_outputs(model, ws, stats, positions.test, point_column(spec), device)
    intercept, slope = return_units(model, ws, stats, positions.tune, spec, device)
    return window_rows(ws, positions.test).assign(model=intercept + slope * outputs)


#: Losses whose minimum does not pin the output's scale or level: a correlation (``ic``) is blind to both, and the
#: Sharpe-like losses see ``tanh(p)``, a position, not a return.
SCALE_FREE_LOSSES = frozenset({"ic", "sharpe", "return_volatility"})


def calibrated(train_spec: dict[str, Any]) -> bool:
    """Whether a network's output must be mapped to return units on the tuning block (see :func:`return_units`):
    a cross-sectional target (``zscore``, ``rank``) or a scale-free loss (:data:`SCALE_FREE_LOSSES`)."""
    return train_spec.get("target", "raw") != "raw" or train_spec.get("loss") in SCALE_FREE_LOSSES


@torch.no_grad()
def network_outputs(
    model: torch.nn.Module, ws: WindowSet, stats: FoldStats, positions: np.ndarray, column: int, device: str = "cpu"
) -> np.ndarray:
    """The network's point output (column ``column``) for the windows at ``positions``, normalized as trained."""
    loader = TensorBatchLoader(
        ws.windows,
        scaled_targets(ws, stats),
        EVAL_BATCH,
        indices=positions,
        mean=stats.mean,
        std=stats.std,
        device=device,
    )
    model.to(loader.device).eval()
    return torch.cat([model(xb)[:, column].float().cpu() for xb, _ in loader]).numpy().astype(np.float64)


def return_units(
    model: torch.nn.Module, ws: WindowSet, stats: FoldStats, tune: np.ndarray, train_spec: dict[str, Any], device="cpu"
) -> tuple[float, float]:
    """``(a, b)`` that turn a network output ``o`` into a forecast of the h-day log return, ``p = a + b o``.

    * Fitted to the raw return with a loss that pins its scale (MSE, MAE, Huber, quantiles...): the output is the
      target divided by the fold's target scale ``s``, so ``a = 0, b = s`` (as always).
    * Otherwise (:func:`calibrated`: a cross-sectional target, or a scale-free loss) the output is a score, and the
      forecast is the least-squares line of the realized returns ``y`` of the fold's **tuning** windows on their
      outputs: ``b = cov(o, y) / var(o)``, ``a = mean(y) − b mean(o)``. The tuning block is already the one that
      picked the epoch; the test block is never read. A constant output (no variance) gives ``b = 0``,
      ``a = mean(y)``.

    A monotone map with ``b ≥ 0`` leaves every rank, IC and sign book unchanged when ``b > 0``; it puts the
    forecast's errors (MSE, Diebold–Mariano) and the forecast's predicted returns in return units.
    """
    if not calibrated(train_spec):
        return 0.0, float(stats.target_scale)
    o = network_outputs(model, ws, stats, tune, point_column(train_spec), device)
    y = ws.y(tune).astype(np.float64)
    keep = np.isfinite(o) & np.isfinite(y)
    o, y = o[keep], y[keep]
    spread = float(np.var(o)) if len(o) else 0.0
    slope = float(np.mean((o - o.mean()) * (y - y.mean())) / spread) if spread > 0 else 0.0
    return float(y.mean() - slope * o.mean()) if len(y) else 0.0, slope
