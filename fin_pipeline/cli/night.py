"""The end of a ``fin-pipeline run`` night, after the folds: tonight's forecast, the paper record, the report.

The order is what makes every night with data produce its forecast:

1. tonight's live model and forecast (``forecast_job``) run whatever happened to the folds: a fold whose
   training or statistics failed never holds back the forecast;
2. the paper record (``live_record``) is written next, also whatever happened to the folds (``record_job`` when a
   fold failed; otherwise as the first step of ``report_job``), so it never depends on the report;
3. the walk-forward report (``report_job``) needs every fold, and runs only when none failed.

The order is the night's planner's (:func:`~fin_pipeline.evaluation.nightly.plan_night`, which the nightly sensor
follows too). Nothing runs that would change nothing: when the live model of tonight's version is stored
(:func:`~fin_pipeline.evaluation.nightly.plan_live`) and its forecast too, the forecast job is not run; when,
besides, no fold ran and the record and report are stored, neither is the report: the night says "up to date"
and prints what is stored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from fin_pipeline.core.formatting import missed_line

UP_TO_DATE = "up to date"


@dataclasses.dataclass
class Night:
    """What the CLI hands over once the folds are done."""

    execute: Callable  # execute(job, partition, run_config) -> (result, seconds)
    store: object  # the DataStore
    universe: object  # the Universe (windows, horizon)
    train: dict  # the CLI's training config (model, epochs, batch_size, loss)
    folds_ran: int  # fold runs tonight (trained or re-scored)
    failed: list[str]  # folds whose run failed tonight
    report_config: dict = dataclasses.field(default_factory=dict)  # report_job's run config (e.g. mixed configs)
    board: list[str] = dataclasses.field(default_factory=list)  # board partitions ("fold|model") to run tonight
    leaderboard_current: bool = True  # the stored leaderboard is intact (False: made again even with no board run)


def finish_night(night: Night, instance, metadata: Callable, errors: Callable) -> tuple[int, Path | None, str]:
    """Forecast, record, report in that order, as the night's planner says (see the module docstring). Returns
    (exit code, the report folder to print or None, tonight's forecast date)."""
    from fin_pipeline.defs.assets.folds import FoldConfig
    from fin_pipeline.defs.assets.live import LiveModelConfig
    from fin_pipeline.evaluation import outputs
    from fin_pipeline.evaluation.live import data_end, next_session
    from fin_pipeline.evaluation.nightly import (
        FAILED,
        FORECAST_JOB,
        REPORT_JOB,
        SUCCESS,
        Tonight,
        plan_live,
        plan_night,
    )

    store, ws = night.store, night.universe.windows
    date = next_session(data_end(ws)).isoformat()
    # the spec the live model will train with: the data directory's training configuration, as the asset reads it
    spec = dataclasses.asdict(LiveModelConfig(**night.train).configuration(store, "live_model")[1])
    try:
        live = plan_live(night.universe.live_windows(), FoldConfig().spec(), spec, store, date, night.universe.horizon)
    except ValueError:  # no live model can be cut from this data: the forecast job fails, naming why
        live = None
    if live is not None and live.repair:  # what is trained again, and why
        print(f"[forecast] {date}: {live.reason}")
    report_dir = store.report_dir()
    # stored and intact (each file against its hash): a corrupt forecast or record is not "up to date"
    intact = lambda path: outputs.table(store, path).ok  # noqa: E731
    # what the store holds (S3: HEAD requests, then the report's files pulled), not the local cache: an empty cache
    # decides as a warm one
    report_stored = store.exists(report_dir / "report.md")
    report_files = sorted(store.pull_tree(report_dir).glob("*.parquet")) if report_stored else []
    current = {
        "forecast_current": live is not None and live.action == "skip" and intact(store.forecast_path(date)),
        "report_current": report_stored
        and intact(store.live_record_dir() / "record.parquet")
        and all(intact(path) for path in report_files),
    }
    current |= {"board": night.board, "leaderboard_current": night.leaderboard_current}
    tonight = Tonight(folds_planned=True, folds_ran=night.folds_ran, folds_failed=tuple(night.failed))
    step, code = plan_night((), tonight, **current), 0
    if step.runs and step.runs[0].job == FORECAST_JOB:
        code = _forecast(night, instance, date, metadata, errors)
        tonight = dataclasses.replace(tonight, forecast=FAILED if code else SUCCESS)
        step = plan_night((), tonight, **current)
    else:
        print(f"[forecast] {date}: {UP_TO_DATE}: {live.reason}; the forecast is stored, no run")
    step, board_code = _board(night, tonight, step, current, metadata, errors)
    code = code or board_code
    if step.up_to_date:
        print(f"fin-pipeline: {UP_TO_DATE}: nothing trained, nothing written (data, configuration and code unchanged)")
        return code, store.pull_tree(report_dir), date
    (last,) = step.runs  # the report, or the paper record alone when a fold failed
    result, _ = night.execute(last.job, None, night.report_config if last.job == REPORT_JOB else {})
    record = metadata(result, "live_record")
    if record:
        missed = _stored_missed(store)
        print(
            f"[live record] {record['scored_days']} forecast day(s) scored of {record['forecasts']} stored; "
            f"{missed_line(missed)}"
        )
    if night.failed:
        print(f"\nfin-pipeline: {len(night.failed)} fold(s) failed: {night.failed}; the report needs every fold")
        return 1, None, date
    if not result.success:
        print(f"fin-pipeline: report FAILED ({result.run_id}): {errors(result)}")
        return 1, None, date
    # The report ran in this process: its files are in the local folder of the store (for S3, the cache it just
    # uploaded from). The metadata's path is the store's description of it (an s3:// URL), not a local path.
    return code, report_dir, date


def _board(night: Night, tonight, step, current: dict, metadata: Callable, errors: Callable):
    """The board's runs (one per model × fold, a line each) and then the leaderboard, as the planner says; the
    planner's next step and 1 when one of them failed (the record and report still follow)."""
    from fin_pipeline.core.formatting import format_value
    from fin_pipeline.evaluation.nightly import BOARD_JOB, FAILED, LEADERBOARD_JOB, SUCCESS, plan_night

    code = 0
    if step.runs and step.runs[0].job == BOARD_JOB:
        failed = []
        for i, planned in enumerate(step.runs, 1):
            fold, model = planned.partition.split("|")
            config = {"ops": {"board_predictions": {"config": night.train}}}
            result, seconds = night.execute(BOARD_JOB, planned.partition, config)
            head = f"[board {i}/{len(step.runs)}] {model} on {fold}"
            if not result.success:
                failed.append(planned.partition)
                print(f"{head}: FAILED ({result.run_id}): {errors(result)}")
                continue
            meta = metadata(result, "board_predictions")
            print(f"{head}: {meta['test_windows']} test windows predicted, {seconds:.1f} s")
        code = 1 if failed else 0
        tonight = dataclasses.replace(tonight, board_planned=True, board_ran=len(step.runs), board_failed=tuple(failed))
        step = plan_night((), tonight, **current)
    if step.runs and step.runs[0].job == LEADERBOARD_JOB:
        result, seconds = night.execute(LEADERBOARD_JOB, None, {})
        if result.success:
            meta = metadata(result, "leaderboard")
            print(
                f"[leaderboard] {meta['models']} over {meta['folds']} fold(s): best {meta['best']} (neutral net "
                f"Sharpe), PBO {format_value(meta['pbo'])}, {meta['n_trials']} trial(s); {seconds:.1f} s "
                "(fin-pipeline leaderboard prints it)"
            )
        else:
            print(f"[leaderboard] FAILED ({result.run_id}): {errors(result)}")
            code = 1
        step = plan_night(
            (), dataclasses.replace(tonight, leaderboard=SUCCESS if result.success else FAILED), **current
        )
    return step, code


def _forecast(night: Night, instance, date: str, metadata: Callable, errors: Callable) -> int:
    """Tonight's live model and forecast (``forecast_job``), a line; 1 when the run failed."""
    from fin_pipeline.defs.partitions import forecast_partitions
    from fin_pipeline.evaluation.nightly import FORECAST_JOB

    instance.add_dynamic_partitions(forecast_partitions.name, [date])
    result, seconds = night.execute(FORECAST_JOB, date, {"ops": {"live_model": {"config": night.train}}})
    if not result.success:
        print(f"[forecast] {date}: FAILED ({result.run_id}): {errors(result)}")
        return 1
    model, forecast = metadata(result, "live_model"), metadata(result, "forecasts")
    trained = (
        f"live model trained on {model['train']} (tuning {model['tuning']}), {model['epochs']} epoch(s)"
        if model["status"] == "trained"
        else f"live model {UP_TO_DATE} ({model['model_version']}), not retrained"
    )
    print(
        f"[forecast] {date}: {trained}; forecast {forecast['status']}, {forecast['tickers']} ticker(s) "
        f"(missing: {forecast['missing_tickers']}), made {forecast['made_at']}, {seconds:.1f} s"
    )
    return 0


def _stored_missed(store) -> dict[str, str]:
    from fin_pipeline.store.parquet import read_parquet_meta

    return read_parquet_meta(store.pull(store.live_record_dir() / "record.parquet")).get("missed", {})
