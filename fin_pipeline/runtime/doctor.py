"""Dead runs and orphaned run folders: detect, list, repair (``fin-pipeline doctor``; also on CLI start).

A run executed in process by ``fin-pipeline run`` carries tags naming its process (host, pid and the
process's start time, so a recycled pid is not mistaken for it). A run still ``STARTING``/``STARTED``/
``CANCELING`` whose process is gone is dead: it is marked failed and its pool slots are freed, so that later
``training`` steps are not blocked forever. Runs launched by the daemon are watched by Dagster's run
monitoring (``run_monitoring`` in ``dagster.yaml``).

Orphaned run folders (``data/models/*/runs/<run_id>/`` of runs no longer active) are listed; ``--repair``
removes those that can no longer be resumed (no ``last.pt``, or the fold was published after them) and keeps
the resumable ones, which the next run of their fold picks up.

Corrupt stored files are listed too (:func:`corrupt_files`: the published checkpoints, every JSON document and
every Parquet file's metadata, each against its hash; the Parquet tables are checked where they are read):
nothing is removed, the line says what rebuilds the file.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

PID_TAG, HOST_TAG, START_TAG = "fin_pipeline/pid", "fin_pipeline/host", "fin_pipeline/proc_start"
LIVE_STATUSES = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]


def _proc_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux ``/proc``); "" where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 of stat, counted after the command name


def process_tags() -> dict[str, str]:
    """Tags that name this process, for the runs it executes in process."""
    pid = os.getpid()
    return {PID_TAG: str(pid), HOST_TAG: socket.gethostname(), START_TAG: _proc_start(pid)}


def process_alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's live process
    return not start or not Path("/proc").is_dir() or _proc_start(pid) == start


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
    holders = [_describe_run(instance, slot.run_id, slot.step_key) for slot in info.claimed_slots]
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


def _describe_run(instance: DagsterInstance, run_id: str, step_key: str) -> str:
    run = instance.get_run_by_id(run_id)
    if run is None:
        return f"{step_key} of unknown run {run_id}"
    where = f", pid {run.tags[PID_TAG]} on {run.tags.get(HOST_TAG)}" if PID_TAG in run.tags else ""
    partition = run.tags.get("dagster/partition", "-")
    return f"{step_key} of run {run_id} ({run.job_name} {partition}, {run.status.value}{where})"


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


def doctor(instance: DagsterInstance, data_dir: Path, repair: bool) -> list[str]:
    """What ``fin-pipeline doctor`` prints; with ``repair`` it also fixes what it lists."""
    lines = []
    if repair:
        lines += repair_dead_runs(instance)
    else:
        lines += [
            f"dead run {r.run_id} ({r.job_name}, pid {r.tags[PID_TAG]}): process gone" for r in dead_runs(instance)
        ]
    lines += corrupt_files(data_dir)
    for folder, removable, why in orphan_folders(instance, data_dir):
        if repair and removable:
            shutil.rmtree(folder, ignore_errors=True)
            lines.append(f"removed orphaned run folder {folder} ({why})")
        else:
            lines.append(f"orphaned run folder {folder}: {why}")
    return lines or ["nothing to repair: no dead runs, no orphaned run folders, no corrupt file"]


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
