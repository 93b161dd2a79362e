"""The trainer's per-epoch callbacks: :class:`EarlyStopping` (when to stop) and :class:`ModelCheckpoint` (which
epoch to keep). Both read one score per epoch, compare it the same way (:func:`improves`) and carry their counters
through a resume (``state_dict`` / ``load_state_dict``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fin_pipeline.training.checkpoint import save_checkpoint

MODES = ("min", "max")


def improves(score: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    """Whether ``score`` beats ``best`` by more than ``min_delta`` (lower wins for ``'min'``); NaN never does."""
    if not math.isfinite(score):
        return False
    if best is None:
        return True
    return score < best - min_delta if mode == "min" else score > best + min_delta


class EarlyStopping:
    """Stop after ``patience`` epochs in a row without an improvement larger than ``min_delta``.

    ``step(score)`` returns ``True`` when training should stop. ``mode='min'``: lower is better. NaN never
    improves. ``state_dict()`` / ``load_state_dict()`` carry the counters through a resume.
    """

    def __init__(self, patience: int = 15, min_delta: float = 1e-4, mode: str = "min") -> None:
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
        self.patience, self.min_delta, self.mode = patience, float(min_delta), mode
        self.best_score: float | None = None
        self.best_epoch: int | None = None
        self.counter = 0
        self.should_stop = False

    def step(self, score: float, epoch: int | None = None) -> bool:
        score = float(score)
        if improves(score, self.best_score, self.mode, self.min_delta):
            self.best_score, self.best_epoch, self.counter = score, epoch, 0
        else:
            self.counter += 1
            self.should_stop = self.counter >= self.patience
        return self.should_stop

    __call__ = step

    def state_dict(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in ("patience", "min_delta", "mode", "best_score", "best_epoch", "counter", "should_stop")
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)


class ModelCheckpoint:
    """Keep the checkpoint of the best epoch by ``monitor`` (``mode='min'``: lower is better, ``'max'``: higher).

    ``step(metrics, checkpoint)`` saves ``checkpoint`` (a dict, or a callable returning one, so nothing is built
    for an epoch that does not improve) to ``dirpath/filename`` when ``metrics[monitor]`` beats the best so far by
    more than ``min_delta``; NaN never improves. The trainer also keeps ``dirpath/last.pt`` (:attr:`last_path`).
    """

    def __init__(
        self,
        dirpath: str | Path,
        filename: str = "best_model.pt",
        monitor: str = "val_loss",
        mode: str = "min",
        min_delta: float = 0.0,
        last_filename: str = "last.pt",
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
        if filename == last_filename:
            raise ValueError(f"the best checkpoint cannot share the name {last_filename!r} of the last one")
        self.dirpath, self.filename, self.last_filename = Path(dirpath), filename, last_filename
        self.monitor, self.mode, self.min_delta = monitor, mode, float(min_delta)
        self.best_score: float | None = None
        self.best_epoch: int | None = None

    @property
    def path(self) -> Path:
        return self.dirpath / self.filename

    @property
    def last_path(self) -> Path:
        return self.dirpath / self.last_filename

    def score(self, metrics: Mapping[str, Any]) -> float:
        if self.monitor not in metrics or metrics[self.monitor] is None:
            raise ValueError(f"monitor {self.monitor!r} is not among the epoch's metrics {sorted(metrics)}")
        return float(metrics[self.monitor])

    def is_better(self, score: float) -> bool:
        return improves(score, self.best_score, self.mode, self.min_delta)

    def update(self, metrics: Mapping[str, Any]) -> bool:
        """Record ``metrics`` as the best if they are; ``True`` if so (the caller then saves)."""
        score = self.score(metrics)
        if not self.is_better(score):
            return False
        self.best_score, self.best_epoch = score, metrics.get("epoch")
        return True

    def step(self, metrics: Mapping[str, Any], checkpoint: Mapping[str, Any] | Callable[[], Mapping]) -> bool:
        """Save ``checkpoint`` as the best if ``metrics`` improve on it; ``True`` if saved."""
        previous = (self.best_score, self.best_epoch)
        if not self.update(metrics):
            return False
        try:
            save_checkpoint(self.path, checkpoint() if callable(checkpoint) else checkpoint)
        except BaseException:
            self.best_score, self.best_epoch = previous
            raise
        return True

    def state_dict(self) -> dict[str, Any]:
        return {
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "monitor": self.monitor,
            "mode": self.mode,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if (state["monitor"], state["mode"]) != (self.monitor, self.mode):
            raise ValueError(
                f"checkpoint state tracks {state['monitor']!r} ({state['mode']}), this one {self.monitor!r} "
                f"({self.mode})"
            )
        self.best_score, self.best_epoch = state["best_score"], state["best_epoch"]
