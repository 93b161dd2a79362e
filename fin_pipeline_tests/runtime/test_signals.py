"""Process faults, on a real ``fin-pipeline run`` in a subprocess: SIGTERM/SIGINT stop it within seconds.

Slow (minutes on two cores): each trains two small folds, some twice.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from dagster import DagsterRunStatus

from fin_pipeline.training.checkpoint import read_checkpoint
from fin_pipeline_tests.subprocess_runs import (
    FOLD_A,
    FOLD_B,
    claimed_training_slots,
    event_types,
    make_home,
    run,
    run_status,
    start_run,
    wait_for_epoch,
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_run_within_seconds_canceled_not_retried_slot_free_and_a_rerun_resumes(tmp_path, sig):
    home = make_home(tmp_path)
    proc = start_run(home)
    run_id, last = wait_for_epoch(home, proc, FOLD_A, epoch=1)
    t0 = time.monotonic()
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)  # Ctrl-C: the terminal signals the whole foreground process group
    else:
        os.kill(proc.pid, sig)  # an orchestrator signals the process
    returncode = proc.wait(30)
    seconds = time.monotonic() - t0
    out = (home / "run.log").read_text()

    assert returncode == 130, out[-3000:]
    assert seconds < 10, seconds
    name = signal.Signals(sig).name
    assert f"stopped by {name}; run {run_id} marked canceled; resume with: fin-pipeline run" in out
    assert "Stack Trace" not in out  # a few lines, not the step failure's trace
    # (A Ctrl-C to the process group also reaches Dagster's compute-log helper processes, watch_orphans.py, which
    # print a KeyboardInterrupt traceback of their own: not ours to silence, so "Traceback" is not checked.)
    assert run_status(home, run_id) == DagsterRunStatus.CANCELED
    events = event_types(home, run_id)
    assert "STEP_UP_FOR_RETRY" not in events and "STEP_RESTARTED" not in events, events
    assert claimed_training_slots(home) == 0
    stopped = read_checkpoint(last)  # complete: its content hash checks
    assert stopped["epoch"] >= 1

    again = run(home)

    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    assert f"(resumed after epoch {stopped['epoch']} of run {run_id})" in again.stdout, again.stdout
    assert f"[fold 2/2] {FOLD_B}: test" in again.stdout
