"""Jobs, and the nightly retrain: a schedule refreshes the data, a sensor then does the rest of the night in order.

``nightly_retrain`` (21:30 New York, Monday to Friday: after the close, and after 20:00 when the daily bar is
final) requests one ``candles_job`` run per ticker, tagged with the night's date. ``nightly_retrain_followup``
watches that night's runs: once every ticker run has succeeded it plans the folds by their row versions
(:mod:`fin_pipeline.evaluation.nightly`): one ``walk_forward_job`` run per new or changed fold, one
``fold_rescore_job`` run
for the open fold with new days (no training), nothing for unchanged closed folds; once those have succeeded,
once those have finished (succeeded or not: a fold whose training or statistics failed never holds back the
forecast), one ``forecast_job`` run for tonight's forecast date (``live_model``, then ``forecasts``; the date is
added to the dynamic ``forecast_dates`` partitions), and once that has finished, one ``report_job`` run
(``live_record``, which scores the forecasts whose targets are now realized, then ``walk_forward_report``) when
every fold succeeded, else one ``record_job`` run (the paper record alone: the report needs every fold).
Run keys make each request happen once a night; a failed ticker run holds the retrain back (the sensor says so),
rather than training on stale data. The runs carry no training config: every training reads the data directory's
training configuration (``fin_pipeline.yaml``), as the CLI and a UI materialization do. A night whose plan would
rewrite stored folds, or a universe too thin to cut its folds, is skipped with the reason (the CLI's words).
"""

from dagster import (
    AssetSelection,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    schedule,
    sensor,
)

from fin_pipeline.defs.assets.candles import raw_candles
from fin_pipeline.defs.assets.features import feature_windows
from fin_pipeline.defs.assets.folds import FoldConfig, normalization_stats, walk_forward_folds
from fin_pipeline.defs.assets.live import forecasts, live_model, live_record
from fin_pipeline.defs.assets.report import walk_forward_report
from fin_pipeline.defs.assets.training import fold_metrics, trained_model
from fin_pipeline.defs.assets.universe import data_fold_keys, load_universe
from fin_pipeline.defs.partitions import forecast_partitions, ticker_partitions
from fin_pipeline.defs.resources import DataStore
from fin_pipeline.evaluation.live import data_end, next_session
from fin_pipeline.evaluation.nightly import check_plans, plan_folds
from fin_pipeline.sources.update import HistoryRewrite
from fin_pipeline.training.folds import universe_end_message

NIGHTLY_CRON = "30 21 * * 1-5"
NIGHTLY_TAG = "fin_pipeline/nightly"
FINISHED = (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)

candles_job = define_asset_job(
    "candles_job",
    selection=AssetSelection.assets(raw_candles, feature_windows),
    description="Fetch or refresh the daily candles of one ticker and rebuild its feature windows.",
)
walk_forward_job = define_asset_job(
    "walk_forward_job",
    selection=AssetSelection.assets(walk_forward_folds, normalization_stats, trained_model, fold_metrics),
    description="One fold: its boundaries, normalization, a freshly trained model and its metrics.",
)
fold_rescore_job = define_asset_job(
    "fold_rescore_job",
    selection=AssetSelection.assets(walk_forward_folds, normalization_stats, fold_metrics),
    description="One fold re-scored without training: its boundaries (new test days), normalization, metrics.",
)
forecast_job = define_asset_job(
    "forecast_job",
    selection=AssetSelection.assets(live_model, forecasts),
    description="Tonight's live model on every realized target, then the next session's forecast.",
)
record_job = define_asset_job(
    "record_job",
    selection=AssetSelection.assets(live_record),
    description="Score the realized forecasts (the paper-trading record) without the report (a fold failed).",
)
report_job = define_asset_job(
    "report_job",
    selection=AssetSelection.assets(live_record, walk_forward_report),
    description="Score the realized forecasts (paper-trading record), then stitch every fold into the report.",
)


@schedule(job=candles_job, cron_schedule=NIGHTLY_CRON, execution_timezone="America/New_York")
def nightly_retrain(context: ScheduleEvaluationContext):
    """Every weeknight after the close: refresh every ticker; the follow-up sensor retrains the folds."""
    night = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return [
        RunRequest(run_key=f"nightly-{night}-{ticker}", partition_key=ticker, tags={NIGHTLY_TAG: night})
        for ticker in ticker_partitions.get_partition_keys()
    ]


