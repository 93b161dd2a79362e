"""Dead runs, held pool slots and orphaned run folders: detect, list, repair (``fin-pipeline doctor``; also on CLI
start).

A run carries tags naming the process that executes it (:mod:`fin_pipeline.runtime.processes`): ``fin-pipeline run``
tags its in-process runs, the project's executors every run they execute. A run still ``STARTING``/``STARTED``/
``CANCELING`` whose process on this host is gone is dead: it is marked failed and its pool slots are freed, so that
later ``training`` steps are not blocked forever. A slot held by a run that has ended is freed too. Runs whose
process is on another host are left to Dagster's run monitoring (``run_monitoring`` in ``dagster.yaml``, with the
daemon; :mod:`fin_pipeline.runtime.launcher`).

Orphaned run folders (``data/models/*/runs/<run_id>/`` of runs no longer active) are listed; ``--repair``
removes those that can no longer be resumed (no ``last.pt``, or the fold was published after them) and keeps
the resumable ones, which the next run of their fold picks up.

Corrupt stored files are listed too (:func:`corrupt_files`: the published checkpoints, every JSON document and
every Parquet file's metadata, each against its hash; the Parquet tables are checked where they are read):
nothing is removed, the line says what rebuilds the file.
"""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from fin_pipeline.runtime.pools import ELSEWHERE, UNRECORDED, describe_run, free_dead_holders, held_slots, process_state
from fin_pipeline.runtime.processes import HOST_TAG, PID_TAG, START_TAG, process_alive, process_tags

__all__ = ["HOST_TAG", "PID_TAG", "START_TAG", "doctor", "process_alive", "process_tags", "repair_dead_runs"]

LIVE_STATUSES = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]


def dead_runs(instance: DagsterInstance) -> list:
    """Runs that look alive but whose process on this host is gone."""
    host = socket.gethostname()
    out = []
    for run in instance.get_runs(filters=RunsFilter(statuses=LIVE_STATUSES)):
        tags = run.tags
        if PID_TAG not in tags or tags.get(HOST_TAG) != host:
            continue
        if not process_alive(int(tags[PID_TAG]), tags.get(START_TAG, "")):
            out.append(run)
    return out


