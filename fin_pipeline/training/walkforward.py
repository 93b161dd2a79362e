"""Walk-forward over a universe's windows: fold boundaries, normalization, training and evaluation per fold.

The Dagster fold assets are thin wrappers around these functions, and ``benchmarks/pipeline.py`` calls them
directly. Every fold trains a fresh model, seeded, on windows whose last day lies in the fold's training
range; the normalization comes from the rows those windows cover, and nothing else.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import fin_pipeline
from fin_pipeline.features.windows import WindowSet
from fin_pipeline.models import create_model
from fin_pipeline.training.checkpoint import load_checkpoint, seed_everything
from fin_pipeline.training.data import STD_FLOOR, TensorBatchLoader
from fin_pipeline.training.evaluation import BASELINES, fit_ridge, metrics_table
from fin_pipeline.training.losses import create_loss_function
from fin_pipeline.training.splits import FoldBoundaries, date_walk_forward_splits
from fin_pipeline.training.trainer import OPTIMIZERS, SCHEDULERS, Trainer, create_optimizer, create_scheduler

EVAL_BATCH = 2048  # windows per inference batch: larger is faster and changes no result


@dataclasses.dataclass(frozen=True)
class FoldSpec:
    """How the calendar is cut into folds (see :func:`compute_folds`)."""

    num_folds: int = 12
    mode: str = "expanding"  # or 'rolling'
    purge_days: int = 1  # trading days between the last training target and the first validation day
    embargo_days: int = 0  # extra trading days dropped after the purge
    validation_days: int | None = None  # per validation block; None: the blocks cover the second half
    min_train_days: int = 252


def compute_folds(ws: WindowSet, spec: FoldSpec, horizon: int = 1) -> list[FoldBoundaries]:
    """Fold boundaries on the calendar of the universe's usable window end dates, the same cut for every ticker.

    The last training window ends on ``train_end`` and its target reaches ``train_end + h`` trading days;
    ``h + purge_days (+ embargo_days)`` calendar days are left out before ``val_start``, so the last
    training target plus the purge still ends before the first validation day.
    """
    if spec.purge_days < horizon:
        raise ValueError(f"purge_days={spec.purge_days} must be at least the target horizon h={horizon}")
    return date_walk_forward_splits(
        ws.index["date"].to_numpy(),
        spec.num_folds,
        validation_days=spec.validation_days,
        purge_days=horizon + spec.purge_days,
        embargo_days=spec.embargo_days,
        mode=spec.mode,
        min_train_days=spec.min_train_days,
        horizon=horizon,
    )


def fold_positions(ws: WindowSet, fold: FoldBoundaries) -> tuple[np.ndarray, np.ndarray]:
    """Positions into ``ws.windows`` of the fold's training and validation windows."""
    dates = ws.index["date"].to_numpy()
    return fold.train_indices(dates, ws.indices), fold.val_indices(dates, ws.indices)


@dataclasses.dataclass(frozen=True)
class FoldStats:
    """Per-feature centre and scale of the fold's training rows, and the scale of its training targets."""

    mean: np.ndarray  # (F,) float32
    std: np.ndarray  # (F,) float32, floored: a constant feature gets 1
    rows: int  # distinct feature rows the statistics come from
    target_scale: float  # std of the training targets: the model learns y / target_scale, losses are O(1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "rows": self.rows,
            "target_scale": self.target_scale,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FoldStats:
        return cls(
            np.asarray(d["mean"], np.float32),
            np.asarray(d["std"], np.float32),
            int(d["rows"]),
            float(d["target_scale"]),
        )


def covered_rows(ws: WindowSet, positions: np.ndarray) -> np.ndarray:
    """Boolean mask over ``ws.values``: the rows that at least one window at ``positions`` covers."""
    edges = np.zeros(len(ws.values) + 1, dtype=np.int64)
    np.add.at(edges, positions, 1)  # window k covers rows k .. k + W - 1
    np.add.at(edges, positions + ws.window, -1)
    return np.cumsum(edges[:-1]) > 0


