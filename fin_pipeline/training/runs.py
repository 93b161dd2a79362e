"""Run folders of a fold: resume across runs, and removal of the folders dead runs leave behind.

Each run of ``trained_model`` trains in ``data/models/{fold}/runs/{run_id}/`` and publishes ``best.pt`` and
``last.pt`` to ``data/models/{fold}/`` only when it finishes. A run that dies (SIGKILL, OOM, a lost machine)
leaves its folder with the ``last.pt`` of its last complete epoch. The next run of the fold resumes from it
when the fold's inputs and config are unchanged: the checkpoint's ``extra`` must hold the same
:data:`RESUME_KEYS` (data version, code version, training spec, fold boundaries, normalization) as the new
run would write; otherwise the new run starts fresh and says which of them changed. Once a run publishes the
fold, the folders of runs that are no longer active are removed.

No dagster here: the caller says which run ids are active.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fin_pipeline.store.layout import BEST, LAST, RUNS
from fin_pipeline.store.parquet import StorageError
from fin_pipeline.training.checkpoint import checkpoint_digest, read_checkpoint, to_plain

RESUME_KEYS = ("data_version", "code_version", "train_spec", "fold", "normalization")


def run_folders(model_dir: Path) -> list[Path]:
    runs = Path(model_dir) / RUNS
    return sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []


def find_resumable(
    model_dir: Path, own_run_id: str, expected: dict[str, Any], is_active: Callable[[str], bool]
) -> tuple[Path | None, list[str]]:
    """The ``last.pt`` of an inactive run of this fold whose versions match ``expected`` (newest first), and a
    note for every folder passed over and why."""
    notes: list[str] = []
    folders = [d for d in run_folders(model_dir) if d.name != own_run_id and not is_active(d.name)]
    folders.sort(key=lambda d: (d / LAST).stat().st_mtime if (d / LAST).is_file() else 0, reverse=True)
    want = {k: checkpoint_digest(to_plain(expected.get(k))) for k in RESUME_KEYS}
    for folder in folders:
        last = folder / LAST
        if not last.is_file():
            notes.append(f"{folder}: no last.pt (the run died before its first epoch ended)")
            continue
        try:
            extra = read_checkpoint(last).get("extra") or {}
        except StorageError as exc:
            notes.append(f"{last}: not usable: {exc}")
            continue
        changed = [k for k in RESUME_KEYS if checkpoint_digest(extra.get(k)) != want[k]]
        if changed:
            notes.append(f"{last}: not resumed, starting fresh: {', '.join(changed)} changed since that run")
            continue
        return last, notes
    return None, notes


def adopt(last: Path, workdir: Path) -> None:
    """Copy a dead run's ``last.pt`` (and ``best.pt``) into ``workdir``, where the trainer resumes from it."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in (LAST, BEST):
        if (last.parent / name).is_file():
            shutil.copyfile(last.parent / name, workdir / name)


def resume_from_dead_run(
    model_dir: Path,
    workdir: Path,
    expected: dict[str, Any],
    is_active: Callable[[str], bool],
    log: Callable[[str], None],
) -> str | None:
    """Adopt the newest matching dead run's last epoch into ``workdir``; that run's id, or None if there was none."""
    last, notes = find_resumable(model_dir, workdir.name, expected, is_active)
    for note in notes:
        log(note)
    if last is None:
        return None
    adopt(last, workdir)
    log(f"resuming from the last complete epoch of dead run {last.parent.name}: {last}")
    return last.parent.name


def remove_orphans(model_dir: Path, is_active: Callable[[str], bool], keep: str | None = None) -> list[Path]:
    """Remove the run folders of ``model_dir`` whose run is not active (the fold is published); return them."""
    removed = []
    for folder in run_folders(model_dir):
        if folder.name != keep and not is_active(folder.name):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed
