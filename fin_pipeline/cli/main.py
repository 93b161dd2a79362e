"""``fin-pipeline``: run the whole chain headless, recorded in the same Dagster instance the UI reads.

``fin-pipeline run`` executes, in process (no subprocess start-up per run), the project's own jobs in order:
``candles_job`` once per ticker (raw candles, then feature windows), ``walk_forward_job`` once per fold whose
calendar test period has begun in the data (boundaries, normalization, a freshly trained model, metrics), then
``report_job``. It prints a line per run as it goes and, at the end, the per-fold table of the model against the
baselines.

The runs land in the instance of ``DAGSTER_HOME``; when it is unset and the current directory holds the
project's ``dagster.yaml`` (the repository root), that directory is used, as ``dagster dev`` there would.

Every training, the CLI's, the schedule's and a UI materialization's, reads one training configuration: the
data directory's ``fin_pipeline.yaml``, which the first build writes (the quick-start defaults: a CNN, 3
epochs, batches of 256, about eleven minutes on a 2-core CPU; or what that build's flags say, e.g. the
full-size ``--model lstm --epochs 100 --batch-size 32``). Later runs' flags may only restate it: a differing
one is refused by name before anything is written. ``fin-pipeline rebuild --from DATE`` is the deliberate way
to change it, or to rewrite stored history (an earlier end date): it archives what it replaces under
``archive/`` in the data directory, never deleting it, then runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

# Nothing heavy at the top (pandas, dagster, torch, the sources): a bad config is refused before they load.

# Dagster's console logger prints every event at DEBUG; the CLI prints its own progress lines instead.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fin-pipeline", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="materialize the whole chain for the universe, in process")
    rebuild = sub.add_parser(
        "rebuild", help="archive what is stored from a date on (never deleted), then run: the deliberate rewrite"
    )
    from fin_pipeline.cli.arguments import date_argument, run_arguments

    rebuild.add_argument(
        "--from",
        dest="rebuild_from",
        metavar="DATE",
        required=True,
        type=date_argument,
        help="first day to rebuild (YYYY-MM-DD)",
    )
    for command in (run, rebuild):
        run_arguments(command)
    sub.add_parser("forecast", help="print the latest forecast (tomorrow's predictions, ranks and positions)")
    doc = sub.add_parser("doctor", help="list (and with --repair fix) dead runs and orphaned run folders")
    doc.add_argument("--repair", action="store_true", help="mark dead runs failed, free their slots, remove folders")
    args = parser.parse_args(argv)

    if not os.environ.get("DAGSTER_HOME"):
        if not Path("dagster.yaml").is_file():
            print("fin-pipeline: set DAGSTER_HOME, or run from the repository root (it holds dagster.yaml)")
            return 2
        os.environ["DAGSTER_HOME"] = str(Path.cwd())
    if getattr(args, "min_tickers", None) is not None:  # the flag is the setting, for every step of this process
        os.environ["FIN_PIPELINE_MIN_TICKERS"] = str(args.min_tickers)
    from fin_pipeline.cli.preflight import ConfigError, check_training_config

    try:
        if args.command in ("run", "rebuild"):
            args.execution = _execution(args.execution)
        if args.command in ("run", "rebuild") and not args.data_only:
            check_training_config(_train_config(args))  # its plain checks first, before torch is imported
        if args.command == "doctor":
            return _doctor(args)
        if args.command == "forecast":
            return _forecast()
        from fin_pipeline.cli.arguments import guard

        # stored history and the training configuration: refused here, before any run or write
        guard(args, _train_config(args))
        from fin_pipeline.runtime.instance import check_instance

        check_instance()  # a PostgreSQL instance (deploy/postgres) must be reachable: fail now, naming it
        _preflight(args)
        try:
            return _run(args)
        finally:
            from fin_pipeline.runtime.progress import set_display

            set_display(None)  # a later run in this process (a test, a notebook) draws no stale display
    except ConfigError as exc:
        print(f"fin-pipeline: {exc}")
        return 2
    except Exception as exc:
        from fin_pipeline.core.settings import SettingsError
        from fin_pipeline.defs.executors import ServiceUnreachable
        from fin_pipeline.runtime.signals import Stopped, resume_hint
        from fin_pipeline.sources.update import HistoryRewrite
        from fin_pipeline.store.parquet import StorageError
        from fin_pipeline.training.configuration import ConfigurationError

        if isinstance(exc, Stopped):
            print(resume_hint(exc.signum, exc.run_id), flush=True)
            return 130
        if isinstance(exc, SettingsError | ServiceUnreachable | StorageError | HistoryRewrite | ConfigurationError):
            print(f"fin-pipeline: {exc}")
            return 2
        raise


def _doctor(args: argparse.Namespace) -> int:
    from dagster import DagsterInstance

    from fin_pipeline.core.settings import load_settings
    from fin_pipeline.runtime.doctor import doctor

    with DagsterInstance.get() as instance:
        for line in doctor(instance, load_settings().data_dir, repair=args.repair):
            print(f"fin-pipeline doctor: {line}")
    return 0


def _preflight(args: argparse.Namespace) -> None:
    """Config before work: settings, fold count and training config, before any data is fetched or written."""
    from fin_pipeline.cli.preflight import check_folds, check_tickers
    from fin_pipeline.core.settings import load_settings

    settings = load_settings()
    if settings.data_url:  # an s3:// data directory: a missing bucket or bad credentials fail before any work
        from fin_pipeline.store.location import open_store

        open_store(settings.data_url, os.environ.get("FIN_PIPELINE_CACHE_DIR"))
    check_tickers(settings, args.tickers)
    if not args.data_only:
        check_folds(settings)  # the training config was checked first, in main


def _execution(value: str | None) -> str:
    """``--execution``, else the setting FIN_PIPELINE_EXECUTION; a ConfigError naming both for an unknown one."""
    from fin_pipeline.cli.preflight import ConfigError
    from fin_pipeline.core.choices import EXECUTIONS
    from fin_pipeline.core.settings import load_settings

    if value is None:
        return load_settings().execution
    if value.lower() not in EXECUTIONS:
        raise ConfigError(f"--execution (FIN_PIPELINE_EXECUTION) {value!r} is not one of {list(EXECUTIONS)}")
    return value.lower()


def _train_config(args: argparse.Namespace) -> dict[str, object]:
    """The training flags given (those left out are the training configuration's)."""
    given = {"model": args.model, "epochs": args.epochs, "batch_size": args.batch_size, "loss": args.loss}
    return {k: v for k, v in {**given, "seed": args.seed}.items() if v is not None}


def _run(args: argparse.Namespace) -> int:
    import pandas as pd
    from dagster import DagsterInstance

    from fin_pipeline.cli.arguments import configuration_said
    from fin_pipeline.core.formatting import format_stat, text_table
    from fin_pipeline.definitions import defs, settings
    from fin_pipeline.defs.assets.folds import FoldConfig
    from fin_pipeline.defs.assets.universe import data_fold_keys, load_universe
    from fin_pipeline.evaluation.live import data_end
    from fin_pipeline.evaluation.nightly import check_plans, plan_folds
    from fin_pipeline.sources.execution import describe
    from fin_pipeline.training.folds import universe_end_message

    tickers = list(settings.universe)
    if args.tickers:
        wanted = [t.strip().upper() for t in args.tickers.split(",") if t.strip()]
        unknown = [t for t in wanted if t not in tickers]
        if unknown:
            print(f"fin-pipeline: {unknown} not in the universe {tickers} (set FIN_PIPELINE_UNIVERSE)")
            return 2
        tickers = wanted
    instance = DagsterInstance.get()
    for line in _start_checks(instance):
        print(f"fin-pipeline: {line}")
    stopper = _stopper()
    from fin_pipeline.runtime.progress import ProgressDisplay, set_display

    # Every epoch of every training shows here (a bar on a terminal, else a line); planned trainings set below.
    display = ProgressDisplay.for_stdout()
    set_display(display)
    print(f"fin-pipeline: source={settings.source}, {len(tickers)} ticker(s), data in {settings.data_root}")
    print(f"fin-pipeline: runs recorded in the Dagster instance at {os.environ['DAGSTER_HOME']}")
    print(f"fin-pipeline: execution {describe(args.execution)}")
    features = {"ops": {"feature_windows": {"config": {"execution": args.execution}}}}

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
            tags=_process_tags(),
        )
        display.end()  # the training this job ran, if any, is over: its bar stays as it ended
        _after_run(stopper, instance, result.run_id)
        return result, time.perf_counter() - t0

    rows = []
    for i, ticker in enumerate(tickers, 1):
        result, seconds = execute("candles_job", ticker, features)
        if not result.success:
            print(f"[data {i}/{len(tickers)}] {ticker}: FAILED ({result.run_id}): {_errors(result)}")
            print("fin-pipeline: the data refresh failed: no live model and no forecast tonight (none on old data)")
            return 1
        meta, windows = _metadata(result, "raw_candles"), _metadata(result, "feature_windows")["usable_windows"]
        restated = f", RESTATED {meta['restated']}" if meta.get("restated", "none") != "none" else ""
        print(
            f"[data {i}/{len(tickers)}] {ticker}: {meta['mode']}, +{meta['rows_added']} bar(s){restated}, "
            f"{windows} usable windows, {seconds:.1f} s"
        )
        rows.append([ticker, meta["rows"], meta["rows_added"], meta["first_date"], meta["last_date"], windows])
    print()
    print(text_table(pd.DataFrame(rows, columns=["ticker", "rows", "added", "first", "last", "windows"])))
    if args.data_only:
        return 0

    train = _train_config(args)  # the flags given: the steps read the rest from the training configuration
    store = defs.resources["store"]
    universe = load_universe(store, "fin-pipeline run")
    folds = data_fold_keys(universe)
    print(f"\nfin-pipeline: {len(folds)} fold(s), one per {settings.fold_period} from {settings.first_test_date}")
    spec = FoldConfig().spec()
    thinned = universe_end_message(universe.windows, spec, folds)
    if thinned:  # the sensor's and the fold asset's words; nothing is trained on a universe this thin
        print(f"fin-pipeline: {thinned}")
        return 1
    plans = plan_folds(universe.windows, spec, store, folds, universe.horizon)
    check_plans(plans)  # a fold whose stored blocks would move: refused before any fold is written
    for plan in (p for p in plans if p.restated):
        print(f"fin-pipeline: fold {plan.fold}: {plan.reason}")
    if args.retrain:
        # every fold but those kept as recorded after a restatement (`rebuild --from` is the way to rewrite them)
        plans = [p if p.restated else dataclasses.replace(p, action="train", reason="--retrain") for p in plans]
    count = {a: sum(p.action == a for p in plans) for a in ("train", "rescore", "skip")}
    print(
        f"fin-pipeline: {count['train']} fold(s) to train (configuration {configuration_said(store, train)}), "
        f"{count['rescore']} to re-score with new days "
        f"(no training), {count['skip']} unchanged (left alone)"
    )
    display.trainings = count["train"] + 1  # the folds to train, then tonight's live model
    failed = []
    for i, plan in enumerate(plans, 1):
        fold, head = plan.fold, f"[fold {i}/{len(plans)}] {plan.fold}"
        if plan.action == "skip":
            said = plan.reason if plan.restated else f"unchanged ({'open' if plan.is_open else 'closed'})"
            print(f"{head}: {said}, no run")
            continue
        job, config = (
            ("walk_forward_job", {"ops": {"trained_model": {"config": train}}})
            if plan.action == "train"
            else ("fold_rescore_job", {})
        )
        result, seconds = execute(job, fold, config)
        if not result.success:
            failed.append(fold)
            print(f"{head}: FAILED ({result.run_id}): {_errors(result)}")
            continue
        model, metrics = _metadata(result, "trained_model"), _metadata(result, "fold_metrics")
        days = metrics.get("test_days", float("nan"))  # a new fold's first days: "n/a (n days)"
        ic = {
            k: format_stat(metrics.get(k, float("nan")), days, universe.horizon)
            for k in ("model_ic", "model_ic_nw_t", "ridge_ic")
        }
        resumed = ""
        if model.get("resumed_from_run"):
            resumed = f" (resumed after epoch {model['resumed_from_epoch']} of run {model['resumed_from_run']})"
        trained = (
            f"trained {model['epochs']} epoch(s){resumed} (best {model['best_epoch']} on the tuning block)"
            if model
            else f"re-scored, no training ({plan.reason})"
        )
        print(
            f"{head}: test {metrics['test_start']} … {metrics['test_end']} ({metrics['test_tickers']} tickers), "
            f"{trained}, IC model {ic['model_ic']} (NW t {ic['model_ic_nw_t']}) / ridge {ic['ridge_ic']}, "
            f"{seconds:.1f} s"
        )
    from fin_pipeline.cli.night import Night, finish_night

    ran = sum(p.action != "skip" for p in plans)
    mixed = {"ops": {"walk_forward_report": {"config": {"allow_mixed_configurations": True}}}}
    night = Night(execute, store, universe, train, ran, failed, mixed if args.allow_mixed_configurations else {})
    code, report_dir, date = finish_night(night, instance, _metadata, _errors)
    if report_dir is None:
        return code
    code = _print_report(report_dir) or code
    record = store.pull(store.live_record_dir() / "record.parquet")
    return _print_forecast(store.pull(store.forecast_path(date)), data_end(universe.windows), record) or code


