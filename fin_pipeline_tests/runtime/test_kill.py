"""Process faults, on a real ``fin-pipeline run`` in a subprocess: SIGKILL mid-fold, then a rerun resumes.

Slow (minutes on two cores): each trains two small folds, some twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from dagster import AssetKey, DagsterEventType, DagsterRunStatus

from fin_pipeline.training.checkpoint import read_checkpoint
from fin_pipeline_tests.subprocess_runs import (
    BIN,
    FOLD_A,
    FOLD_B,
    claimed_training_slots,
    env_for,
    instance_of,
    make_home,
    run,
    run_status,
    same_checkpoint,
    start_run,
    wait_for_epoch,
)


def test_sigkill_mid_fold_then_a_rerun_frees_the_slot_and_resumes_to_the_uninterrupted_checkpoint(tmp_path):
    reference = start_run(make_home(tmp_path / "reference"))  # the same chain, never interrupted (in parallel)
    home = make_home(tmp_path / "killed")
    proc = start_run(home)
    run_id, last = wait_for_epoch(home, proc, FOLD_A, epoch=1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
    killed_epoch = read_checkpoint(last)["epoch"]
    assert run_status(home, run_id) == DagsterRunStatus.STARTED  # what the instance believes: alive
    assert claimed_training_slots(home) == 1  # and it holds the one training slot

    again = run(home)

    out = again.stdout + again.stderr
    assert again.returncode == 0, out[-4000:]
    assert f"dead run {run_id} (walk_forward_job {FOLD_A}" in again.stdout and "pool slots freed" in again.stdout
    assert run_status(home, run_id) == DagsterRunStatus.FAILURE
    assert f"[fold 1/2] {FOLD_A}: test" in again.stdout
    assert f"(resumed after epoch {killed_epoch} of run {run_id})" in again.stdout, again.stdout
    assert f"[fold 2/2] {FOLD_B}: test" in again.stdout and "blocked" not in out
    assert claimed_training_slots(home) == 0
    assert not (home / "data" / "models" / FOLD_A / "runs").exists()  # the dead run's folder: removed

    assert reference.wait(600) == 0, (tmp_path / "reference" / "run.log").read_text()[-3000:]
    for name in ("last.pt", "best.pt"):
        resumed = read_checkpoint(home / "data" / "models" / FOLD_A / name)
        uninterrupted = read_checkpoint(tmp_path / "reference" / "data" / "models" / FOLD_A / name)
        assert same_checkpoint(resumed, uninterrupted) == [], name
        assert resumed["epoch"] == (6 if name == "last.pt" else resumed["best_epoch"])


def test_after_a_sigkilled_cli_run_dagster_asset_materialize_frees_the_slot_and_resumes_the_fold(tmp_path):
    """No daemon, no `fin-pipeline run` to repair: the materialization itself frees the dead run's slot."""
    home = make_home(tmp_path)
    proc = start_run(home)
    run_id, last = wait_for_epoch(home, proc, FOLD_A, epoch=1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
    killed_epoch = read_checkpoint(last)["epoch"]
    assert claimed_training_slots(home) == 1  # the dead run holds the one training slot

    cmd = [str(BIN / "dagster"), "asset", "materialize", "-m", "fin_pipeline.definitions"]
    t0 = time.time()
    done = subprocess.run(
        [*cmd, "--select", "trained_model", "--partition", FOLD_A],
        cwd=home,
        env=env_for(home),
        capture_output=True,
        text=True,
        timeout=600,
    )

    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert f"freed the slots of trained_model of run {run_id}" in out and "process gone" in out, out[-4000:]
    assert run_status(home, run_id) == DagsterRunStatus.FAILURE
    assert claimed_training_slots(home) == 0
    with instance_of(home) as instance:
        (record,) = instance.fetch_materializations(AssetKey("trained_model"), limit=1).records
        meta = {k: v.value for k, v in record.asset_materialization.metadata.items()}
        materializing = instance.get_run_by_id(record.run_id)
        events = instance.all_logs(record.run_id, of_type=DagsterEventType.STEP_START)
        (start,) = [e.timestamp for e in events]
    print(f"CLI run killed: `dagster asset materialize` started to its trained_model step running: {start - t0:.1f} s")
    assert meta["resumed_from_run"] == run_id and meta["resumed_from_epoch"] == killed_epoch
    assert meta["epochs"] == 6
    assert materializing.status == DagsterRunStatus.SUCCESS and materializing.tags["fin_pipeline/pid"].isdigit()
