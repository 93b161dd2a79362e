"""Where a training stands after each epoch: losses, the best epoch so far, patience left, pace and time to go.

:func:`epoch_progress` reads it off a :class:`~fin_pipeline.training.trainer.Trainer` in an epoch callback. The
time to go is an upper bound: the epochs left to the configured maximum at the mean pace so far; early stopping
can only end the training sooner. :func:`run_eta_seconds` adds the trainings still to come in a run. How it is
shown (a line, a bar, a log line) is :mod:`fin_pipeline.runtime.progress`.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class EpochProgress:
    label: str  # what trains: "fold 2024-01-01", "live 2026-11-30"
    epoch: int  # epochs completed (1-based), resumed ones included
    epochs: int  # the configured maximum
    train_loss: float
    tune_loss: float | None  # the early-stopping (tuning) block's loss; None without one
    best_score: float | None  # the best tuning loss so far (the best checkpoint's)
    best_epoch: int | None
    patience: int | None  # early stopping's patience; None without early stopping
    patience_left: int | None  # epochs without improvement still allowed before it stops
    seconds_per_epoch: float  # mean wall-clock seconds of the epochs so far
    stopping: bool  # early stopping ends the training after this epoch

    @property
    def epochs_left(self) -> int:
        return 0 if self.stopping else max(self.epochs - self.epoch, 0)

    @property
    def eta_seconds(self) -> float:
        """Seconds to the configured maximum of epochs at the pace so far (0 when this epoch was the last)."""
        return self.epochs_left * self.seconds_per_epoch


def epoch_progress(trainer: Any, record: dict[str, Any], label: str, epochs: int) -> EpochProgress:
    """The progress after the epoch ``record`` of ``trainer`` (a Trainer callback's two arguments)."""
    stopper = trainer.early_stopping
    checkpoint = trainer.checkpoint
    history = trainer.history
    best_score = checkpoint.best_score if checkpoint is not None else None
    best_epoch = checkpoint.best_epoch if checkpoint is not None else None
    if checkpoint is None and stopper is not None:
        best_score, best_epoch = stopper.best_score, stopper.best_epoch
    return EpochProgress(
        label=label,
        epoch=int(record["epoch"]),
        epochs=int(epochs),
        train_loss=float(record["train_loss"]),
        tune_loss=None if record.get("val_loss") is None else float(record["val_loss"]),
        best_score=None if best_score is None else float(best_score),
        best_epoch=best_epoch,
        patience=None if stopper is None else stopper.patience,
        patience_left=None if stopper is None else stopper.patience - stopper.counter,
        seconds_per_epoch=sum(h["seconds"] for h in history) / max(len(history), 1),
        stopping=bool(stopper is not None and stopper.should_stop),
    )


def run_eta_seconds(progress: EpochProgress, trainings: int, finished: list[float]) -> float:
    """Seconds to the end of a run of ``trainings`` trainings, during the one ``progress`` describes, after the
    trainings that took ``finished`` seconds each: this training's time to go, plus each training after it at the
    mean duration of those finished (before any has finished: this one's maximum epochs at its pace). An estimate:
    later folds train on more windows, and early stopping may end any of them sooner."""
    after = max(trainings - len(finished) - 1, 0)
    per_training = sum(finished) / len(finished) if finished else progress.epochs * progress.seconds_per_epoch
    return progress.eta_seconds + after * per_training
