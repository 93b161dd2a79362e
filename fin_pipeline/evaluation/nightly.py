"""The nightly path: what each fold needs after a data refresh, decided by its row versions.

For every fold whose period has begun in the data, the fold's data version and training version are recomputed
from the current rows (:mod:`fin_pipeline.training.versions`; cheap: no model is loaded) and compared with what
the fold's last scoring stored beside its metrics (``scored.json``: the fold version the metrics saw, and the
training version of the checkpoint they scored, so a fold record rewritten on its own cannot hide a stale model):

* ``train``: no checkpoint yet, or the training rows or boundaries changed (a new fold at a period rollover, a
  corrected history, a changed fold config), or the checkpoint is missing or corrupt: the whole fold chain runs,
  training included;
* ``rescore``: the model's rows are unchanged but the test rows are not (the open fold with new days), or an
  output after the checkpoint (boundaries, normalization, scored files, ``scored.json``) is missing or corrupt
  while the checkpoint is intact: the fold's boundaries, normalization and metrics are recomputed, the model is
  not retrained;
* ``skip``: nothing the fold reads changed and every output is present and matches its hash (every closed fold,
  every night; see :mod:`fin_pipeline.evaluation.outputs`): nothing runs, no file is written;
  also a fold that was closed when it was scored and whose rows were restated since (a split or dividend
  re-adjusting past prices beyond the candles' tolerance): a closed fold is a record of what was known then;
* ``refuse``: running it would rewrite what is stored: the boundaries of a stored fold would move (a closed
  fold's blocks, an open fold's training or tuning block or the start of its test block: a changed fold rule or
  ``min_tickers``, a history start moved). :func:`check_plans` refuses the whole night, before anything is
  written, naming each fold, what would change, and ``fin-pipeline rebuild --from DATE``.

The training configuration is checked where it is read (every training reads the data directory's
configuration file, see :mod:`fin_pipeline.training.configuration`); a fold trained with an earlier
configuration is left alone here, and the report refuses to stitch folds of different configurations.

Folds after the last day with ``min_tickers`` tickers are not planned (a thinned universe): see
:func:`fin_pipeline.training.folds.universe_end_message`, which says why.

The live model is planned the same way (:func:`plan_live`): its :func:`~fin_pipeline.training.versions.model_version`
(the training rows, the training configuration with its seed, the code) is known before training; when tonight's
live folder already holds an intact model of that version, nothing is trained and nothing is written ("up to
date"); a corrupt ``live.json`` or ``best.pt`` is trained again.

The night itself (:func:`plan_night`) is one planner for the headless ``fin-pipeline run``, the ``nightly_retrain``
schedule and its follow-up sensor: one ``candles_job`` run per ticker, then one run per fold to train or re-score,
then tonight's forecast whatever happened to the folds, then the board (one run per enabled model × fold that
ran tonight, or whose board file is missing or corrupt: :func:`~fin_pipeline.evaluation.board.plan_board`) and
the leaderboard, then the paper record and the report (the record alone when a fold failed: the report needs every
fold). ``--retrain`` trains every fold instead (:func:`retrain_all`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

from fin_pipeline.evaluation import outputs
from fin_pipeline.features.windows import WindowSet
from fin_pipeline.sources.update import HistoryRewrite, rebuild_command
from fin_pipeline.training.fold_boundaries import FoldBoundaries
from fin_pipeline.training.folds import FoldSpec, compute_folds, eligible_days
from fin_pipeline.training.versions import TRAINING_FIELDS, code_version, fold_version, model_version, training_version

ACTIONS = ("train", "rescore", "skip", "refuse")
SCORED_FILE = "scored.json"  # beside a fold's metrics: the fold version they saw, the training rows of the model
LIVE_FILE = "live.json"  # beside a live checkpoint: its boundaries, normalization, versions and forecast date


@dataclasses.dataclass(frozen=True)
class FoldPlan:
    fold: str
    action: str  # one of ACTIONS
    reason: str  # in words, for the progress line
    is_open: bool
    test_end: str
    restated: bool = False  # a closed fold kept as recorded although its rows were restated since
    repair: str = ""  # the missing or corrupt output this plan recomputes ("" when none), for the progress line


def plan_folds(
    ws: WindowSet,
    spec: FoldSpec,
    store,
    keys: list[str],
    horizon: int = 1,
    fold_windows: Callable[[FoldBoundaries], WindowSet] | None = None,
) -> list[FoldPlan]:
    """One :class:`FoldPlan` per fold key that the eligible days can cut, in key order (``store``: a
    :class:`~fin_pipeline.defs.resources.DataStore`). ``fold_windows``: the windows a fold reads (a point-in-time
    universe's, as of its test start); None: ``ws`` for every fold."""
    folds = {}
    if len(eligible_days(ws, spec)) and keys:  # no eligible day at all: universe_end_message says why
        folds = {f.fold: f for f in compute_folds(ws, spec, horizon)}
    plans = []
    for key in keys:
        fold = folds.get(key)
        if fold is None:
            continue
        action, reason, restated, repair = _plan_fold(fold_windows(fold) if fold_windows else ws, spec, store, fold)
        plans.append(FoldPlan(key, action, reason, fold.is_open, str(fold.test_end), restated, repair))
    return plans


def _plan_fold(ws: WindowSet, spec: FoldSpec, store, fold) -> tuple[str, str, bool, str]:
    """``(action, reason, restated, repair)`` of one fold (see :func:`plan_folds`; ``repair``: the missing or
    corrupt output that the action recomputes, "" when none)."""
    key = fold.fold
    record = outputs.document(store, store.fold_path(key))
    model = outputs.checkpoint(store, Path(store.model_dir(key)) / "best.pt")
    stored = record.value or {}
    if model.missing:  # never trained (a new fold, or its first training failed), or its checkpoint deleted
        if not stored:
            return "train", "new fold", False, ""
        return "train", outputs.repair_words(model.problem, "train"), False, model.problem
    if stored and (moved := boundary_changes(stored, fold.to_dict())):
        was_closed = stored.get("is_open") is False
        return "refuse", f"its {'closed ' if was_closed else ''}blocks would move: {'; '.join(moved)}", False, ""
    if not model.ok:  # the checkpoint itself is bad: only a training makes it again
        return "train", outputs.repair_words(model.problem, "train"), False, model.problem
    last = outputs.checkpoint(store, Path(store.model_dir(key)) / "last.pt")  # the report's learning curves
    if not last.ok:
        return "train", outputs.repair_words(last.problem, "train"), False, last.problem
    rows = training_version(ws, fold)
    if not record.ok:  # the boundaries are recomputed from the rows; the model stays if it read the same rows
        if model.value.get("data_version") != rows:
            return "train", f"{record.problem}, and its training rows changed", False, record.problem
        return "rescore", outputs.repair_words(record.problem, "rescore"), False, record.problem
    scored = outputs.document(store, Path(store.metrics_dir(key)) / SCORED_FILE)
    model_rows = (scored.value or {}).get("training_version", stored.get("training_version"))
    was_closed = stored.get("is_open") is False
    if model_rows != rows and not was_closed:
        return "train", "its training rows changed (restated history)", False, ""
    # Every output of the fold present and intact, else it is re-scored from the intact checkpoint; before the
    # versions are compared, so that a missing scored.json is never taken for a restatement.
    if problem := outputs.fold_scores_problem(store, key, model.value):
        return "rescore", outputs.repair_words(problem, "rescore"), False, problem
    if scored.value.get("data_version") != fold_version(ws, fold, spec.to_dict()):
        if was_closed:  # only a restatement changes a closed fold's rows: the record of then is kept
            return "skip", "closed; its rows were restated since: kept as recorded", True, ""
        return "rescore", f"new test rows (to {fold.test_end}); the model is unchanged", False, ""
    return "skip", "unchanged", False, ""


@dataclasses.dataclass(frozen=True)
class LivePlan:
    action: str  # "train" or "skip"
    reason: str  # in words
    fold: FoldBoundaries  # the live model's training | gap | tuning cut as of the data's last day
    versions: dict[str, str]  # data_version, code_version, model_version, as_of: what the checkpoint stores
    repair: str = ""  # the missing or corrupt live file this training makes again ("" when none)


def plan_live(ws: WindowSet, spec: FoldSpec, train: dict, store, night: str, horizon: int = 1) -> LivePlan:
    """Whether tonight's live model (forecast date ``night``) must be trained: not when the night's folder holds a
    checkpoint and record of the same model version (``train``: ``dataclasses.asdict`` of the training spec).
    ``ValueError`` when the data cannot be cut into a live model's blocks."""
    from fin_pipeline.evaluation.live import live_boundaries  # torch: only when a live model is planned

    fold = live_boundaries(ws, spec, horizon)
    data = training_version(ws, fold)
    code = code_version()
    versions = {
        "data_version": data,
        "code_version": code,
        "model_version": model_version(data, train, code),
        "as_of": str(fold.test_start),
    }
    folder = Path(store.live_dir(night))
    record = outputs.document(store, folder / LIVE_FILE)
    stored = (record.value or {}).get("model_version")
    if record.problem and not record.missing:
        return LivePlan("train", outputs.repair_words(record.problem, "train"), fold, versions, record.problem)
    if stored == versions["model_version"]:
        model = outputs.checkpoint(store, folder / "best.pt")  # present and intact, or trained again
        if model.ok:
            return LivePlan("skip", f"model {stored} already trained on this data", fold, versions)
        return LivePlan("train", outputs.repair_words(model.problem, "train"), fold, versions, model.problem)
    reason = (
        "no live model for this night yet" if stored is None else f"model {stored} is not {versions['model_version']}"
    )
    return LivePlan("train", reason, fold, versions)


def restated_since(ws: WindowSet, stored: dict) -> bool:
    """Whether a fold record stored closed (``walk_forward_folds``' JSON) no longer matches the rows: its rows were
    restated since it was scored. Such a fold is kept as recorded: no fold asset rewrites it."""
    if stored.get("is_open") is not False or "data_version" not in stored:
        return False
    return fold_version(ws, FoldBoundaries.from_dict(stored), stored.get("spec", {})) != stored["data_version"]


def boundary_changes(stored: dict, new: dict) -> list[str]:
    """What would move in a stored fold's boundaries, ``"train_end 2020-06-30 -> 2020-06-23"``: any block of a fold
    stored closed; the training and tuning blocks and the test start of one stored open (its test block may grow)."""
    fields = [*TRAINING_FIELDS, "test_start"]
    if stored.get("is_open") is False:
        fields.append("test_end")
    moved = [f"{k} {stored.get(k)} -> {new.get(k)}" for k in fields if k in stored and stored.get(k) != new.get(k)]
    if stored.get("is_open") and "test_end" in stored and str(new["test_end"]) < str(stored["test_end"]):
        moved.append(f"test_end {stored['test_end']} -> {new['test_end']} (days already scored would go)")
    return moved


def check_plans(plans: list[FoldPlan]) -> None:
    """Raise :class:`HistoryRewrite` when any fold of the plan would rewrite what is stored (before any write)."""
    refused = [p for p in plans if p.action == "refuse"]
    if refused:
        lines = "; ".join(f"fold {p.fold}: {p.reason}" for p in refused)
        raise HistoryRewrite(
            f"this run would rewrite stored folds: {lines}. Nothing was written. To rebuild them deliberately "
            f"(what is replaced is archived, never deleted): {rebuild_command(refused[0].fold)}"
        )


# The night's runs, stage by stage. Jobs are named here so that every caller dispatches the same job per action.
DATA_JOB = "candles_job"
FOLD_JOBS = {"train": "walk_forward_job", "rescore": "fold_rescore_job"}  # the fold actions that run a job
FORECAST_JOB, RECORD_JOB, REPORT_JOB = "forecast_job", "record_job", "report_job"
BOARD_JOB, LEADERBOARD_JOB = "board_job", "leaderboard_job"  # one model × fold ("fold|model"); the leaderboard
SUCCESS, FAILED, RUNNING = "success", "failed", "running"  # a run's outcome as the planner reads it


@dataclasses.dataclass(frozen=True)
class PlannedRun:
    job: str
    partition: str | None = None  # the ticker or the fold; None for the forecast (its date: the caller's) and after
    plan: FoldPlan | None = None  # a fold run's plan


@dataclasses.dataclass(frozen=True)
class Tonight:
    """What tonight's runs after the data refresh did so far, as the planner reads it."""

    folds_planned: bool = False  # tonight's fold runs were requested (a fold plan is read once a night)
    folds_ran: int = 0  # fold runs requested tonight
    folds_failed: tuple[str, ...] = ()  # folds whose run failed or was canceled
    folds_pending: tuple[str, ...] = ()  # folds whose run has not finished
    forecast: str | None = None  # tonight's forecast run: None (not run), SUCCESS, FAILED or RUNNING
    record: str | None = None  # tonight's record_job run, likewise
    report: str | None = None  # tonight's report_job run, likewise
    board_planned: bool = False  # tonight's board runs were requested
    board_ran: int = 0  # board runs requested tonight
    board_failed: tuple[str, ...] = ()  # board partitions ("fold|model") whose run failed or was canceled
    board_pending: tuple[str, ...] = ()  # board partitions whose run has not finished
    leaderboard: str | None = None  # tonight's leaderboard_job run: None, SUCCESS, FAILED or RUNNING


@dataclasses.dataclass(frozen=True)
class NightStep:
    """What to start now; when nothing, ``reason`` says why (waiting on a run, the night done, up to date)."""

    runs: tuple[PlannedRun, ...] = ()
    reason: str = ""
    failed: tuple[str, ...] = ()  # tonight's failed folds, sorted
    up_to_date: bool = False  # nothing ran tonight and the forecast, record and report are stored


def data_runs(tickers: Sequence[str]) -> list[PlannedRun]:
    """The night's first stage: one ``candles_job`` run per ticker (raw candles, then feature windows)."""
    return [PlannedRun(DATA_JOB, ticker) for ticker in tickers]


def retrain_all(plans: Sequence[FoldPlan]) -> list[FoldPlan]:
    """Every fold to train, but those kept as recorded after a restatement (``rebuild --from`` rewrites them)."""
    return [p if p.restated else dataclasses.replace(p, action="train", reason="--retrain") for p in plans]


def plan_night(
    plans: Sequence[FoldPlan],
    tonight: Tonight,
    *,
    forecast_current: bool = False,
    report_current: bool = False,
    board: Sequence[str] = (),
    leaderboard_current: bool = True,
) -> NightStep:
    """The night's next runs after the data refresh, from the fold plans and what tonight's runs did so far.

    In order, each stage once the one before it has finished: one run per fold to train (``walk_forward_job``) or
    re-score (``fold_rescore_job``), none for a fold left alone; tonight's forecast (``forecast_job``), whatever
    happened to the folds; then ``report_job`` (the paper record, then the report) when every fold run succeeded,
    else ``record_job`` (the record alone). ``forecast_current``: tonight's live model and forecast are stored,
    so no forecast run; ``report_current``: the record and report are stored, so a night where nothing ran and
    nothing failed is up to date, with no run at all. After the forecast, ``board`` (the board partitions
    "fold|model" to run tonight: :func:`~fin_pipeline.evaluation.board.plan_board`) run, one ``board_job`` each
    (none on a night whose fold run failed: the leaderboard, like the report, needs every fold),
    then ``leaderboard_job`` when they and every fold run succeeded (or when none ran and the stored leaderboard is
    not ``leaderboard_current``); a failed board run holds back the leaderboard only, never the record or report."""
    if not tonight.folds_planned:
        runs = tuple(PlannedRun(FOLD_JOBS[p.action], p.fold, p) for p in plans if p.action in FOLD_JOBS)
        if runs:
            return NightStep(runs)
    if tonight.folds_pending:
        return NightStep(reason=f"fold runs not finished yet: {list(tonight.folds_pending)}")
    failed = tuple(sorted(tonight.folds_failed))
    if tonight.forecast is None and not forecast_current:
        return NightStep((PlannedRun(FORECAST_JOB),), failed=failed)
    if tonight.forecast == RUNNING:
        return NightStep(reason="the forecast run is not finished yet", failed=failed)
    if board and not tonight.board_planned and not failed:  # the leaderboard needs every fold, as the report does
        return NightStep(tuple(PlannedRun(BOARD_JOB, key) for key in board), failed=failed)
    if tonight.board_pending:
        return NightStep(reason=f"board runs not finished yet: {list(tonight.board_pending)}", failed=failed)
    wanted = (tonight.board_ran or not leaderboard_current) and not (tonight.board_failed or failed)
    if wanted and tonight.leaderboard is None:
        return NightStep((PlannedRun(LEADERBOARD_JOB),), failed=failed)
    if tonight.leaderboard == RUNNING:
        return NightStep(reason="the leaderboard run is not finished yet", failed=failed)
    ran = tonight.folds_ran or tonight.board_ran or tonight.leaderboard is not None
    if not failed and not ran and tonight.forecast is None and report_current:
        return NightStep(reason="up to date", failed=failed, up_to_date=True)
    job, status = (RECORD_JOB, tonight.record) if failed else (REPORT_JOB, tonight.report)
    if status is None:
        return NightStep((PlannedRun(job),), failed=failed)
    if status == RUNNING:
        return NightStep(reason=f"the {job} run is not finished yet", failed=failed)
    if failed:
        return NightStep(
            reason=f"fold runs failed: {list(failed)}; forecast and paper record done, no report", failed=failed
        )
    return NightStep(reason="forecast, paper record and report done", failed=failed)
