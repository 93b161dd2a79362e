"""Benchmark of the nightly path: an unchanged rerun and the night after one new session against the first build.

    python benchmarks/nightly.py            # the quick start: 8 tickers x 2010-01-04..2026-11-25, 12 quarterly
                                            # folds from 2024-01-01, CNN 3 epochs, batch 256 (> 10 min on 2 cores)
    python benchmarks/nightly.py --small    # a smoke check: 3 tickers x 2018-01-02..2021-05-14, 3 folds from
                                            # 2020-10-01, CNN 1 epoch (about a minute)

Each part runs what ``fin-pipeline run`` runs, in the same order and through the same code: ``candles_job`` per
ticker, the fold plan by row versions (:func:`fin_pipeline.evaluation.nightly.plan_folds`) and one run per fold to train
or re-score, then the end of the night (:func:`fin_pipeline.cli.night.finish_night`: tonight's live model and
forecast unless the night's model version is stored, the paper record, the report unless nothing changed).

(F) The first build, into an empty data folder, up to ``--day``: every fold and the live model trained.
(U) The same night run again, unchanged: the data refresh finds no new bar, nothing is trained or written.
(R) The night after one new session: one bar per ticker, the open fold re-scored (no training), tonight's live
    model trained, the record and the report rebuilt.

The ratios U/F and R/F are printed with the goals (U <= 0.05 x F, R <= 0.15 x F, set for the quick-start size);
the script exits 1 when a goal is missed (not with ``--small``, whose tiny trainings leave the fixed costs of a
night dominant), when (U) trained a model or changed a file, or when (R) trained anything but the live model or
changed a closed fold's files. In process, on one sqlite instance (``instance_for_test`` in a temporary folder,
the project's ``training`` pool limit of 1), console logging at WARNING as the CLI sets it. The folds are Dagster
partitions, read from the environment at the first import, so the script sets ``FIN_PIPELINE_UNIVERSE``,
``FIN_PIPELINE_FIRST_TEST_DATE`` and ``FIN_PIPELINE_END`` before it imports ``fin_pipeline``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

UNIVERSE = ("AAPL", "MSFT", "AMZN", "GOOGL", "META", "NVDA", "JPM", "XOM")  # the settings' default universe
GOALS = {"unchanged": 0.05, "next": 0.15}
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
INSTANCE_OVERRIDES = {"concurrency": {"pools": {"default_limit": 1}}, "telemetry": {"enabled": False}}
SMALL = {"tickers": 3, "start": "2018-01-02", "first_test_date": "2020-10-01", "day": "2021-05-14", "epochs": 1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help=f"a smoke check: {SMALL} (about a minute)")
    parser.add_argument("--tickers", type=int, default=8, help=f"first N of {','.join(UNIVERSE)} (default 8)")
    parser.add_argument("--start", default="2010-01-04", help="first session (default 2010-01-04)")
    parser.add_argument("--first-test-date", default="2024-01-01", help="first fold's quarter (default 2024-01-01)")
    parser.add_argument("--day", default="2026-11-25", help="the first build's last session (default 2026-11-25)")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs per fold (default 3)")
    parser.add_argument("--batch-size", type=int, default=256, help="training batch size (default 256)")
    args = parser.parse_args(argv)
    if args.small:
        for name, value in SMALL.items():
            setattr(args, name, value)
    for name in [n for n in os.environ if n.startswith("FIN_PIPELINE_")]:
        del os.environ[name]
    os.environ.pop("POLYGON_API_KEY", None)
    os.environ["FIN_PIPELINE_UNIVERSE"] = ",".join(UNIVERSE[: args.tickers])
    os.environ["FIN_PIPELINE_FIRST_TEST_DATE"] = args.first_test_date
    os.environ["FIN_PIPELINE_END"] = (dt.date.fromisoformat(args.day) + dt.timedelta(days=10)).isoformat()
    os.environ["FIN_PIPELINE_DATA_DIR"] = tempfile.gettempdir()  # the module-level defs' store; never written
    os.environ["FIN_PIPELINE_TEAR_SHEETS"] = "0"  # the report's own cost, not the quantstats pages

    import dagster
    import torch
    from dagster._core.test_utils import instance_for_test

    from fin_pipeline.core.calendar import nyse_sessions
    from fin_pipeline.definitions import build_definitions
    from fin_pipeline.defs.resources import DataStore, SyntheticMarketResource

    day = dt.date.fromisoformat(args.day)
    next_day = nyse_sessions(day + dt.timedelta(days=1), day + dt.timedelta(days=10))[0].date()
    train = {"model": "cnn", "epochs": args.epochs, "batch_size": args.batch_size}
    tmp = Path(tempfile.mkdtemp(prefix="fin_pipeline_nightly_bench_"))
    (tmp / "instance").mkdir()
    store = DataStore(root=str(tmp / "data"))
    defs = build_definitions({"candle_source": SyntheticMarketResource(seed=7), "store": store})
    tickers = UNIVERSE[: args.tickers]
    print(
        f"nightly benchmark: {len(tickers)} tickers x {args.start}..{day} (+ {next_day}) of the synthetic market, "
        f"quarterly folds from {args.first_test_date}, cnn {args.epochs} epoch(s), batch {args.batch_size}; python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), dagster {dagster.__version__}"
    )
    with instance_for_test(temp_dir=str(tmp / "instance"), overrides=INSTANCE_OVERRIDES) as instance:
        night = Nightly(defs, instance, store, tickers, args.start, train)
        first = night.run(day, "F")
        snapshot = files_of(tmp / "data")
        unchanged = night.run(day, "U")
        same = files_of(tmp / "data") == snapshot
        closed = {f: fold_bytes(store, f) for f in first["folds"][:-1]}
        following = night.run(next_day, "R")
        closed_same = all(fold_bytes(store, f) == b for f, b in closed.items())
    ratios = {"unchanged": unchanged["seconds"] / first["seconds"], "next": following["seconds"] / first["seconds"]}
    print(f"(U) trained: {unchanged['trained']}; every stored file unchanged (bytes and times): {same}")
    print(f"(R) trained: {following['trained']}; closed folds' files byte-identical: {closed_same}")
    for name, label in (("unchanged", "U/F, an unchanged rerun"), ("next", "R/F, the night after one new session")):
        met = ratios[name] <= GOALS[name]
        verdict = "met" if met else "NOT met"
        print(f"ratio {label} = {ratios[name]:.3f} (goal <= {GOALS[name]} at the quick-start size): {verdict}")
    ok = (args.small or all(ratios[k] <= GOALS[k] for k in GOALS)) and same and closed_same
    ok = ok and unchanged["trained"] == [] and following["trained"] == ["live"]
    return 0 if ok else 1


class Nightly:
    """One night as ``fin-pipeline run`` runs it, timed by stage."""

    def __init__(self, defs, instance, store, tickers, start, train) -> None:
        self.defs, self.instance, self.store, self.tickers = defs, instance, store, tickers
        self.start, self.train, self.runs = start, train, []

    def execute(self, job: str, partition: str | None, config: dict):
        result = self.defs.resolve_job_def(job).execute_in_process(
            partition_key=partition, instance=self.instance, run_config={**QUIET, **config}, raise_on_error=False
        )
        self.runs.append((job, partition, result))
        return result, 0.0

    def run(self, end: dt.date, label: str) -> dict:
        from fin_pipeline.cli.night import Night, finish_night

        # the CLI's own readers of a run's metadata and failures
        from fin_pipeline.cli.results import errors as _errors
        from fin_pipeline.cli.results import metadata as _metadata
        from fin_pipeline.defs.assets.folds import FoldConfig
        from fin_pipeline.defs.assets.universe import data_fold_keys, load_universe
        from fin_pipeline.evaluation.nightly import plan_folds

        self.runs = []
        clock = time.perf_counter
        t0 = clock()
        for ticker in self.tickers:
            config = {"ops": {"raw_candles": {"config": {"start": self.start, "end": end.isoformat()}}}}
            if not self.execute("candles_job", ticker, config)[0].success:
                raise SystemExit(f"({label}) candles_job[{ticker}] failed")
        t1 = clock()
        universe = load_universe(self.store, "benchmark")
        folds = data_fold_keys(universe)
        plans = plan_folds(universe.windows, FoldConfig().spec(), self.store, folds, universe.horizon)
        failed = []
        for plan in plans:
            if plan.action == "skip":
                continue
            train = plan.action == "train"
            config = {"ops": {"trained_model": {"config": self.train}}} if train else {}
            result, _ = self.execute("walk_forward_job" if train else "fold_rescore_job", plan.fold, config)
            if not result.success:
                failed.append(plan.fold)
        t2 = clock()
        said = io.StringIO()
        with contextlib.redirect_stdout(said):
            ran = sum(p.action != "skip" for p in plans)
            code, _, date = finish_night(
                Night(self.execute, self.store, universe, self.train, ran, failed), self.instance, _metadata, _errors
            )
        t3 = clock()
        if code or failed:
            raise SystemExit(f"({label}) the night failed: {said.getvalue()}")
        trained = [p for j, p, r in self.runs if j == "walk_forward_job"]
        live = [_metadata(r, "live_model") for j, _, r in self.runs if j == "forecast_job"]
        trained += ["live"] if live and live[0].get("status") == "trained" else []
        actions = {a: sum(p.action == a for p in plans) for a in ("train", "rescore", "skip")}
        print(
            f"({label}) night of {end}: {t3 - t0:.1f} s = candles {t1 - t0:.1f} s ({len(self.tickers)} runs) + folds "
            f"{t2 - t1:.1f} s (train {actions['train']}, re-score {actions['rescore']}, skip {actions['skip']}) + "
            f"forecast for {date}, record and report {t3 - t2:.1f} s; trained: {trained or 'nothing'}"
        )
        for line in said.getvalue().splitlines():
            if line.startswith(("[forecast]", "[live record]", "fin-pipeline: up to date")):
                print(f"    {line}")
        return {"seconds": t3 - t0, "trained": trained, "folds": folds}


def files_of(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every stored file with its modification time and bytes."""
    return {str(p): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()}


def fold_bytes(store, fold: str) -> dict[str, bytes]:
    """Every file a fold wrote (boundaries, normalization, checkpoints, metrics), by path."""
    paths = [store.fold_path(fold), store.normalization_path(fold)]
    paths += sorted(Path(store.model_dir(fold)).glob("*.pt")) + sorted(Path(store.metrics_dir(fold)).glob("*"))
    return {str(p): Path(p).read_bytes() for p in paths}


if __name__ == "__main__":
    sys.exit(main())