def _latest_by_partition(context: SensorEvaluationContext, job: str, night: str) -> dict[str, DagsterRunStatus]:
    runs = context.instance.get_runs(RunsFilter(job_name=job, tags={NIGHTLY_TAG: night}))  # newest first
    latest: dict[str, DagsterRunStatus] = {}
    for run in runs:
        latest.setdefault(run.tags.get("dagster/partition", ""), run.status)
    return latest


@sensor(
    jobs=[walk_forward_job, fold_rescore_job, forecast_job, record_job, report_job],
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
)
def nightly_retrain_followup(context: SensorEvaluationContext, store: DataStore):
    """After a nightly refresh: train new or changed folds and re-score the open one (closed, unchanged folds are
    left alone), then rebuild the report, each once all before it succeeded."""
    tagged = [
        r for r in context.instance.get_runs(RunsFilter(job_name="candles_job"), limit=500) if NIGHTLY_TAG in r.tags
    ]
    if not tagged:
        return SkipReason("no nightly refresh has run yet")
    night = max(r.tags[NIGHTLY_TAG] for r in tagged)
    tags = {NIGHTLY_TAG: night}
    tickers = _latest_by_partition(context, "candles_job", night)
    waiting = [t for t in ticker_partitions.get_partition_keys() if tickers.get(t) != DagsterRunStatus.SUCCESS]
    if waiting:
        return SkipReason(f"night {night}: ticker runs not (yet) successful: {waiting}")
    folds = {
        **_latest_by_partition(context, "walk_forward_job", night),
        **_latest_by_partition(context, "fold_rescore_job", night),
    }
    if not folds:  # the night's plan, by row versions: train new or changed folds, re-score the open one
        universe = load_universe(store, "nightly_retrain_followup")
        spec, keys = FoldConfig().spec(), data_fold_keys(universe)
        thinned = universe_end_message(universe.windows, spec, keys)
        if thinned:  # the same words as the CLI's and the fold asset's
            return SkipReason(f"night {night}: {thinned}")
        plans = plan_folds(universe.windows, spec, store, keys, universe.horizon)
        try:  # nothing stored is rewritten by accident: the plan against the stored folds
            check_plans(plans)
        except HistoryRewrite as exc:
            return SkipReason(f"night {night}: {exc}")
        requests = [
            RunRequest(
                run_key=f"nightly-{night}-{p.fold}",
                job_name="walk_forward_job" if p.action == "train" else "fold_rescore_job",
                partition_key=p.fold,
                tags=tags,
            )
            for p in plans
            if p.action != "skip"
        ]
        if requests:
            return requests
    pending = [f for f, status in folds.items() if status not in FINISHED]
    if pending:
        return SkipReason(f"night {night}: fold runs not finished yet: {pending}")
    failed = sorted(f for f, status in folds.items() if status != DagsterRunStatus.SUCCESS)
    forecast = _latest_by_partition(context, "forecast_job", night)
    if not forecast:  # the folds are done: tonight's live model and forecast, for the session after the data
        universe = load_universe(store, "nightly_retrain_followup")
        date = next_session(data_end(universe.windows)).isoformat()
        return SensorResult(
            run_requests=[
                RunRequest(run_key=f"nightly-{night}-forecast", job_name="forecast_job", partition_key=date, tags=tags)
            ],
            dynamic_partitions_requests=[forecast_partitions.build_add_request([date])],
        )
    if any(status not in FINISHED for status in forecast.values()):
        return SkipReason(f"night {night}: the forecast run is not finished yet: {forecast}")
    if failed:  # the paper record alone; the report needs every fold
        if not _latest_by_partition(context, "record_job", night):
            return RunRequest(run_key=f"nightly-{night}-record", job_name="record_job", tags=tags)
        return SkipReason(f"night {night}: fold runs failed: {failed}; forecast and paper record done, no report")
    return RunRequest(run_key=f"nightly-{night}-report", job_name="report_job", tags=tags)