def fit_normalization(ws: WindowSet, train_positions: np.ndarray) -> FoldStats:
    """Mean and population std per feature over the distinct rows the training windows cover, in float64."""
    if len(train_positions) == 0:
        raise ValueError("no training windows to fit the normalization on")
    rows = ws.values[covered_rows(ws, train_positions)].astype(np.float64)  # (R, F)
    std = rows.std(axis=0)
    std = np.where(std < STD_FLOOR, 1.0, std)
    target_scale = float(np.std(ws.y(train_positions).astype(np.float64)))
    return FoldStats(rows.mean(axis=0).astype(np.float32), std.astype(np.float32), len(rows), target_scale or 1.0)


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """What to train and how; :meth:`validate` rejects unknown names and out-of-range values up front."""

    model: str = "lstm"
    model_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    loss: str = "mse"
    optimizer: str = "adam"
    scheduler: str = "plateau"  # 'step', 'cosine', 'plateau' or 'none'
    epochs: int = 100
    patience: int = 15
    min_delta: float = 1e-4
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 0
    device: str = "auto"

    def validate(self) -> TrainSpec:
        """Raise ``ValueError`` naming the field for anything that would fail later, before any training."""
        for name, low in (("epochs", 1), ("patience", 1), ("batch_size", 1)):
            if getattr(self, name) < low:
                raise ValueError(f"{name} must be >= {low}, got {getattr(self, name)}")
        for name in ("learning_rate", "max_grad_norm"):
            if not np.isfinite(getattr(self, name)) or getattr(self, name) <= 0:
                raise ValueError(f"{name} must be a positive number, got {getattr(self, name)}")
        if self.weight_decay < 0 or self.min_delta < 0:
            raise ValueError("weight_decay and min_delta must be >= 0")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; valid: {sorted(OPTIMIZERS)}")
        if self.scheduler not in (*SCHEDULERS, "none"):
            raise ValueError(f"unknown scheduler {self.scheduler!r}; valid: {[*SCHEDULERS, 'none']}")
        if self.device not in ("auto", "cpu") and not self.device.startswith("cuda"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device {self.device!r} asked for, but this machine has no CUDA device; use 'auto'")
        create_loss_function(self.loss)  # raises, listing the valid names
        create_model(self.model, **self.model_config)  # raises for an unknown name, key or value
        return self


@dataclasses.dataclass(frozen=True)
class TrainOutcome:
    best_path: Path
    last_path: Path
    history: list[dict[str, Any]]
    best_epoch: int | None
    best_score: float | None


def _targets(ws: WindowSet, stats: FoldStats) -> np.ndarray:
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
) -> TrainOutcome:
    """Train a fresh, seeded model on the fold's training windows; keep ``best.pt`` and ``last.pt`` in ``workdir``.

    Early stopping and the best checkpoint watch the validation loss. ``resume=True`` continues from
    ``workdir/last.pt`` (a retried run), bit-identical on CPU to an uninterrupted run.
    """
    spec.validate()
    train_pos, val_pos = fold_positions(ws, fold)
    if len(train_pos) == 0 or len(val_pos) == 0:
        raise ValueError(f"{fold.fold}: {len(train_pos)} training and {len(val_pos)} validation windows")
    seed_everything(spec.seed)  # the fresh model's initial weights depend on the seed only, not on the fold order
    model = create_model(spec.model, **spec.model_config)
    y = _targets(ws, stats)
    common = dict(mean=stats.mean, std=stats.std, device=spec.device)
    train = TensorBatchLoader(ws.windows, y, spec.batch_size, indices=train_pos, shuffle=True, seed=spec.seed, **common)
    val = TensorBatchLoader(ws.windows, y, EVAL_BATCH, indices=val_pos, **common)
    optimizer = create_optimizer(model, spec.optimizer, spec.learning_rate, weight_decay=spec.weight_decay)
    scheduler = None
    if spec.scheduler == "cosine":
        scheduler = create_scheduler(optimizer, "cosine", T_max=spec.epochs)
    elif spec.scheduler != "none":
        scheduler = create_scheduler(optimizer, spec.scheduler)
    trainer = Trainer(
        model,
        train,
        val,
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
    checkpoint = trainer.set_checkpoint(workdir, filename="best.pt")
    history = trainer.fit(spec.epochs, log_interval=0, resume=resume)
    return TrainOutcome(checkpoint.path, checkpoint.last_path, history, checkpoint.best_epoch, checkpoint.best_score)


@torch.no_grad()
def predict_fold(ws: WindowSet, checkpoint_path: Path, device: str = "cpu") -> pd.DataFrame:
    """The model's predictions (in return units) on the validation windows of the fold the checkpoint was for.

    Columns: ``ticker``, ``date``, ``window``, ``target``, ``model``; one row per validation window.
    """
    model, ckpt = load_checkpoint(checkpoint_path, map_location="cpu")
    fold = FoldBoundaries.from_dict(ckpt["extra"]["fold"])
    stats = FoldStats.from_dict(ckpt["extra"]["normalization"])
    _, val_pos = fold_positions(ws, fold)
    loader = TensorBatchLoader(
        ws.windows, _targets(ws, stats), EVAL_BATCH, indices=val_pos, mean=stats.mean, std=stats.std, device=device
    )
    model.to(loader.device).eval()
    pred = torch.cat([model(xb)[:, 0].float().cpu() for xb, _ in loader]).numpy().astype(np.float64)
    return _rows(ws, val_pos).assign(model=pred * stats.target_scale)


def _rows(ws: WindowSet, positions: np.ndarray) -> pd.DataFrame:
    """ticker, date, window, target of the windows at ``positions`` (in that order)."""
    idx = ws.index.set_index("window").loc[positions]
    return pd.DataFrame(
        {
            "ticker": idx["ticker"].astype(str).to_numpy(),
            "date": idx["date"].to_numpy(),
            "window": positions,
            "target": idx["target"].to_numpy(np.float64),
        }
    )


def add_baselines(ws: WindowSet, fold: FoldBoundaries, stats: FoldStats, predictions: pd.DataFrame) -> pd.DataFrame:
    """Add the baselines' predictions on the same rows.

    ``zero`` predicts no move; ``momentum`` predicts that the last day's 1-day log return repeats; ``ridge`` is
    a ridge regression on the last row's normalized features, fitted on the fold's training windows.
    """
    train_pos, _ = fold_positions(ws, fold)
    last = ws.window - 1  # window k's last row is k + W - 1
    ret_1d = ws.feature_columns.index("ret_1d")
    val_rows = predictions["window"].to_numpy() + last

    def normalized(rows: np.ndarray) -> np.ndarray:
        return (ws.values[rows].astype(np.float64) - stats.mean) / stats.std

    w, b = fit_ridge(normalized(train_pos + last), ws.y(train_pos))
    return predictions.assign(
        zero=0.0,
        momentum=ws.values[val_rows, ret_1d].astype(np.float64),
        ridge=normalized(val_rows) @ w + b,
    )


def evaluate_fold(predictions: pd.DataFrame) -> pd.DataFrame:
    """Metrics of the model and of every baseline on the same validation rows (see ``evaluation``)."""
    return metrics_table(predictions, ("model", *BASELINES))


def code_version() -> str:
    """The package version and a hash of its source files: which code produced a checkpoint."""
    root = Path(fin_pipeline.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return f"{fin_pipeline.__version__}+{digest.hexdigest()[:12]}"


def data_version(paths: list[Path]) -> str:
    """A hash of the feature files a fold was trained on (their bytes, in ticker order)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16]
