"""The nightly path: what each fold needs after a data refresh, decided by its row versions.

For every fold whose period has begun in the data, the fold's data version and training version are recomputed
from the current rows (:mod:`fin_pipeline.training.versions`; cheap: no model is loaded) and compared with what
the fold's last scoring stored beside its metrics (``scored.json``: the fold version the metrics saw, and the
training version of the checkpoint they scored, so a fold record rewritten on its own cannot hide a stale model):

* ``train``: no checkpoint yet, or the training rows or boundaries changed (a new fold at a period rollover, a
  corrected history, a changed fold config): the whole fold chain runs, training included;
* ``rescore``: the model's rows are unchanged but the test rows are not (the open fold with new days): the
  fold's boundaries, normalization and metrics are recomputed, the model is not retrained;
* ``skip``: nothing the fold reads changed (every closed fold, every night): nothing runs, no file is written.

The live model is planned the same way (:func:`plan_live`): its :func:`~fin_pipeline.training.versions.model_version`
(the training rows, the training configuration with its seed, the code) is known before training; when tonight's
live folder already holds a model of that version, nothing is trained and nothing is written ("up to date").

The headless ``fin-pipeline run`` follows this plan and prints it; ``--retrain`` trains every fold instead.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from fin_pipeline.features.windows import WindowSet
from fin_pipeline.storage import read_json
from fin_pipeline.training.folds import FoldSpec, compute_folds
from fin_pipeline.training.splits import FoldBoundaries
from fin_pipeline.training.versions import code_version, fold_version, model_version, training_version

ACTIONS = ("train", "rescore", "skip")
SCORED_FILE = "scored.json"  # beside a fold's metrics: the fold version they saw, the training rows of the model
LIVE_FILE = "live.json"  # beside a live checkpoint: its boundaries, normalization, versions and forecast date


@dataclasses.dataclass(frozen=True)
class FoldPlan:
    fold: str
    action: str  # one of ACTIONS
    reason: str  # in words, for the progress line
    is_open: bool
    test_end: str


def plan_folds(ws: WindowSet, spec: FoldSpec, store, keys: list[str], horizon: int = 1) -> list[FoldPlan]:
    """One :class:`FoldPlan` per fold key, in key order (``store``: a :class:`~fin_pipeline.resources.DataStore`)."""
    folds = {f.fold: f for f in compute_folds(ws, spec, horizon)}
    plans = []
    for key in keys:
        fold = folds[key]
        path, scored = store.pull(store.fold_path(key)), store.pull(Path(store.metrics_dir(key)) / SCORED_FILE)
        stored = read_json(path) if path.is_file() else {}
        scored = read_json(scored) if scored.is_file() else {}  # what the fold's metrics saw, and its model's rows
        model_rows = scored.get("training_version", stored.get("training_version"))
        scored_version = scored.get("data_version")
        if not stored or not store.exists(Path(store.model_dir(key)) / "best.pt"):
            action, reason = "train", "new fold"
        elif model_rows != training_version(ws, fold):
            action, reason = "train", "its training rows or boundaries changed"
        elif scored_version != fold_version(ws, fold, spec.to_dict()):
            action, reason = "rescore", f"new test rows (to {fold.test_end}); the model is unchanged"
        else:
            action, reason = "skip", "unchanged"
        plans.append(FoldPlan(key, action, reason, fold.is_open, str(fold.test_end)))
    return plans


@dataclasses.dataclass(frozen=True)
class LivePlan:
    action: str  # "train" or "skip"
    reason: str  # in words
    fold: FoldBoundaries  # the live model's training | gap | tuning cut as of the data's last day
    versions: dict[str, str]  # data_version, code_version, model_version, as_of: what the checkpoint stores


def plan_live(ws: WindowSet, spec: FoldSpec, train: dict, store, night: str, horizon: int = 1) -> LivePlan:
    """Whether tonight's live model (forecast date ``night``) must be trained: not when the night's folder holds a
    checkpoint and record of the same model version (``train``: ``dataclasses.asdict`` of the training spec).
    ``ValueError`` when the data cannot be cut into a live model's blocks."""
    from fin_pipeline.training.live import live_boundaries  # torch: only when a live model is planned

    fold = live_boundaries(ws, spec, horizon)
    data = training_version(ws, fold)
    code = code_version()
    versions = {
        "data_version": data,
        "code_version": code,
        "model_version": model_version(data, train, code),
        "as_of": str(fold.test_start),
    }
    folder = store.live_dir(night)
    record = store.pull(folder / LIVE_FILE)
    stored = read_json(record).get("model_version") if record.is_file() else None
    if stored == versions["model_version"] and store.exists(folder / "best.pt"):
        return LivePlan("skip", f"model {stored} already trained on this data", fold, versions)
    reason = (
        "no live model for this night yet" if stored is None else f"model {stored} is not {versions['model_version']}"
    )
    return LivePlan("train", reason, fold, versions)
