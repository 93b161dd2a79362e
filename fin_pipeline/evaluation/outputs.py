"""Whether a fold's (or a night's live model's) stored outputs are all there and intact, for the nightly planner.

"Up to date" means more than matching versions: every file a fold's chain writes must be present and match the
hash written with it. What is missing or corrupt is recomputed from the nearest intact input, and the plan says
which file and why:

* a checkpoint (``models/<fold>/best.pt``, or ``last.pt`` whose history the report draws) missing or corrupt:
  the fold is retrained;
* the boundaries or normalization (``folds/<fold>.json``, ``normalization/<fold>.json``), the scored files
  (``metrics/<fold>/{predictions,metrics,backtest}.parquet``) or ``scored.json`` missing or corrupt, the
  checkpoint intact: the fold is re-scored from it (``fold_rescore_job`` recomputes the boundaries and the
  normalization from the rows, then scores the stored model), never retrained;
* scored files of another checkpoint than the stored one (a training whose scoring never ran): re-scored.

Each check reads the file through the reader that verifies its hash (:func:`fin_pipeline.store.parquet.read_parquet`,
:func:`~fin_pipeline.store.parquet.read_json`, :func:`fin_pipeline.training.checkpoint.read_checkpoint`), so what
the planner calls intact is what the assets will accept.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from fin_pipeline.store import layout
from fin_pipeline.store.parquet import StorageError, read_json, read_parquet


@dataclasses.dataclass(frozen=True)
class Stored:
    """One stored file as the planner found it: its content (None when missing or corrupt) and, if so, why."""

    value: Any = None
    problem: str = ""  # "" when intact; else "<path> is missing" or "<path> is corrupt (<the reader's words>)"

    @property
    def ok(self) -> bool:
        return not self.problem

    @property
    def missing(self) -> bool:
        return self.problem.endswith(" is missing")


def _said(store, path: Path) -> str:
    return store.describe(path)


def _missing(store, path: Path) -> Stored:
    return Stored(problem=f"{_said(store, path)} is missing")


def _corrupt(store, path: Path, exc: Exception) -> Stored:
    # the reader's words without its path (said already) and its advice (the plan is the advice here)
    words = str(exc).split("; ")[0].replace(f"checkpoint {path}", "checkpoint").replace(f"{path}: ", "")
    return Stored(problem=f"{_said(store, path)} is corrupt ({words})")


def _checked(store, path: Path, read) -> Stored:
    """``read(local file)`` of the stored file at ``path`` (pulled first), or why it is missing or corrupt."""
    local = store.pull(path)
    if not local.is_file():
        return _missing(store, path)
    try:
        return Stored(read(local))
    except StorageError as exc:
        return _corrupt(store, path, exc)


def document(store, path: Path) -> Stored:
    """A JSON document of the store (``write_json``), checked against its hash."""
    return _checked(store, path, read_json)


def checkpoint(store, path: Path) -> Stored:
    """A checkpoint's ``extra`` (its identity: versions, boundaries, normalization), its content hash checked."""
    from fin_pipeline.training.checkpoint import read_checkpoint  # torch: only when a checkpoint is checked

    return _checked(store, path, lambda local: read_checkpoint(local).get("extra") or {})


def table(store, path: Path) -> Stored:
    """A Parquet file's metadata, its content and metadata checked against its file hash (the whole file read)."""
    return _checked(store, path, lambda local: read_parquet(local)[1])


def fold_scores_problem(store, key: str, model_extra: dict) -> str:
    """Why the fold's scored outputs must be recomputed from its intact checkpoint ("" when they are all intact and
    scored that checkpoint)."""
    from fin_pipeline.training.versions import checkpoint_model_version

    if not (found := document(store, store.normalization_path(key))).ok:
        return found.problem
    folder = Path(store.metrics_dir(key))
    for name in ("predictions", "metrics", "backtest"):
        found = table(store, folder / f"{name}.parquet")
        if not found.ok:
            return found.problem
        scored = found.value.get("model_version")
        if scored and "data_version" in model_extra and scored != checkpoint_model_version({"extra": model_extra}):
            return f"{_said(store, folder / f'{name}.parquet')} scored another checkpoint than the stored one"
    found = document(store, folder / layout.SCORED_FILE)
    return found.problem


def repair_words(problem: str, action: str) -> str:
    """The plan's reason for a repair: what is wrong and what is done about it."""
    if action == "train":
        return f"{problem}: retrained"
    return f"{problem}: re-scored from the intact checkpoint, not retrained"
