"""SIGINT/SIGTERM for ``fin-pipeline run``: stop at the next batch boundary, mark the run canceled, exit.

The first signal sets :data:`fin_pipeline.training.trainer.STOP`; the running trainer raises
:class:`~fin_pipeline.training.checkpoint.TrainingInterrupted` before its next batch (``last.pt`` keeps the last
complete epoch), the asset turns that into a failure Dagster does not retry, and the CLI then marks the run
canceled, frees its pool slots and exits with 130, printing how to resume. A second signal exits at once.

Dagster replaces the SIGINT handler while it executes a run, but only in the main thread (``capture_interrupts``):
that is why the run executes in a worker thread while the main thread waits, with our handlers in place.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopped(Exception):
    """A signal stopped ``fin-pipeline run``; ``run_id`` is the run marked canceled (None between runs)."""

    def __init__(self, signum: int, run_id: str | None) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum, self.run_id = signum, run_id


class Stopper:
    """Installs the handlers; :meth:`call` runs a function in a worker thread and waits for it."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        if stop is None:
            from fin_pipeline.training.trainer import STOP as stop
        self.stop = stop
        self.signum: int | None = None
        self._stderr: Any = None  # the real sys.stderr while it is muted after a signal
        self._old: dict[int, Any] = {}

    def install(self) -> Stopper:
        for sig in SIGNALS:
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def restore(self) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: object) -> None:
        if self.signum is not None:
            os.write(2, b"\nfin-pipeline: second signal: exiting now (the last complete epoch is kept)\n")
            os._exit(130)
        self.signum = signum
        # The stop surfaces as a step failure whose traceback Dagster's console logger would print (~90 lines;
        # its handler looks up sys.stderr for every record): muted until the run returns. The failure and its
        # trace stay in the run's event log; the console gets this line and the resume hint.
        self._stderr, sys.stderr = sys.stderr, open(os.devnull, "w")  # noqa: SIM115 (closed by _unmute)
        self.stop.set()
        name = signal.Signals(signum).name
        os.write(2, f"\nfin-pipeline: {name}: stopping at the next batch boundary (again to exit now)\n".encode())

    def _unmute(self) -> None:
        if self._stderr is not None:
            muted, sys.stderr, self._stderr = sys.stderr, self._stderr, None
            muted.close()

    def check(self) -> None:
        """Raise :class:`Stopped` when a signal came (between runs)."""
        self._unmute()
        if self.signum is not None:
            raise Stopped(self.signum, None)

    def call(self, fn: Callable[..., Any], *args: Any, tick: Callable[[], None] | None = None, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` in a worker thread; the main thread keeps handling signals and calls ``tick``
        (e.g. a report of a step blocked by a pool) between its short waits."""
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["result"] = fn(*args, **kwargs)
            except BaseException as exc:  # re-raised in the caller's thread
                box["error"] = exc

        worker = threading.Thread(target=target, name="fin-pipeline-run", daemon=True)
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.2)  # short waits: the main thread runs signal handlers in between
                if tick is not None:
                    tick()
        finally:
            self._unmute()
        if "error" in box:
            raise box["error"]
        return box["result"]


def mark_canceled(instance, run_id: str, signum: int) -> bool:
    """Mark ``run_id`` canceled (it stopped on a signal, it did not fail) and free its pool slots; whether it was
    marked. A run that had succeeded before the signal came stays a success: the signal stopped nothing of it."""
    from dagster import DagsterRunStatus

    run = instance.get_run_by_id(run_id)
    marked = run is not None and run.status != DagsterRunStatus.SUCCESS
    if marked:
        name = signal.Signals(signum).name
        instance.report_run_canceled(run, message=f"canceled by {name}: stopped at a batch boundary")
    instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    return marked


def resume_hint(signum: int, run_id: str | None) -> str:
    argv = " ".join(sys.argv[1:]) or "run"
    which = f"run {run_id} marked canceled; " if run_id else ""
    return (
        f"fin-pipeline: stopped by {signal.Signals(signum).name}; {which}resume with: fin-pipeline {argv} "
        "(an interrupted fold resumes from its last complete epoch)"
    )
