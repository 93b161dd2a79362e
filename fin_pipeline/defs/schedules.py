"""The nightly retrain: a schedule refreshes the data, a sensor then does the rest of the night in order.

``nightly_retrain`` (21:30 New York, Monday to Friday: after the close, and after 20:00 when the daily bar is
final) requests one ``candles_job`` run per ticker, tagged with the night's date. ``nightly_retrain_followup``
watches that night's runs: once every ticker run has succeeded it plans the folds by their row versions
(:func:`~fin_pipeline.evaluation.nightly.plan_folds`), and asks the night's planner
(:func:`~fin_pipeline.evaluation.nightly.plan_night`, the one ``fin-pipeline run`` follows) for the next stage:
one ``walk_forward_job`` run per new or changed fold, one ``fold_rescore_job`` run for the open fold with new days
(no training), nothing for unchanged closed folds; once those have finished (succeeded or not: a fold whose
training or statistics failed never holds back the forecast), one ``forecast_job`` run for tonight's forecast date
(``live_model``, then ``forecasts``; the date is added to the dynamic ``forecast_dates`` partitions), and once
that has finished, one ``report_job`` run (``live_record``, which scores the forecasts whose targets are now
realized, then ``walk_forward_report``) when every fold succeeded, else one ``record_job`` run (the paper record
alone: the report needs every fold). Between the forecast and the report, the board: one ``board_job`` run per
enabled model (FIN_PIPELINE_MODELS) × fold that ran tonight or whose board file is missing or corrupt, then one
``leaderboard_job`` run; a model that is not enabled is never trained here.
Run keys make each request happen once a night; a failed ticker run holds the retrain back (the sensor says so),
rather than training on stale data. The runs carry no training config: every training reads the data directory's
training configuration (``fin_pipeline.yaml``), as the CLI and a UI materialization do. A night whose plan would
rewrite stored folds, or a universe too thin to cut its folds, is skipped with the reason (the CLI's words).
"""

from collections.abc import Iterable

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    schedule,
    sensor,
)

from fin_pipeline.defs.assets.board import board_models
from fin_pipeline.defs.assets.folds import FoldConfig
from fin_pipeline.defs.assets.universe import data_fold_keys, load_universe
from fin_pipeline.defs.jobs import (
    board_job,
    candles_job,
    fold_rescore_job,
    forecast_job,
    leaderboard_job,
    record_job,
    report_job,
    walk_forward_job,
)
from fin_pipeline.defs.partitions import forecast_partitions, ticker_partitions
from fin_pipeline.defs.resources import DataStore
from fin_pipeline.defs.run_source import launch_tags
from fin_pipeline.evaluation import outputs
from fin_pipeline.evaluation.board import plan_board
from fin_pipeline.evaluation.live import data_end, next_session
from fin_pipeline.evaluation.nightly import (
    BOARD_JOB,
    DATA_JOB,
    FAILED,
    FOLD_JOBS,
    FORECAST_JOB,
    LEADERBOARD_JOB,
    RECORD_JOB,
    REPORT_JOB,
    RUNNING,
    SUCCESS,
    Tonight,
    check_plans,
    data_runs,
    plan_folds,
    plan_night,
)
from fin_pipeline.sources.update import HistoryRewrite
from fin_pipeline.store import layout
from fin_pipeline.training.folds import universe_end_message

NIGHTLY_CRON = "30 21 * * 1-5"
NIGHTLY_TAG = "fin_pipeline/nightly"
FINISHED = (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)


@schedule(job=candles_job, cron_schedule=NIGHTLY_CRON, execution_timezone="America/New_York")
def nightly_retrain(context: ScheduleEvaluationContext):
    """Every weeknight after the close: refresh every ticker; the follow-up sensor retrains the folds."""
    night = context.scheduled_execution_time.strftime("%Y-%m-%d")
    # The source resolved here, where the runs are launched, goes with each run (defs/run_source.py).
    tags = {NIGHTLY_TAG: night, **launch_tags()}
    return [
        RunRequest(run_key=f"nightly-{night}-{r.partition}", partition_key=r.partition, tags=tags)
        for r in data_runs(ticker_partitions.get_partition_keys())
    ]


def _latest_by_partition(context: SensorEvaluationContext, job: str, night: str) -> dict[str, DagsterRunStatus]:
    runs = context.instance.get_runs(RunsFilter(job_name=job, tags={NIGHTLY_TAG: night}))  # newest first
    latest: dict[str, DagsterRunStatus] = {}
    for run in runs:
        latest.setdefault(run.tags.get("dagster/partition", ""), run.status)
    return latest


def _outcome(statuses: Iterable[DagsterRunStatus]) -> str | None:
    """The planner's word for a stage's runs: None (no run), RUNNING (one not finished), FAILED or SUCCESS."""
    statuses = list(statuses)
    if not statuses:
        return None
    if any(s not in FINISHED for s in statuses):
        return RUNNING
    return SUCCESS if all(s == DagsterRunStatus.SUCCESS for s in statuses) else FAILED