def _forecast() -> int:
    """``fin-pipeline forecast``: the newest stored forecast, said stale when the data has moved past it."""
    from dagster import Failure

    from fin_pipeline.definitions import defs
    from fin_pipeline.defs.assets.universe import load_universe
    from fin_pipeline.evaluation.live import data_end

    store = defs.resources["store"]
    folder = store.pull_tree(store.local_root() / "forecasts")
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not files:
        print("fin-pipeline: no forecast yet: run `fin-pipeline run` (or materialize live_model and forecasts)")
        return 1
    try:
        end = data_end(load_universe(store, "fin-pipeline forecast").windows)
    except Failure:  # feature files missing: the forecast is printed without the staleness check
        end = None
    return _print_forecast(files[-1], end, store.pull(store.live_record_dir() / "record.parquet"))


def _print_forecast(path: Path, data_end, record: Path | None = None) -> int:
    """The forecast table; a forecast made on older data than the data's last day is said to be stale; the
    sessions the paper record (``record``) lists as missed."""
    from fin_pipeline.core.formatting import missed_line, text_table
    from fin_pipeline.store.parquet import read_parquet, read_parquet_meta

    table, meta = read_parquet(path)
    shown = table[["ticker", "model", "rank", "weight_sign", "weight_long_only", "weight_neutral", "momentum", "ridge"]]
    as_of = meta["as_of"]
    made = f", made {table['made_at'].iloc[0]:%Y-%m-%d %H:%M} UTC" if "made_at" in table else ""
    print(
        f"\nForecast for {meta['forecast_date']} (data as of {as_of}{made}; predicted {len(table)} ticker(s)' "
        "log return):\n"
    )
    print(text_table(shown.rename(columns={"model": "prediction"})))
    if meta.get("execution"):  # when these positions trade (forecasts stored before the setting say nothing)
        print(f"\nPositions traded per the execution {meta['execution']}.")
    if meta.get("missing"):
        print(f"\nNot forecast: {', '.join(f'{t} ({why})' for t, why in meta['missing'].items())}")
    if record is not None and record.is_file():
        print(f"\nPaper record: {missed_line(read_parquet_meta(record).get('missed', {}))}")
    if data_end is not None and str(data_end) != as_of:
        print(
            f"\nSTALE: this forecast was made on data as of {as_of}; the data now ends on {data_end}. "
            "Run `fin-pipeline run` for tonight's forecast."
        )
    return 0


