"""Who holds a pool's slots, and freeing the slots of holders that can no longer give them back.

A slot of the ``training`` pool is claimed by the process that runs a run's steps (``fin-pipeline run``, the run
worker of ``dagster asset materialize``, ``dagster job execute`` or a run the daemon launched) and given back when
the step ends. A holder whose process was killed never gives it back, and Dagster's run monitoring frees only the
slots of *finished* runs, and only where the daemon runs. So every run that waits for a slot (and ``fin-pipeline
doctor``) looks at the holders first: a run that has finished, or whose process on this host is gone, is marked
failed (when it still looks alive) and its slots are freed. A holder on another host, or without a recorded process,
is left alone: its liveness cannot be seen from here (run monitoring watches those, see
:mod:`fin_pipeline.runtime.launcher`).
"""

from __future__ import annotations

import socket

from dagster import DagsterInstance

from fin_pipeline.runtime.processes import HOST_TAG, PID_TAG, START_TAG, process_alive

ALIVE, GONE, ELSEWHERE, UNRECORDED = "process alive", "process gone", "process on another host", "no process recorded"


def process_state(run) -> str:
    """Whether the process that executes ``run`` is alive, as far as this host can tell."""
    tags = run.tags
    if PID_TAG not in tags:
        return UNRECORDED
    if tags.get(HOST_TAG) != socket.gethostname():
        return ELSEWHERE
    return ALIVE if process_alive(int(tags[PID_TAG]), tags.get(START_TAG, "")) else GONE


def describe_run(instance: DagsterInstance, run_id: str, step_key: str = "") -> str:
    """``trained_model of run … (walk_forward_job 2020-07-01, STARTED, pid 42 on box: process alive)``."""
    what = f"{step_key} of run {run_id}" if step_key else f"run {run_id}"
    run = instance.get_run_by_id(run_id)
    if run is None:
        return f"{what} (not in this instance)"
    partition = run.tags.get("dagster/partition", "-")
    state = process_state(run)
    where = f"pid {run.tags[PID_TAG]} on {run.tags.get(HOST_TAG)}: " if PID_TAG in run.tags else ""
    return f"{what} ({run.job_name} {partition}, {run.status.value}, {where}{state})"


def held_slots(instance: DagsterInstance) -> list[tuple[str, int, str, str]]:
    """``(pool, limit, run_id, step_key)`` for every claimed slot of every pool."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    out = []
    for pool in sorted(storage.get_concurrency_keys()):
        info = storage.get_concurrency_info(pool)
        out += [(pool, info.slot_count, s.run_id, s.step_key) for s in info.claimed_slots]
    return out


def free_dead_holders(instance: DagsterInstance, pools: set[str] | None = None) -> list[str]:
    """Free the slots (of ``pools``, default all) held by runs that cannot give them back: runs that have finished,
    runs missing from the instance, and runs whose process on this host is gone (marked failed first, naming
    the process). One line per run freed."""
    lines, seen = [], set()
    for pool, _limit, run_id, step_key in held_slots(instance):
        if (pools is not None and pool not in pools) or run_id in seen:
            continue
        run = instance.get_run_by_id(run_id)
        why = None
        if run is None:
            why = "not in this instance"
        elif run.is_finished:
            why = f"ended {run.status.value}"
        elif process_state(run) == GONE:
            pid, host = run.tags[PID_TAG], run.tags.get(HOST_TAG)
            instance.report_run_failed(
                run, message=f"process {pid} on {host} is gone (killed?): marked failed by fin-pipeline"
            )
            why = f"its process {pid} on {host} is gone: marked failed"
        if why is None:
            continue
        seen.add(run_id)
        described = describe_run(instance, run_id, step_key)
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        lines.append(f"pool '{pool}': freed the slots of {described}: {why}")
    return lines


def holder_lines(instance: DagsterInstance, pool: str) -> list[str]:
    """What holds ``pool`` now, one phrase per claimed slot."""
    return [describe_run(instance, run_id, step) for p, _, run_id, step in held_slots(instance) if p == pool]
