"""Dagster's default run launcher, with a run worker health check, so that run monitoring fails dead runs.

Run monitoring (``run_monitoring`` in ``dagster.yaml``, carried out by the daemon that ``dagster dev`` starts) asks
the run launcher whether a ``STARTED`` run's worker is still alive; Dagster's ``DefaultRunLauncher`` cannot tell,
so a run whose process was killed stayed ``STARTED`` and kept its ``training`` pool slot. This launcher answers
from the process the run's tags name (:mod:`fin_pipeline.runtime.processes`; every run the project executes carries
them, whatever started it): a process gone from this host is a failed worker, and run monitoring marks the run
failed (it is not resumed: ``max_resume_run_attempts: 0``; the next run of the fold resumes from its ``last.pt``);
``free_slots_after_run_end_seconds`` then frees its slots. A run whose process is on another host, or not recorded
yet, counts as running: it cannot be seen from here.
"""

from __future__ import annotations

from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus

from fin_pipeline.runtime.pools import GONE, process_state
from fin_pipeline.runtime.processes import HOST_TAG, PID_TAG


class ProcessCheckedRunLauncher(DefaultRunLauncher):
    """``DefaultRunLauncher`` whose ``check_run_worker_health`` looks at the run's recorded process."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        state = process_state(run)
        if state == GONE:
            pid, host = run.tags[PID_TAG], run.tags.get(HOST_TAG)
            return CheckRunHealthResult(WorkerStatus.FAILED, f"process {pid} on {host} is gone (killed?)")
        return CheckRunHealthResult(WorkerStatus.RUNNING, state)
