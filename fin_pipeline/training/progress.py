"""Where a training stands after each epoch: losses, the best epoch so far, patience left, pace and time to go.

:func:`epoch_progress` reads it off a :class:`~fin_pipeline.training.trainer.Trainer` in an epoch callback;
:func:`progress_line` says it in one line (the CLI), :func:`progress_fields` as ``key=value`` pairs (one
structured log line per epoch in a Dagster step's log). The time to go is an upper bound: the epochs left to the
configured maximum at the mean pace so far; early stopping can only end the training sooner.
"""

from __future__ import annotations

import dataclasses
import math
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


def duration(seconds: float) -> str:
    """``42s``, ``3:07`` (m:ss) or ``1:02:03`` (h:mm:ss)."""
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _loss(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def progress_line(p: EpochProgress, run_eta: float | None = None) -> str:
    """``fold 2024-01-01 epoch 3/10 · ETA 1:26 · run 14:02 · train 0.9812 · tune 1.002 · best 0.999 @2 ·
    patience 14/15 · 12.3 s/epoch`` (``run`` only when ``run_eta`` is given). The most wanted first: a narrow
    terminal cuts the line's end."""
    parts = [f"{p.label} epoch {p.epoch}/{p.epochs}", f"ETA {duration(p.eta_seconds)}"]
    if run_eta is not None:
        parts.append(f"run {duration(run_eta)}")
    parts += [
        f"train {_loss(p.train_loss)}",
        f"tune {_loss(p.tune_loss)}",
        f"best {_loss(p.best_score)} @{p.best_epoch if p.best_epoch is not None else '-'}",
    ]
    if p.patience is not None:
        parts.append("early stop" if p.stopping else f"patience {p.patience_left}/{p.patience}")
    parts.append(f"{p.seconds_per_epoch:.1f} s/epoch")
    return " · ".join(parts)


def progress_fields(p: EpochProgress) -> dict[str, Any]:
    """The progress as flat ``key: value`` pairs (numbers rounded for a log line)."""

    def rounded(value: float | None, digits: int = 6) -> float | None:
        return None if value is None else float(f"{value:.{digits}g}")

    return {
        "epoch": p.epoch,
        "epochs": p.epochs,
        "train_loss": rounded(p.train_loss),
        "tune_loss": rounded(p.tune_loss),
        "best_tune_loss": rounded(p.best_score),
        "best_epoch": p.best_epoch,
        "patience_left": p.patience_left,
        "seconds_per_epoch": round(p.seconds_per_epoch, 2),
        "eta_seconds": round(p.eta_seconds, 1),
    }


def progress_log_line(p: EpochProgress) -> str:
    """One structured line: ``fold 2024-01-01 epoch 3/10: epoch=3 epochs=10 train_loss=0.98 …``."""
    fields = " ".join(f"{k}={'-' if v is None else v}" for k, v in progress_fields(p).items())
    return f"{p.label} epoch {p.epoch}/{p.epochs}: {fields}"
