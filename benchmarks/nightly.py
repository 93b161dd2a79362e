"""Benchmark of the nightly path: one new trading day against the full build, as a ratio measured in one run.

    python benchmarks/nightly.py                  # the quick start: 8 tickers x 2010-01-04..2026-11-25, 12 quarterly
                                                  # folds from 2024-01-01, CNN 3 epochs, batch 256 (~10 min on 2 cores)
    python benchmarks/nightly.py --tickers 3 --start 2018-01-02 --first-test-date 2020-10-01 --day 2021-05-14 \
        --epochs 1                                # a small check (~1 min)

(F) The full build, what the first ``fin-pipeline run`` does: ``candles_job`` per ticker up to ``--day``, then
    ``walk_forward_job`` per fold (boundaries, normalization, training, metrics), then ``report_job``.
(N) The next night: ``candles_job`` per ticker up to the next trading day (an incremental fetch of one bar, its
    features rebuilt), the fold plan by row versions (:func:`fin_pipeline.nightly.plan_folds`), the planned runs
    (the open fold re-scored by ``fold_rescore_job``; the closed folds left alone), then ``report_job``.

Both end with tonight's live model and forecast (``forecast_job``: the nightly product retrains one model on
every realized target each night), timed apart: the issue's ratio compares the folds' nightly work without
it, and the whole night's ratio is printed beside it.

Both in process, on one sqlite instance (``instance_for_test`` in a temporary folder, the project's ``training``
pool limit of 1), into one temporary data folder, console logging at WARNING as the CLI sets it. The folds are
Dagster partitions, read from the environment at the first import, so the script sets ``FIN_PIPELINE_UNIVERSE``,
``FIN_PIPELINE_FIRST_TEST_DATE`` and ``FIN_PIPELINE_END`` before it imports ``fin_pipeline``. Each part's time is
printed by stage (candles, plan, fold runs, report). The issue's goal: (N) <= 0.1 x (F); the script exits 1 when
it is missed, or when (N) trained a model or changed a closed fold's files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

UNIVERSE = ("AAPL", "MSFT", "AMZN", "GOOGL", "META", "NVDA", "JPM", "XOM")  # the settings' default universe
GOAL = 0.1
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
INSTANCE_OVERRIDES = {"concurrency": {"pools": {"default_limit": 1}}, "telemetry": {"enabled": False}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickers", type=int, default=8, help=f"first N of {','.join(UNIVERSE)} (default 8)")
    parser.add_argument("--start", default="2010-01-04", help="first session (default 2010-01-04)")
    parser.add_argument("--first-test-date", default="2024-01-01", help="first fold's quarter (default 2024-01-01)")
    parser.add_argument("--day", default="2026-11-25", help="the full build's last session (default 2026-11-25)")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs per fold (default 3)")
    parser.add_argument("--batch-size", type=int, default=256, help="training batch size (default 256)")
    args = parser.parse_args(argv)
    for name in [n for n in os.environ if n.startswith("FIN_PIPELINE_")]:
        del os.environ[name]
    os.environ.pop("POLYGON_API_KEY", None)
    os.environ["FIN_PIPELINE_UNIVERSE"] = ",".join(UNIVERSE[: args.tickers])
    os.environ["FIN_PIPELINE_FIRST_TEST_DATE"] = args.first_test_date
    os.environ["FIN_PIPELINE_END"] = (dt.date.fromisoformat(args.day) + dt.timedelta(days=10)).isoformat()
    os.environ["FIN_PIPELINE_DATA_DIR"] = tempfile.gettempdir()  # the module-level defs' store; never written

    import dagster
    import torch
    from dagster._core.test_utils import instance_for_test

    from fin_pipeline.assets.folds import FoldConfig
    from fin_pipeline.assets.universe import data_fold_keys, load_universe
    from fin_pipeline.definitions import build_definitions
    from fin_pipeline.nightly import plan_folds
    from fin_pipeline.resources import DataStore, SyntheticMarketResource
    from fin_pipeline.sources.calendar import nyse_sessions
    from fin_pipeline.training.live import data_end, next_session

    day = dt.date.fromisoformat(args.day)
    next_day = nyse_sessions(day + dt.timedelta(days=1), day + dt.timedelta(days=10))[0].date()
    train = {
        "ops": {"trained_model": {"config": {"model": "cnn", "epochs": args.epochs, "batch_size": args.batch_size}}}
    }
    tmp = Path(tempfile.mkdtemp(prefix="fin_pipeline_nightly_bench_"))
    (tmp / "instance").mkdir()
    store = DataStore(root=str(tmp / "data"))
    defs = build_definitions({"candle_source": SyntheticMarketResource(seed=7), "store": store})
    tickers = UNIVERSE[: args.tickers]
    print(
        f"nightly benchmark: {len(tickers)} tickers x {args.start}..{day} (+ {next_day}) of the synthetic market, "
        f"quarterly folds from {args.first_test_date}, cnn {args.epochs} epoch(s); python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), dagster {dagster.__version__}"
    )

    with instance_for_test(temp_dir=str(tmp / "instance"), overrides=INSTANCE_OVERRIDES) as instance:

        def execute(job: str, partition: str | None, config: dict) -> None:
            result = defs.resolve_job_def(job).execute_in_process(
                partition_key=partition, instance=instance, run_config={**QUIET, **config}, raise_on_error=False
            )
            if not result.success:
                raise SystemExit(f"{job}[{partition}] failed (run {result.run_id})")

        def forecast() -> str:  # tonight's live model and forecast (the nightly product), a forecast_job run
            date = next_session(data_end(load_universe(store, "benchmark").windows)).isoformat()
            instance.add_dynamic_partitions("forecast_dates", [date])
            execute("forecast_job", date, {"ops": {"live_model": train["ops"]["trained_model"]}})
            return date

        def candles(end: dt.date) -> dict:
            return {"ops": {"raw_candles": {"config": {"start": args.start, "end": end.isoformat()}}}}

        clock = time.perf_counter
        t0 = clock()
        for ticker in tickers:
            execute("candles_job", ticker, candles(day))
        t1 = clock()
        folds = data_fold_keys(load_universe(store, "benchmark"))
        for fold in folds:
            execute("walk_forward_job", fold, train)
        t2 = clock()
        date = forecast()
        tf = clock()
        execute("report_job", None, {})
        t3 = clock()
        full, full_live = t3 - t0, tf - t2
        print(
            f"(F) full build: {full:.1f} s = candles {t1 - t0:.1f} s ({len(tickers)} runs) + folds {t2 - t1:.1f} s "
            f"({len(folds)} runs {folds[0]} … {folds[-1]}, trained) + live model and forecast for {date} "
            f"{full_live:.1f} s + report {t3 - tf:.1f} s"
        )

        closed = [f for f in folds if f != folds[-1]]
        before = {f: fold_bytes(store, f) for f in closed}
        trained_before = count_materializations(instance, "trained_model")
        t0 = clock()
        for ticker in tickers:
            execute("candles_job", ticker, candles(next_day))
        t1 = clock()
        universe = load_universe(store, "benchmark")
        plans = plan_folds(universe.windows, FoldConfig().spec(), store, data_fold_keys(universe), universe.horizon)
        t2 = clock()
        for plan in plans:
            if plan.action != "skip":
                execute(
                    "walk_forward_job" if plan.action == "train" else "fold_rescore_job",
                    plan.fold,
                    train if plan.action == "train" else {},
                )
        t3 = clock()
        date = forecast()
        tf = clock()
        execute("report_job", None, {})
        t4 = clock()
        nightly, nightly_live = t4 - t0, tf - t3
        actions = {a: [p.fold for p in plans if p.action == a] for a in ("train", "rescore", "skip")}
        print(
            f"(N) next night ({next_day}): {nightly:.1f} s = candles {t1 - t0:.1f} s ({len(tickers)} runs, one bar "
            f"each) + plan {t2 - t1:.1f} s + fold runs {t3 - t2:.1f} s (train {actions['train']}, re-score "
            f"{actions['rescore']}, {len(actions['skip'])} left alone) + live model and forecast for {date} "
            f"{nightly_live:.1f} s + report {t4 - tf:.1f} s"
        )
        trained = count_materializations(instance, "trained_model") - trained_before
        unchanged = all(fold_bytes(store, f) == before[f] for f in closed)
        print(f"(N) models trained: {trained}; closed folds' files byte-identical: {unchanged}")
    # The folds' nightly work (data refresh, plan, re-scoring, report) against the full build's, both without the
    # live model; then the whole night, the live model's training included (one fold's worth every night).
    ratio = (nightly - nightly_live) / (full - full_live)
    print(
        f"ratio of the folds' nightly work (N - live)/(F - live) = {ratio:.3f} (goal <= {GOAL}): "
        f"{'met' if ratio <= GOAL else 'NOT met'}"
    )
    print(f"ratio of the whole night, the live model included, (N)/(F) = {nightly / full:.3f}")
    return 0 if ratio <= GOAL and trained == 0 and unchanged else 1


def fold_bytes(store, fold: str) -> dict[str, bytes]:
    """Every file a fold wrote (boundaries, normalization, checkpoints, metrics), by path."""
    paths = [store.fold_path(fold), store.normalization_path(fold)]
    paths += sorted(Path(store.model_dir(fold)).glob("*.pt")) + sorted(Path(store.metrics_dir(fold)).glob("*"))
    return {str(p): Path(p).read_bytes() for p in paths}


def count_materializations(instance, asset: str) -> int:
    import dagster

    records = instance.fetch_materializations(dagster.AssetKey(asset), limit=10_000).records
    return len(records)


if __name__ == "__main__":
    sys.exit(main())
