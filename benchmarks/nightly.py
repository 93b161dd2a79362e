"""Benchmark of the nightly path: one new trading day against the full build, as a ratio measured in one run.

    python benchmarks/nightly.py                  # 4 tickers x 2018-01-02..2021-05-14, 3 quarterly folds, CNN 2 epochs
    python benchmarks/nightly.py --tickers 2 --epochs 1

(F) The full build, what the first ``fin-pipeline run`` does: ``candles_job`` per ticker up to ``--day``, then
    ``walk_forward_job`` per fold (boundaries, normalization, training, metrics), then ``report_job``.
(N) The next night: ``candles_job`` per ticker up to the next trading day (an incremental fetch of one bar, its
    features rebuilt), the fold plan by row versions (:func:`fin_pipeline.nightly.plan_folds`), the planned runs
    (the open fold re-scored by ``fold_rescore_job``; the closed folds left alone), then ``report_job``.

Both in process, on one sqlite instance (``instance_for_test`` in a temporary folder, the project's ``training``
pool limit of 1), into one temporary data folder, console logging at WARNING as the CLI sets it. The folds are
Dagster partitions, read from the environment at the first import, so the script sets ``FIN_PIPELINE_UNIVERSE``,
``FIN_PIPELINE_FIRST_TEST_DATE`` and ``FIN_PIPELINE_END`` before it imports ``fin_pipeline``. The issue's goal:
(N) <= 0.1 x (F).
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
    parser.add_argument("--tickers", type=int, default=4, help=f"first N of {','.join(UNIVERSE)} (default 4)")
    parser.add_argument("--start", default="2018-01-02", help="first session (default 2018-01-02)")
    parser.add_argument("--first-test-date", default="2020-10-01", help="first fold's quarter (default 2020-10-01)")
    parser.add_argument("--day", default="2021-05-14", help="the full build's last session (default 2021-05-14)")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs per fold (default 2)")
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

    day = dt.date.fromisoformat(args.day)
    next_day = nyse_sessions(day + dt.timedelta(days=1), day + dt.timedelta(days=10))[0].date()
    train = {"ops": {"trained_model": {"config": {"model": "cnn", "epochs": args.epochs, "batch_size": 64}}}}
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

        def candles(end: dt.date) -> dict:
            return {"ops": {"raw_candles": {"config": {"start": args.start, "end": end.isoformat()}}}}

        t0 = time.perf_counter()
        for ticker in tickers:
            execute("candles_job", ticker, candles(day))
        folds = data_fold_keys(load_universe(store, "benchmark"))
        for fold in folds:
            execute("walk_forward_job", fold, train)
        execute("report_job", None, {})
        full = time.perf_counter() - t0
        print(f"(F) full build: {len(tickers)} candle runs, {len(folds)} fold runs {folds}, the report: {full:.1f} s")

        t0 = time.perf_counter()
        for ticker in tickers:
            execute("candles_job", ticker, candles(next_day))
        universe = load_universe(store, "benchmark")
        plans = plan_folds(universe.windows, FoldConfig().spec(), store, data_fold_keys(universe), universe.horizon)
        for plan in plans:
            if plan.action != "skip":
                execute(
                    "walk_forward_job" if plan.action == "train" else "fold_rescore_job",
                    plan.fold,
                    train if plan.action == "train" else {},
                )
        execute("report_job", None, {})
        nightly = time.perf_counter() - t0
        print(
            f"(N) next night: {len(tickers)} candle runs, plan {[(p.fold, p.action) for p in plans]}, "
            f"the report: {nightly:.1f} s"
        )
    ratio = nightly / full
    print(f"ratio (N)/(F) = {ratio:.3f} (goal <= {GOAL}): {'met' if ratio <= GOAL else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
