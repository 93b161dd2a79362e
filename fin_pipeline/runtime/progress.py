"""Training progress as a person sees it: a progress line per epoch in the CLI, a structured log line in Dagster.

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
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from fin_pipeline.training.progress import EpochProgress, epoch_progress, progress_line, progress_log_line

_display: ProgressDisplay | None = None


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
    go adds, to the current training's, the trainings after it at the mean duration of those finished (before the
    first one finishes: the current one's maximum epochs at its pace). It is an estimate: later folds train on
    more windows, and early stopping may end any of them sooner.
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
        after = max(self.trainings - len(self.finished) - 1, 0)
        if self.finished:
            per_training = sum(self.finished) / len(self.finished)
        else:
            per_training = progress.epochs * progress.seconds_per_epoch
        return progress.eta_seconds + after * per_training

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
