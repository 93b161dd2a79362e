"""Training progress as a person sees it: a progress line per epoch in the CLI, a structured log line in Dagster.

What is shown is computed in :mod:`fin_pipeline.training.progress` (losses, pace, time to go); this module says it.

:func:`epoch_callback` is what the training assets pass to ``train_fold``: after every epoch it writes one
``key=value`` line to the step's log (the UI's run view shows it live) and hands the progress to the display the
CLI installed with :func:`set_display`, if any (``fin-pipeline run`` executes its jobs in its own process, so the
steps find it here; a step in another process, under Celery or Kubernetes, only logs).

:class:`ProgressDisplay` draws with ``tqdm`` on a terminal: one bar per training, redrawn in place every epoch
and cut to the terminal's width (``dynamic_ncols``), so a narrow window gets a shorter line, never a wrapped one.
When stdout is not a terminal (CI, a log file) it prints one plain line per epoch, without control characters.
"""

from __future__ import annotations

import io
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from fin_pipeline.training.progress import EpochProgress, epoch_progress, run_eta_seconds

_display: ProgressDisplay | None = None


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


def set_display(display: ProgressDisplay | None) -> None:
    """Install (or with ``None`` remove, closing the one installed) the process's display; training steps report
    to it."""
    global _display
    if display is None and _display is not None:
        _display.close()
    _display = display


def epoch_callback(label: str, epochs: int, log: Callable[[str], Any]) -> Callable[[Any, dict[str, Any]], None]:
    """A Trainer callback: the epoch's progress to ``log`` (a Dagster ``context.log.info``) and to the display."""

    def callback(trainer: Any, record: dict[str, Any]) -> None:
        progress = epoch_progress(trainer, record, label, epochs)
        log(progress_log_line(progress))
        display = _display
        if display is not None:
            display.epoch(progress)

    return callback


class ProgressDisplay:
    """The CLI's progress: a live bar per training on a terminal, plain lines otherwise.

    ``trainings`` is how many trainings the run has (folds to train, and the live model); the whole run's time to
    go (:func:`~fin_pipeline.training.progress.run_eta_seconds`) counts the trainings after the current one at the
    measured duration of those finished.
    """

    def __init__(
        self, stream: IO[str] | None = None, trainings: int = 0, terminal: bool | None = None, owned: bool = False
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self._owned = owned  # close the stream with the display (a descriptor of its own, see for_stdout)
        self.terminal = self.stream.isatty() if terminal is None else terminal
        self.trainings = trainings
        self.finished: list[float] = []  # seconds of each finished training
        self._label: str | None = None
        self._started = 0.0
        self._bar: Any = None
        self._lock = threading.Lock()  # the epoch callback runs in the step's thread, end() in the CLI's

    @classmethod
    def for_stdout(cls) -> ProgressDisplay:
        """A display on the process's stdout as it is now, through its own copy of the file descriptor.

        While a step runs, Dagster points fd 1 at a pipe that copies the output into the step's compute log: the
        bar would then not know it is on a terminal, nor the terminal's width. The copy taken here still points
        at the terminal (or the CLI's log file) and is line-buffered.
        """
        sys.stdout.flush()
        try:
            fd = os.dup(sys.stdout.fileno())
        except (AttributeError, OSError, io.UnsupportedOperation):  # no real file behind stdout (pytest's capture)
            return cls(sys.stdout)
        encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
        return cls(os.fdopen(fd, "w", encoding=encoding, errors="replace", buffering=1), owned=True)

    def close(self) -> None:
        self.end()
        if self._owned:
            self.stream.close()

    def run_eta(self, progress: EpochProgress) -> float:
        return run_eta_seconds(progress, self.trainings, self.finished)

    def epoch(self, progress: EpochProgress) -> None:
        with self._lock:
            if progress.label != self._label:
                self._end_locked()
                self._label = progress.label
                # This training began one epoch's time ago (or more: epochs resumed from a checkpoint are not
                # timed here, their seconds are in the history the pace is taken from).
                self._started = time.monotonic() - progress.seconds_per_epoch
                if self.terminal:
                    self._bar = self._new_bar(progress)
            line = progress_line(progress, self.run_eta(progress) if self.trainings else None)
            if self._bar is not None:
                self._bar.set_description_str(line, refresh=False)
                self._bar.update(progress.epoch - self._bar.n)
            else:
                print(line, file=self.stream, flush=True)

    def end(self) -> None:
        """The current training is over (its job returned): close its bar and count its duration."""
        with self._lock:
            self._end_locked()

    def _end_locked(self) -> None:
        if self._label is None:
            return
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self.finished.append(time.monotonic() - self._started)
        self._label = None

    def _new_bar(self, progress: EpochProgress) -> Any:
        from tqdm import tqdm

        return tqdm(
            total=progress.epochs,
            initial=progress.epoch - 1,
            file=self.stream,
            dynamic_ncols=True,  # the terminal's width at every redraw; the line is cut to it, never wrapped
            bar_format="{bar:10} {desc}",
            leave=True,
            mininterval=0,  # one redraw per epoch: epochs are seconds apart
        )