def repair_dead_runs(instance: DagsterInstance) -> list[str]:
    """Mark every dead run failed and free its pool slots; one line per run repaired."""
    lines = []
    for run in dead_runs(instance):
        pid = run.tags[PID_TAG]
        instance.report_run_failed(
            run, message=f"process {pid} on {run.tags.get(HOST_TAG)} is gone (killed?): marked failed by fin-pipeline"
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        partition = run.tags.get("dagster/partition", "-")
        lines.append(f"dead run {run.run_id} ({run.job_name} {partition}, pid {pid}): marked failed, pool slots freed")
    return lines


def pool_waits(instance: DagsterInstance, pool: str = "training", min_wait: float = 0.0) -> list[str]:
    """One line per step that has waited at least ``min_wait`` seconds for a slot of ``pool``: how long, the limit,
    and which runs hold the slots (job, partition, process), so a blocked step says what blocks it."""
    info = instance.event_log_storage.get_concurrency_info(pool)
    now = time.time()
    holders = [describe_run(instance, slot.run_id, slot.step_key) for slot in info.claimed_slots]
    lines = []
    for step in info.pending_steps:
        if step.assigned_timestamp is not None:
            continue
        waited = now - step.enqueued_timestamp.timestamp()
        if waited >= min_wait:
            lines.append(
                f"{step.step_key} of run {step.run_id} has waited {waited:.0f} s for the '{pool}' pool "
                f"(limit {info.slot_count}), held by: {'; '.join(holders) or 'no run (is the limit 0?)'}; "
                "a dead holder is freed by `fin-pipeline doctor --repair`"
            )
    return lines


def orphan_folders(instance: DagsterInstance, data_dir: Path) -> list[tuple[Path, bool, str]]:
    """``(folder, removable, why)`` for each run folder under ``data_dir/models/*/runs`` of an inactive run."""
    out = []
    for folder in sorted(Path(data_dir).glob("models/*/runs/*")):
        if not folder.is_dir():
            continue
        run = instance.get_run_by_id(folder.name)
        if run is not None and not run.is_finished:
            continue
        last, published = folder / "last.pt", folder.parent.parent / "best.pt"
        if not last.is_file():
            out.append((folder, True, "no last.pt: nothing to resume"))
        elif published.is_file() and published.stat().st_mtime > last.stat().st_mtime:
            out.append((folder, True, "the fold was published after it"))
        else:
            out.append((folder, False, "resumable: the next run of the fold resumes from its last.pt"))
    return out


def slot_lines(instance: DagsterInstance) -> list[str]:
    """One line per held pool slot (its holder and whether its process lives) and per step waiting for one."""
    lines = []
    for pool, limit, run_id, step_key in held_slots(instance):
        run = instance.get_run_by_id(run_id)
        stuck = run is None or run.is_finished or process_state(run) == "process gone"
        hint = ": it cannot give it back; `fin-pipeline doctor --repair` frees it" if stuck else ""
        lines.append(f"pool '{pool}' (limit {limit}): slot held by {describe_run(instance, run_id, step_key)}{hint}")
    pools = {pool for pool, *_ in held_slots(instance)}
    for pool in sorted(pools):
        lines += pool_waits(instance, pool)
    return lines


def unseen_runs(instance: DagsterInstance) -> list[str]:
    """Live-looking runs whose process cannot be checked from here (another host, or none recorded)."""
    lines = []
    for run in instance.get_runs(filters=RunsFilter(statuses=LIVE_STATUSES)):
        state = process_state(run)
        if state in (ELSEWHERE, UNRECORDED):
            lines.append(
                f"run {describe_run(instance, run.run_id)[4:]}: {state}, not checked here "
                "(run monitoring in the daemon fails it if its run worker dies)"
            )
    return lines


def doctor(instance: DagsterInstance, data_dir: Path, repair: bool) -> list[str]:
    """What ``fin-pipeline doctor`` prints; with ``repair`` it also fixes what it lists: dead runs (marked failed),
    pool slots held by runs that cannot give them back (freed), orphaned run folders (removed when not resumable).
    Any instance: sqlite (``dagster.yaml``) or PostgreSQL (``deploy/postgres/dagster.yaml``)."""
    lines = []
    if repair:
        lines += repair_dead_runs(instance)
        lines += free_dead_holders(instance)
    else:
        lines += [
            f"dead run {r.run_id} ({r.job_name}, pid {r.tags[PID_TAG]}): process gone" for r in dead_runs(instance)
        ]
    lines += slot_lines(instance)
    lines += unseen_runs(instance)
    lines += corrupt_files(data_dir)
    for folder, removable, why in orphan_folders(instance, data_dir):
        if repair and removable:
            shutil.rmtree(folder, ignore_errors=True)
            lines.append(f"removed orphaned run folder {folder} ({why})")
        else:
            lines.append(f"orphaned run folder {folder}: {why}")
    return lines or ["nothing to repair: no dead runs, no held pool slots, no orphaned run folders, no corrupt file"]


def corrupt_files(data_dir: Path) -> list[str]:
    """One line per stored file that fails its hash: the published checkpoints (``best.pt`` of each fold and live
    model), every JSON document, every Parquet file's footer (its metadata; cheap: no table is read). The
    archive of ``fin-pipeline rebuild`` and training run folders are left out."""
    from fin_pipeline.store.parquet import StorageError, read_json, read_parquet_meta
    from fin_pipeline.training.checkpoint import read_checkpoint

    root = Path(data_dir)
    readers = (("*/*/best.pt", read_checkpoint), ("**/*.json", read_json), ("**/*.parquet", read_parquet_meta))
    lines = []
    for pattern, read in readers:
        for path in sorted(root.glob(pattern)) if root.is_dir() else []:
            parts = path.relative_to(root).parts
            if parts[0] == "archive" or "runs" in parts:
                continue
            try:
                read(path)
            except StorageError as exc:
                lines.append(f"corrupt file: {exc}")
    return lines