def _tonight(context: SensorEvaluationContext, night: str, folds: dict[str, DagsterRunStatus]) -> Tonight:
    """What the night's tagged runs after the data refresh did so far."""
    board = _latest_by_partition(context, BOARD_JOB, night)
    return Tonight(
        board_planned=bool(board),
        board_ran=len(board),
        board_failed=tuple(k for k, s in board.items() if s in FINISHED and s != DagsterRunStatus.SUCCESS),
        board_pending=tuple(k for k, s in board.items() if s not in FINISHED),
        leaderboard=_outcome(_latest_by_partition(context, LEADERBOARD_JOB, night).values()),
        folds_planned=bool(folds),
        folds_ran=len(folds),
        folds_failed=tuple(f for f, s in folds.items() if s in FINISHED and s != DagsterRunStatus.SUCCESS),
        folds_pending=tuple(f for f, s in folds.items() if s not in FINISHED),
        forecast=_outcome(_latest_by_partition(context, FORECAST_JOB, night).values()),
        record=_outcome(_latest_by_partition(context, RECORD_JOB, night).values()),
        report=_outcome(_latest_by_partition(context, REPORT_JOB, night).values()),
    )


@sensor(
    jobs=[walk_forward_job, fold_rescore_job, forecast_job, board_job, leaderboard_job, record_job, report_job],
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
)
def nightly_retrain_followup(context: SensorEvaluationContext, store: DataStore):
    """After a nightly refresh: train new or changed folds and re-score the open one (closed, unchanged folds are
    left alone), then tonight's forecast, then the record and report, each once all before it finished."""
    tagged = [r for r in context.instance.get_runs(RunsFilter(job_name=DATA_JOB), limit=500) if NIGHTLY_TAG in r.tags]
    if not tagged:
        return SkipReason("no nightly refresh has run yet")
    night = max(r.tags[NIGHTLY_TAG] for r in tagged)
    tags = {NIGHTLY_TAG: night}
    tickers = _latest_by_partition(context, DATA_JOB, night)
    waiting = [t for t in ticker_partitions.get_partition_keys() if tickers.get(t) != DagsterRunStatus.SUCCESS]
    if waiting:
        return SkipReason(f"night {night}: ticker runs not (yet) successful: {waiting}")
    folds = {f: s for job in FOLD_JOBS.values() for f, s in _latest_by_partition(context, job, night).items()}
    plans = []
    if not folds:  # the night's plan, by row versions (read once: the fold runs change what it would say)
        universe = load_universe(store, "nightly_retrain_followup")
        spec, keys = FoldConfig().spec(), data_fold_keys(universe)
        thinned = universe_end_message(universe.windows, spec, keys)
        if thinned:  # the same words as the CLI's and the fold asset's
            return SkipReason(f"night {night}: {thinned}")
        plans = plan_folds(universe.windows, spec, store, keys, universe.horizon, universe.fold_windows)
        try:  # nothing stored is rewritten by accident: the plan against the stored folds
            check_plans(plans)
        except HistoryRewrite as exc:
            return SkipReason(f"night {night}: {exc}")
    tonight = _tonight(context, night, folds)
    board = {}
    finished = tonight.forecast in (SUCCESS, FAILED) and not tonight.folds_failed
    if finished and not (tonight.board_planned or tonight.report or tonight.record):
        board = _board(store, folds)  # read once the folds and the forecast are done: what they wrote counts
    step = plan_night(plans, tonight, **board)
    if not step.runs:
        return SkipReason(f"night {night}: {step.reason}")
    if step.runs[0].job == FORECAST_JOB:  # tonight's live model and forecast, for the session after the data
        date = next_session(data_end(load_universe(store, "nightly_retrain_followup").windows)).isoformat()
        return SensorResult(
            run_requests=[
                RunRequest(run_key=f"nightly-{night}-forecast", job_name=FORECAST_JOB, partition_key=date, tags=tags)
            ],
            dynamic_partitions_requests=[forecast_partitions.build_add_request([date])],
        )
    requests = [
        RunRequest(
            run_key=f"nightly-{night}-{r.partition or r.job.removesuffix('_job')}",
            job_name=r.job,
            partition_key=r.partition,
            tags=tags,
        )
        for r in step.runs
    ]
    # the fold runs or the board's runs, else the one run of the stage (the leaderboard, the record or report)
    return requests if step.runs[0].plan is not None or step.runs[0].job == BOARD_JOB else requests[0]


def _board(store: DataStore, folds: dict[str, DagsterRunStatus]) -> dict:
    """The planner's board arguments: the enabled models on tonight's successful folds (and any missing or corrupt
    board file, failed folds excepted), and whether the stored leaderboard is intact."""
    ok = [f for f, s in folds.items() if s == DagsterRunStatus.SUCCESS]
    failed = {f for f, s in folds.items() if s != DagsterRunStatus.SUCCESS}
    keys = [k for k in data_fold_keys(load_universe(store, "nightly_retrain_followup")) if k not in failed]
    return {
        "board": plan_board(store, board_models(store), ok, keys),
        "leaderboard_current": outputs.table(store, store.path(layout.leaderboard_file())).ok,
    }