def _start_checks(instance) -> list[str]:
    """Dead runs of earlier processes: marked failed, their pool slots freed (they would block training)."""
    from fin_pipeline.runtime.doctor import repair_dead_runs

    return repair_dead_runs(instance)


def _stopper():
    from fin_pipeline.runtime.signals import Stopper

    return Stopper().install()


def _process_tags() -> dict[str, str]:
    from fin_pipeline.runtime.doctor import process_tags

    return process_tags()


def _pool_watch(instance, every: float = 30.0):
    """A tick that says, every ``every`` seconds, which step waits for the training pool and what holds it."""
    from fin_pipeline.runtime.doctor import pool_waits

    last = [time.monotonic()]

    def tick() -> None:
        if time.monotonic() - last[0] >= every:
            last[0] = time.monotonic()
            for line in pool_waits(instance, min_wait=every):
                print(f"fin-pipeline: {line}", flush=True)

    return tick


def _after_run(stopper, instance, run_id: str) -> None:
    """A signal came during the run: mark it canceled (not failed, not retried), free its slots, stop."""
    from fin_pipeline.runtime.signals import Stopped, mark_canceled

    if stopper.signum is not None:
        mark_canceled(instance, run_id, stopper.signum)
        raise Stopped(stopper.signum, run_id)


def _print_report(report_dir: Path) -> int:
    from fin_pipeline.report.terminal import text_report

    print(text_report(report_dir))
    return 0


def _errors(result) -> str:
    """Every step failure's message with its causes (a step out of retries wraps the last error)."""
    messages = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None:
            messages.append(error.message.strip())
            error = error.cause
    return "; ".join(messages)


def _metadata(result, node: str) -> dict[str, object]:
    """The metadata values of ``node``'s materialization in ``result`` ({} when the job did not materialize it)."""
    materializations = result.asset_materializations_for_node(node)
    return {k: v.value for k, v in materializations[0].metadata.items()} if materializations else {}


if __name__ == "__main__":
    sys.exit(main())
