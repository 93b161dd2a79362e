"""Run monitoring, as the shipped dagster.yaml configures it, with a real daemon: a run whose process died is
marked failed and its pool slot freed, though nothing else ever looks at it."""

from __future__ import annotations

import subprocess
import time

from dagster import DagsterEventType, DagsterRunStatus
from dagster._core.storage.dagster_run import DagsterRun

from fin_pipeline.runtime.processes import PID_TAG, START_TAG, process_tags
from fin_pipeline_tests.subprocess_runs import BIN, env_for, instance_of, make_home


def test_the_daemon_fails_a_run_whose_process_died_and_frees_its_slot(tmp_path):
    home = make_home(tmp_path)
    config = home / "dagster.yaml"
    text = config.read_text()
    assert "poll_interval_seconds: 60" in text and "free_slots_after_run_end_seconds: 60" in text
    # the shipped settings, but polled every 2 s (the mechanism is under test here, not the minute)
    config.write_text(
        text.replace("poll_interval_seconds: 60", "poll_interval_seconds: 2").replace(
            "free_slots_after_run_end_seconds: 60", "free_slots_after_run_end_seconds: 1"
        )
    )
    gone = subprocess.Popen(["true"])
    gone.wait()
    with instance_of(home) as instance:
        instance.event_log_storage.set_concurrency_slots("training", 1)
        tags = {**process_tags(), PID_TAG: str(gone.pid), START_TAG: "", "dagster/partition": "2020-07-01"}
        dead = instance.add_run(DagsterRun(job_name="walk_forward_job", status=DagsterRunStatus.STARTED, tags=tags))
        assert instance.event_log_storage.claim_concurrency_slot("training", dead.run_id, "trained_model").is_claimed

    with open(home / "daemon.log", "w") as log:
        daemon = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-m", "fin_pipeline.definitions"],
            cwd=home,
            env=env_for(home),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 240
        while True:
            with instance_of(home) as instance:
                status = instance.get_run_by_id(dead.run_id).status
                held = instance.event_log_storage.get_concurrency_info("training").active_slot_count
                failures = instance.all_logs(dead.run_id, of_type=DagsterEventType.RUN_FAILURE)
            if status == DagsterRunStatus.FAILURE and held == 0:
                break
            assert daemon.poll() is None, (home / "daemon.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (status, held, (home / "daemon.log").read_text()[-3000:])
            time.sleep(1)
    finally:
        daemon.terminate()
        daemon.wait(60)
    (failure,) = failures
    assert f"process {gone.pid} on " in failure.message and "is gone (killed?)" in failure.message
