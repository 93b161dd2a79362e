"""``fin-pipeline run`` (and ``rebuild``, once it has archived): the night in process, a line per run.

The runs follow the night's planner (:func:`fin_pipeline.evaluation.nightly.plan_night`, as the nightly schedule
and its sensor do): one ``candles_job`` run per ticker, one run per fold to train or re-score, then the end of the
night (:mod:`fin_pipeline.cli.night`: tonight's forecast, the paper record, the report), and the report's and the
forecast's tables.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# Dagster's console logger prints every event at DEBUG; the CLI prints its own progress lines instead.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def train_config(args: argparse.Namespace) -> dict[str, object]:
    """The training flags given (those left out are the training configuration's)."""
    given = {"model": args.model, "epochs": args.epochs, "batch_size": args.batch_size, "loss": args.loss}
    return {k: v for k, v in {**given, "seed": args.seed}.items() if v is not None}


def run(args: argparse.Namespace) -> int:
    from dagster import DagsterInstance

    from fin_pipeline.cli.forecast import print_forecast
    from fin_pipeline.cli.night import Night, finish_night
    from fin_pipeline.cli.preflight import wanted_tickers
    from fin_pipeline.cli.report import _print_report
    from fin_pipeline.cli.results import errors, metadata
    from fin_pipeline.definitions import defs, settings
    from fin_pipeline.defs.assets.universe import load_universe
    from fin_pipeline.evaluation.live import data_end
    from fin_pipeline.runtime.doctor import repair_dead_runs
    from fin_pipeline.runtime.progress import ProgressDisplay, set_display
    from fin_pipeline.runtime.signals import Stopper
    from fin_pipeline.sources.execution import describe

    # --tickers was checked against the universe before any work
    tickers = wanted_tickers(args.tickers) if args.tickers else list(settings.universe)
    instance = DagsterInstance.get()
    for line in repair_dead_runs(instance):  # dead runs of earlier processes: their pool slots would block training
        print(f"fin-pipeline: {line}")
    stopper = Stopper().install()
    # Every epoch of every training shows here (a bar on a terminal, else a line); planned trainings set below.
    display = ProgressDisplay.for_stdout()
    set_display(display)
    execute = _executor(defs, instance, stopper, display)
    print(f"fin-pipeline: source={settings.source}, {len(tickers)} ticker(s), data in {settings.data_root}")
    print(f"fin-pipeline: runs recorded in the Dagster instance at {os.environ['DAGSTER_HOME']}")
    print(f"fin-pipeline: execution {describe(args.execution)}")
    if not _refresh(execute, tickers, {"ops": {"feature_windows": {"config": {"execution": args.execution}}}}):
        return 1
    if args.data_only:
        return 0

    train = train_config(args)  # the flags given: the steps read the rest from the training configuration
    store = defs.resources["store"]
    universe = load_universe(store, "fin-pipeline run")
    folds = _folds(args, execute, display, store, universe, train)
    if folds is None:
        return 1
    ran, failed = folds
    mixed = {"ops": {"walk_forward_report": {"config": {"allow_mixed_configurations": True}}}}
    board, leaderboard_current = _board_plan(store, universe, ran, failed)
    night = Night(
        execute,
        store,
        universe,
        train,
        len(ran),
        failed,
        mixed if args.allow_mixed_configurations else {},
        board=board,
        leaderboard_current=leaderboard_current,
    )
    code, report_dir, date = finish_night(night, instance, metadata, errors)
    if report_dir is None:
        return code
    code = _print_report(report_dir, store.describe) or code
    record = store.pull(store.live_record_dir() / "record.parquet")
    return print_forecast(store.pull(store.forecast_path(date)), data_end(universe.windows), record) or code


def _refresh(execute, tickers: list[str], config: dict) -> bool:
    """The data stage: one ``candles_job`` run per ticker, a line each, then the table of what is stored. False
    at the first failure: no live model and no forecast on old data."""
    import pandas as pd

    from fin_pipeline.cli.results import errors, metadata
    from fin_pipeline.core.formatting import text_table
    from fin_pipeline.evaluation.nightly import data_runs

    rows = []
    for i, planned in enumerate(data_runs(tickers), 1):
        ticker = planned.partition
        result, seconds = execute(planned.job, ticker, config)
        if not result.success:
            print(f"[data {i}/{len(tickers)}] {ticker}: FAILED ({result.run_id}): {errors(result)}")
            print("fin-pipeline: the data refresh failed: no live model and no forecast tonight (none on old data)")
            return False
        meta, windows = metadata(result, "raw_candles"), metadata(result, "feature_windows")["usable_windows"]
        restated = f", RESTATED {meta['restated']}" if meta.get("restated", "none") != "none" else ""
        print(
            f"[data {i}/{len(tickers)}] {ticker}: {meta['mode']}, +{meta['rows_added']} bar(s){restated}, "
            f"{windows} usable windows, {seconds:.1f} s"
        )
        rows.append([ticker, meta["rows"], meta["rows_added"], meta["first_date"], meta["last_date"], windows])
    print()
    print(text_table(pd.DataFrame(rows, columns=["ticker", "rows", "added", "first", "last", "windows"])))
    return True


def _board_plan(store, universe, ran: list[str], failed: list[str]) -> tuple[list[str], bool]:
    """The board partitions tonight runs (the enabled models on the folds that ran, and any missing file; none on a
    failed fold) and whether the stored leaderboard is intact; a line saying so."""
    from fin_pipeline.defs.assets.board import board_models
    from fin_pipeline.defs.assets.universe import data_fold_keys
    from fin_pipeline.evaluation import outputs
    from fin_pipeline.evaluation.board import plan_board
    from fin_pipeline.store import layout

    models = board_models(store)
    done = [f for f in ran if f not in failed]
    board = plan_board(store, models, done, [f for f in data_fold_keys(universe) if f not in failed])
    print(
        f"fin-pipeline: board ({', '.join(models)}; FIN_PIPELINE_MODELS): {len(board)} model × fold run(s) after "
        "the forecast"
    )
    return board, outputs.table(store, store.path(layout.leaderboard_file())).ok


def _folds(args, execute, display, store, universe, train: dict) -> tuple[list[str], list[str]] | None:
    """The fold stage: the plan by row versions (refused whole when it would rewrite a stored fold), then one run
    per fold to train or re-score, a line per fold. (folds run, failed folds); None when the universe is too thin."""
    from fin_pipeline.cli.arguments import configuration_said
    from fin_pipeline.cli.results import errors
    from fin_pipeline.definitions import settings
    from fin_pipeline.defs.assets.folds import FoldConfig
    from fin_pipeline.defs.assets.universe import data_fold_keys
    from fin_pipeline.evaluation.nightly import Tonight, check_plans, plan_folds, plan_night, retrain_all
    from fin_pipeline.training.folds import universe_end_message

    folds = data_fold_keys(universe)
    print(f"\nfin-pipeline: {len(folds)} fold(s), one per {settings.fold_period} from {settings.first_test_date}")
    spec = FoldConfig().spec()
    thinned = universe_end_message(universe.windows, spec, folds)
    if thinned:  # the sensor's and the fold asset's words; nothing is trained on a universe this thin
        print(f"fin-pipeline: {thinned}")
        return None
    plans = plan_folds(universe.windows, spec, store, folds, universe.horizon, universe.fold_windows)
    check_plans(plans)  # a fold whose stored blocks would move: refused before any fold is written
    for plan in (p for p in plans if p.restated):
        print(f"fin-pipeline: fold {plan.fold}: {plan.reason}")
    if args.retrain:
        plans = retrain_all(plans)
    count = {a: sum(p.action == a for p in plans) for a in ("train", "rescore", "skip")}
    print(
        f"fin-pipeline: {count['train']} fold(s) to train (configuration {configuration_said(store, train)}), "
        f"{count['rescore']} to re-score with new days "
        f"(no training), {count['skip']} unchanged (left alone)"
    )
    display.trainings = count["train"] + 1  # the folds to train, then tonight's live model
    runs = {r.partition: r for r in plan_night(plans, Tonight()).runs if r.plan is not None}
    failed = []
    for i, plan in enumerate(plans, 1):
        head = f"[fold {i}/{len(plans)}] {plan.fold}"
        if plan.fold not in runs:
            said = plan.reason if plan.restated else f"unchanged ({'open' if plan.is_open else 'closed'})"
            print(f"{head}: {said}, no run")
            continue
        config = {"ops": {"trained_model": {"config": train}}} if plan.action == "train" else {}
        result, seconds = execute(runs[plan.fold].job, plan.fold, config)
        if not result.success:
            failed.append(plan.fold)
            print(f"{head}: FAILED ({result.run_id}): {errors(result)}")
            continue
        print(f"{head}: {_fold_line(result, plan, universe.horizon)}, {seconds:.1f} s")
    return list(runs), failed


def _fold_line(result, plan, horizon: int) -> str:
    """A fold run's line: its test block, the training (or the re-score), the ICs of the model and the ridge."""
    from fin_pipeline.cli.results import metadata
    from fin_pipeline.core.formatting import format_stat

    model, metrics = metadata(result, "trained_model"), metadata(result, "fold_metrics")
    days = metrics.get("test_days", float("nan"))  # a new fold's first days: "n/a (n days)"
    ic = {
        k: format_stat(metrics.get(k, float("nan")), days, horizon) for k in ("model_ic", "model_ic_nw_t", "ridge_ic")
    }
    resumed = ""
    if model.get("resumed_from_run"):
        resumed = f" (resumed after epoch {model['resumed_from_epoch']} of run {model['resumed_from_run']})"
    repaired = f" ({plan.reason})" if plan.repair else ""  # a missing or corrupt output, made again
    trained = (
        f"trained {model['epochs']} epoch(s){resumed} (best {model['best_epoch']} on the tuning block){repaired}"
        if model
        else f"re-scored, no training ({plan.reason})"
    )
    return (
        f"test {metrics['test_start']} … {metrics['test_end']} ({metrics['test_tickers']} tickers), "
        f"{trained}, IC model {ic['model_ic']} (NW t {ic['model_ic_nw_t']}) / ridge {ic['ridge_ic']}"
    )


def _executor(defs, instance, stopper, display):
    """``execute(job, partition, run_config) -> (result, seconds)``: one job run in this process, recorded in
    ``instance``; a signal stops the night between runs, or cancels the run it came in."""
    from fin_pipeline.runtime.doctor import process_tags

    def execute(job: str, partition: str | None, run_config: dict) -> tuple[object, float]:
        stopper.check()
        sys.stdout.flush()  # the lines printed so far come before the job's progress (written on its own fd)
        t0 = time.perf_counter()
        result = stopper.call(
            defs.resolve_job_def(job).execute_in_process,
            tick=_pool_watch(instance),
            partition_key=partition,
            instance=instance,
            run_config={**QUIET, **run_config},
            raise_on_error=False,
            tags=process_tags(),
        )
        display.end()  # the training this job ran, if any, is over: its bar stays as it ended
        _after_run(stopper, instance, result.run_id)
        return result, time.perf_counter() - t0

    return execute


def _pool_watch(instance, every: float = 30.0):
    """A tick that, every ``every`` seconds, frees the slots of dead holders and says which step waits for the
    training pool and what holds it."""
    from fin_pipeline.runtime.doctor import pool_waits
    from fin_pipeline.runtime.pools import free_dead_holders

    last = [time.monotonic()]

    def tick() -> None:
        if time.monotonic() - last[0] >= every:
            last[0] = time.monotonic()
            for line in free_dead_holders(instance) + pool_waits(instance, min_wait=every):
                print(f"fin-pipeline: {line}", flush=True)

    return tick


def _after_run(stopper, instance, run_id: str) -> None:
    """A signal came during the run: mark it canceled (not failed, not retried), free its slots, stop."""
    from fin_pipeline.runtime.signals import Stopped, mark_canceled

    if stopper.signum is not None:
        marked = mark_canceled(instance, run_id, stopper.signum)  # a run that had finished stays a success
        raise Stopped(stopper.signum, run_id if marked else None)
