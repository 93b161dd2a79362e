"""The two paths the pipeline benchmark (``pipeline.py``) times: (A) the chain through Dagster, in-process runs
of the code location's jobs, and (B) the same work as direct calls of what each asset calls. Nothing of
fin_pipeline is imported at module level: ``pipeline.py`` fixes the settings' environment first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import statistics
import time
from collections import defaultdict
from pathlib import Path

SEED = 7  # the synthetic market's seed, on both paths
BATCH = 64
# Dagster's console logger prints every event at DEBUG; fin-pipeline run sets it to WARNING (cli.QUIET_RUN_CONFIG).
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
# The project's dagster.yaml: fold training steps share the "training" pool, one slot.
INSTANCE_OVERRIDES = {"concurrency": {"pools": {"default_limit": 1}}, "telemetry": {"enabled": False}}


@dataclasses.dataclass(frozen=True)
class Work:
    tickers: tuple[str, ...]
    folds: tuple[str, ...]
    start: str
    end: str
    model: str
    epochs: int
    batch: int = BATCH
    model_config: dict = dataclasses.field(default_factory=dict)  # the model's settings beyond its defaults
    fold_options: dict = dataclasses.field(default_factory=dict)  # walk_forward_folds' run config (FoldConfig)

    def train_config(self, epochs: int | None = None) -> dict:
        config = {"model": self.model, "epochs": epochs or self.epochs, "batch_size": self.batch}
        return {**config, "model_config": self.model_config} if self.model_config else config


# --------------------------------------------------------------------------------------------------------------
# (A) through Dagster


class InstanceWrites:
    """Seconds spent writing to the instance: event log (each event its own sqlite transaction) and run storage."""

    def __init__(self, instance) -> None:
        self.seconds, self.events = 0.0, 0
        events, runs = instance.event_log_storage, instance.run_storage
        for obj, name in (
            (events, "store_event"),
            (events, "store_event_batch"),
            (runs, "add_run"),
            (runs, "handle_run_event"),
        ):
            setattr(obj, name, self._timed(getattr(obj, name), count=name == "store_event"))

    def _timed(self, method, count: bool):
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0
                self.events += count

        return timed


def run_dagster(
    work: Work, root: Path, instance, epochs: int | None = None, first_fold_only: bool = False
) -> tuple[float, dict]:
    """What ``fin-pipeline run`` does for the chain; (seconds, {"runs", "wall" per job, "train_fold" seconds}).

    ``train_fold`` is timed by wrapping the name the ``trained_model`` asset calls (as the tests patch it).
    """
    import fin_pipeline.defs.assets.training as training_assets
    from fin_pipeline.definitions import build_definitions
    from fin_pipeline.defs.resources import DataStore, SyntheticMarketResource

    candles_config = {**QUIET, "ops": {"raw_candles": {"config": {"start": work.start, "end": work.end}}}}
    train_config = {**QUIET, "ops": {"trained_model": {"config": work.train_config(epochs)}}}
    plan = [("candles_job", t, candles_config) for t in work.tickers]
    plan += [("walk_forward_job", f, train_config) for f in work.folds[: 1 if first_fold_only else None]]
    if not first_fold_only:
        plan.append(("report_job", None, QUIET))
    wall: dict[str, float] = defaultdict(float)
    runs, fit = [], [0.0]
    real_train_fold = training_assets.train_fold

    def timed_train_fold(*args, **kwargs):
        t = time.perf_counter()
        try:
            return real_train_fold(*args, **kwargs)
        finally:
            fit[0] += time.perf_counter() - t

    training_assets.train_fold = timed_train_fold
    try:
        t0 = time.perf_counter()
        store = DataStore(root=str(root))
        defs = build_definitions({"candle_source": SyntheticMarketResource(seed=SEED), "store": store})
        for job, partition, run_config in plan:
            t1 = time.perf_counter()
            result = defs.resolve_job_def(job).execute_in_process(
                partition_key=partition, run_config=run_config, instance=instance, raise_on_error=False
            )
            wall[job] += time.perf_counter() - t1
            if not result.success:
                errors = [e.step_failure_data.error.message.strip() for e in result.get_step_failure_events()]
                raise RuntimeError(f"{job}[{partition}] failed ({result.run_id}): {'; '.join(errors)}")
            runs.append(result.run_id)
        seconds = time.perf_counter() - t0
    finally:
        training_assets.train_fold = real_train_fold
    return seconds, {"runs": runs, "wall": dict(wall), "train_fold": fit[0]}


def step_seconds(instance, run_ids: list[str]) -> dict[str, float]:
    """Seconds from STEP_START to STEP_SUCCESS of each asset's step, summed over the runs (from the event log)."""
    from dagster import DagsterEventType

    out: dict[str, float] = defaultdict(float)
    for run_id in run_ids:
        started: dict[str, float] = {}
        for entry in instance.all_logs(run_id):
            event = entry.dagster_event
            if event is None or event.step_key is None:
                continue
            if event.event_type == DagsterEventType.STEP_START:
                started[event.step_key] = entry.timestamp
            elif event.event_type == DagsterEventType.STEP_SUCCESS:
                out[event.step_key] += entry.timestamp - started.pop(event.step_key)
    return dict(out)


def sqlite_instance(folder: Path):
    """A sqlite-backed instance in ``folder`` (created), configured like the project's dagster.yaml."""
    from dagster import instance_for_test

    folder.mkdir(parents=True, exist_ok=True)
    return instance_for_test(temp_dir=str(folder), overrides=INSTANCE_OVERRIDES)


# --------------------------------------------------------------------------------------------------------------
# (B) direct calls of what the assets call


def run_direct(
    work: Work, root: Path, epochs: int | None = None, first_fold_only: bool = False, phase=None
) -> tuple[float, dict[str, float]]:
    """The same work as (A) without Dagster; (seconds, seconds per stage). Each step calls what its asset calls:
    the library, the store's reads and writes, and the assets' own helpers for what a file records.

    ``phase(name)``, when given, is a context manager entered around each stage's work (``scale.py`` measures
    each stage's peak memory with it); the stages' times are taken outside it."""
    from fin_pipeline.backtest.trials import TrialRegistry
    from fin_pipeline.core.settings import load_settings
    from fin_pipeline.defs.assets.features import feature_meta, feature_problems
    from fin_pipeline.defs.assets.folds import FoldConfig, fold_document
    from fin_pipeline.defs.assets.live import equity_drawing, paper_record
    from fin_pipeline.defs.assets.training import model_identity, scored_document
    from fin_pipeline.defs.assets.universe import load_universe
    from fin_pipeline.defs.config import training_configuration
    from fin_pipeline.defs.resources import DataStore
    from fin_pipeline.evaluation.scoring import score_fold
    from fin_pipeline.features.assemble import load_window_set
    from fin_pipeline.features.frame import build_feature_frame, warmup_rows
    from fin_pipeline.features.indicators import WINDOW
    from fin_pipeline.report.folds import FoldResult
    from fin_pipeline.report.record import RecordCheck
    from fin_pipeline.report.text import provenance_for
    from fin_pipeline.report.walk_forward import write_report
    from fin_pipeline.sources.base import candle_problems, session_dates
    from fin_pipeline.sources.synthetic import SyntheticMarket
    from fin_pipeline.sources.update import update_candles
    from fin_pipeline.store import layout
    from fin_pipeline.store.parquet import read_parquet_meta
    from fin_pipeline.training.walkforward import compute_folds, fit_fold_normalization, publish_checkpoints, train_fold

    store = DataStore(root=str(root))
    settings = load_settings()
    stages: dict[str, float] = defaultdict(float)
    clock = time.perf_counter
    t_start = clock()
    start, end = dt.date.fromisoformat(work.start), dt.date.fromisoformat(work.end)

    enter = phase or (lambda _name: contextlib.nullcontext())
    for ticker in work.tickers:
        t0 = clock()
        with enter("candles"):
            with store.updating(store.raw_candles_path(ticker)) as path:
                update_candles(SyntheticMarket(seed=SEED), ticker, path, start, end)
            t1 = clock()
            problems = candle_problems(store.read_candles(ticker, pull=False))  # the checks read back what was written
            assert not any(problems.values()), problems
        t2 = clock()
        with enter("features"):
            candles = store.read_candles(ticker)
            frame = build_feature_frame(candles, ticker, horizon=1, window=WINDOW, execution=settings.execution)
            store.write_features(ticker, frame, feature_meta(ticker, frame, 1))
            t3 = clock()
            stored = store.read_features(ticker, pull=False)  # the feature_windows checks, and its metadata
            rows, _cuts, leaks = feature_problems(stored, candles)
            assert not len(rows) and not leaks, (rows, leaks)
            dates = session_dates(stored["timestamp"])
            _meta = (warmup_rows(stored), str(dates.iloc[0]), str(dates.iloc[-1]), int(stored["window_ok"].sum()))
            del candles, frame, stored  # not held into the next ticker's stages
        t4 = clock()
        stages["candles"] += t2 - t0  # like the raw_candles step: update + its checks
        stages["features"] += t4 - t2  # like the feature_windows step: features + write + its checks
        stages["checks"] += (t2 - t1) + (t4 - t3)

    t0 = clock()
    with enter("window set (once)"):
        paths = store.feature_paths(list(work.tickers))
        horizons = {read_parquet_meta(p).get("horizon") for p in paths.values()}
        assert horizons == {1}, horizons
        ws = load_window_set(paths)
    stages["window set (once)"] += clock() - t0

    t0 = clock()
    with enter("folds"):
        spec = FoldConfig(**work.fold_options).spec()
        folds = compute_folds(ws, spec, 1)
    stages["folds"] += clock() - t0
    # The training configuration as trained_model resolves it: the data directory's file, written by the first build.
    configuration, train_spec = training_configuration(store, {"training": work.train_config(epochs)}, "direct")
    results = []
    for fold in folds[: 1 if first_fold_only else None]:
        t0 = clock()
        with enter("folds"):
            record = fold_document(ws, fold, spec)
            store.write_fold(fold.fold, record)
        t1 = clock()
        with enter("normalization"):
            stats = fit_fold_normalization(ws, fold)
            store.write_normalization(fold.fold, stats)
        t2 = clock()
        with enter("training"):
            model_dir = store.model_dir(fold.fold)
            workdir = store.path(layout.run_dir(layout.model_dir(fold.fold), "direct"))
            extra = model_identity(record["training_version"], train_spec, configuration)
            t_fit = clock()
            outcome = train_fold(ws, fold, stats, train_spec, workdir, extra=extra)
            stages["train_fold"] += clock() - t_fit
            best = publish_checkpoints(workdir, model_dir)
        t3 = clock()
        with enter("metrics"):
            scores, pred, chosen = score_fold(ws, fold, stats, best, store.metrics_dir(fold.fold), costs=settings.costs)
            store.publish_metrics(fold.fold, scored_document(record, extra))
        t4 = clock()
        results.append(
            FoldResult(
                fold.fold,
                fold.to_dict(),
                scores.forecasts.reset_index(),
                pred,
                scores.backtest.reset_index(),
                scores.comparison,
                outcome.history,
                baselines=chosen,
                train_spec=dataclasses.asdict(train_spec),
            )
        )
        stages["folds"] += t1 - t0
        stages["normalization"] += t2 - t1
        stages["training"] += t3 - t2
        stages["metrics"] += t4 - t3
    if first_fold_only:
        return clock() - t_start, dict(stages)

    # report_job's first step: the paper record of the stored forecasts (none here), as live_record writes it.
    t0 = clock()
    with enter("report"):
        paper, meta = paper_record(store.read_forecasts(), load_universe(store, "live_record"), settings.costs)
        store.write_live_record(paper, meta, equity_drawing(paper))
    stages["report"] += clock() - t0

    # The report from the in-memory fold results (the asset re-reads them from the fold files); the same
    # library call as walk_forward_report.
    t0 = clock()
    with enter("report"):
        costs = settings.costs
        header = provenance_for(["synthetic"] * len(work.tickers), work.tickers, ws.execution, costs)
        registry = TrialRegistry(store.trials_dir())  # the asset registers the record as a trial: so does this
        write_report(
            results, store.report_dir(), record=RecordCheck(), costs=costs, provenance=header, registry=registry
        )
    stages["report"] += clock() - t0
    return clock() - t_start, dict(stages)


def load_seconds(work: Work, root: Path, repeats: int = 5) -> float:
    """Median seconds of one window-set load (what each of the four fold assets does once per fold run)."""
    from fin_pipeline.defs.resources import DataStore
    from fin_pipeline.features.assemble import load_window_set

    paths = DataStore(root=str(root)).feature_paths(list(work.tickers))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        load_window_set(paths)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
