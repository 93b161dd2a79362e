"""The nightly product: ``live_model`` (trained on every realized target), ``forecasts[date]`` (the next session's
predictions and positions), and ``live_record`` (how the forecasts did once their targets were realized).

Both partitioned assets are keyed by the forecast date, the NYSE session after the data's last bar (a dynamic
partition that the CLI and the nightly sensor add when they forecast). The library is
:mod:`fin_pipeline.evaluation.live`.
"""

import functools
from dataclasses import asdict

import pandas as pd
from dagster import (
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    asset,
)
from pydantic import Field

from fin_pipeline.core.formatting import markdown_table, missed_line, missed_markdown
from fin_pipeline.defs.assets.folds import ALL_TICKERS, FoldConfig
from fin_pipeline.defs.assets.training import TrainingConfig, finish_tracking, observe_training
from fin_pipeline.defs.assets.universe import load_universe
from fin_pipeline.defs.costs import CostsConfig
from fin_pipeline.defs.executors import TRAINING_OP_TAGS
from fin_pipeline.defs.integrity import refuse_corrupt
from fin_pipeline.defs.partitions import every_partition, forecast_partitions
from fin_pipeline.defs.resources import DataStore
from fin_pipeline.evaluation.live import (
    ForecastError,
    data_end,
    make_forecast,
    missed_sessions,
    next_session,
    score_forecasts,
    utc_now,
)
from fin_pipeline.evaluation.nightly import plan_live
from fin_pipeline.report.plots import equity_curve_png
from fin_pipeline.sources.execution import describe
from fin_pipeline.store import layout
from fin_pipeline.training.checkpoint import TrainingError, read_checkpoint
from fin_pipeline.training.configuration import configuration_hash
from fin_pipeline.training.normalization import fit_fold_normalization
from fin_pipeline.training.versions import checkpoint_model_version
from fin_pipeline.training.walkforward import publish_checkpoints, train_fold

LIVE_GROUP = "live"
BOOKS = ("sign", "long_only", "neutral")
# The night's assets: one partition per forecast date, in the live group.
nightly_asset = functools.partial(asset, partitions_def=forecast_partitions, group_name=LIVE_GROUP)


class LiveModelConfig(TrainingConfig):
    """The fold training config (the same launchpad fields and defaults), and how many nights to keep."""

    keep_nights: int = Field(default=5, description="Live checkpoints kept (one per night); older ones are removed.")


def _check_night(context: AssetExecutionContext, universe, what: str) -> str:
    """The partition must be the session after the data's last day: a stale forecast is never made as today's."""
    as_of = data_end(universe.windows)
    expected = next_session(as_of).isoformat()
    if context.partition_key != expected:
        raise Failure(
            f"{what}[{context.partition_key}]: the data ends on {as_of}, so tonight's forecast is for {expected}; "
            f"refresh the data (candles_job) for {context.partition_key}, or materialize {what}[{expected}]",
            allow_retries=False,
        )
    return expected


@nightly_asset(
    deps=[ALL_TICKERS],
    kinds={"pytorch"},
    pool="training",
    retry_policy=RetryPolicy(max_retries=2, delay=1),
    op_tags=TRAINING_OP_TAGS,
)
def live_model(context: AssetExecutionContext, config: LiveModelConfig, store: DataStore) -> MaterializeResult:
    """A fresh model on every realized target: training | gap | tuning (the last tune_days days), the fold rules;
    nothing is trained when tonight's model of the same version (data, configuration, seed, code) is stored. A
    corrupt stored input fails the step once (a retry would read the same bytes)."""
    with refuse_corrupt(f"live_model[{context.partition_key}]"):
        return _live_model(context, config, store)


def _live_model(context: AssetExecutionContext, config: LiveModelConfig, store: DataStore) -> MaterializeResult:
    if config.keep_nights < 1:
        raise Failure(f"live_model: keep_nights must be >= 1, got {config.keep_nights}", allow_retries=False)
    configuration, spec = config.configuration(store, f"live_model[{context.partition_key}]")
    universe = load_universe(store, "live_model")
    night = _check_night(context, universe, "live_model")
    ws = universe.live_windows()  # today's universe (the rule applied after the data's last day)
    try:
        plan = plan_live(ws, FoldConfig().spec(), asdict(spec), store, night, universe.horizon)
    except ValueError as exc:
        raise Failure(f"live_model[{night}]: {exc}", allow_retries=False) from exc
    fold = plan.fold
    if plan.action == "skip":  # an unchanged rerun of the night: nothing trained, nothing written
        context.log.info(f"live_model[{night}]: up to date, {plan.reason}: not retrained")
        metadata = _live_metadata(store, plan, night, store.read_live(night), "up to date (not retrained)")
        removed = store.prune_live(config.keep_nights)  # older nights only: tonight's files are left as they are
        return MaterializeResult(metadata={**metadata, "removed_nights": ", ".join(removed) or "none"})
    stats = fit_fold_normalization(ws, fold)
    workdir = store.path(layout.run_dir(layout.live_dir(night), context.run.run_id))
    resume = (workdir / layout.LAST).is_file()  # a retry of this run goes on from its last epoch
    extra = {
        **plan.versions,
        "configuration": configuration,
        "configuration_hash": configuration_hash(configuration),
    }
    callbacks, tracked = observe_training(context, f"live {night}", spec, fold, extra)
    with finish_tracking(tracked) as done:
        try:
            outcome = train_fold(ws, fold, stats, spec, workdir, resume=resume, extra=extra, callbacks=callbacks)
        except TrainingError as exc:
            raise Failure(f"live_model[{night}]: {exc}", allow_retries=False) from exc
        done(outcome.history, workdir / layout.BEST)
    publish_checkpoints(workdir, store.live_dir(night))
    record = {
        "fold": fold.to_dict(),
        "normalization": stats.to_dict(),
        "train_spec": asdict(spec),
        **extra,
        "epochs": len(outcome.history),
        "best_epoch": outcome.best_epoch,
        "best_tune_loss": outcome.best_score,
        "universe": {"rule": str(universe.rule or "hand-picked"), "count": len(ws.spans), "tickers": sorted(ws.spans)},
    }
    store.publish_live(night, {**record, "forecast_date": night})
    removed = store.prune_live(config.keep_nights)
    metadata = _live_metadata(store, plan, night, record, "trained")
    return MaterializeResult(
        metadata={
            **metadata,
            "configuration_hash": extra["configuration_hash"],
            "resumed": resume,
            "model": spec.model,
            "removed_nights": ", ".join(removed) or "none",
        }
    )


def _live_metadata(store: DataStore, plan, night: str, record: dict, status: str) -> dict:
    fold = plan.fold
    return {
        "status": status,
        "as_of": str(fold.test_start),
        "forecast_date": night,
        "train": f"{fold.train_start} … {fold.train_end}",
        "tuning": f"{fold.tune_start} … {fold.tune_end}",
        "epochs": int(record.get("epochs", 0)),
        "best_epoch": record.get("best_epoch") or 0,
        "best_tune_loss": float(record.get("best_tune_loss") or float("nan")),
        **{k: plan.versions[k] for k in ("model_version", "data_version", "code_version")},
        "path": MetadataValue.path(store.describe(store.live_dir(night) / layout.BEST)),
    }


@nightly_asset(
    deps=[live_model],
    kinds={"parquet"},
)
def forecasts(context: AssetExecutionContext, store: DataStore) -> MaterializeResult:
    """Tomorrow's forecast per ticker: the live model's prediction, its rank, each book's position, the baselines."""
    universe = load_universe(store, "forecasts")
    night = _check_night(context, universe, "forecasts")
    checkpoint = store.live_checkpoint(night)
    try:
        table, missing = make_forecast(universe.live_windows(), checkpoint, made_at=utc_now())
    except ForecastError as exc:
        raise Failure(f"forecasts[{night}]: {exc}", allow_retries=False) from exc
    ckpt = read_checkpoint(checkpoint)
    extra = ckpt["extra"]
    meta = {
        "forecast_date": night,
        "as_of": extra["as_of"],
        "data_version": extra["data_version"],
        "code_version": extra["code_version"],
        "model_version": checkpoint_model_version(ckpt),
        # when the positions trade: under next_open, bought at the open of forecast_date, sold at the next open
        "execution": describe(universe.execution),
        "missing": missing,
    }
    path = store.forecast_path(night)
    stored, status = store.read_forecast(night), "written"
    if stored is not None:  # a forecast is written once: a rerun must reproduce it
        try:  # the same forecast, made again: when it was made is not part of what it says
            same = [c for c in table.columns if c != "made_at"]
            pd.testing.assert_frame_equal(stored[same], table[same], check_exact=True)
        except AssertionError as exc:
            raise Failure(
                f"forecasts[{night}]: {store.describe(path)} already holds a different forecast for {night}; a "
                f"forecast is written once and never overwritten ({str(exc).splitlines()[0]})",
                allow_retries=False,
            ) from None
        status = "reproduced (identical to the stored forecast)"
    else:
        store.write_table(table, path, meta=meta)
    made_at = pd.Timestamp(stored["made_at"].iloc[0]) if stored is not None else table["made_at"][0]
    context.log.info(f"forecast for {night} (as of {meta['as_of']}, made {made_at:%Y-%m-%d %H:%M} UTC): {status}")
    shown = table[["ticker", "model", "rank", "weight_sign", "weight_long_only", "weight_neutral", "ridge"]]
    return MaterializeResult(
        metadata={
            **{k: v for k, v in meta.items() if k != "missing"},
            "tickers": len(table),
            "missing_tickers": ", ".join(f"{t} ({why})" for t, why in missing.items()) or "none",
            "status": status,
            "made_at": f"{made_at:%Y-%m-%d %H:%M:%S} UTC",
            "forecast": MetadataValue.md(markdown_table(shown)),
            "path": MetadataValue.path(store.describe(path)),
        }
    )


@asset(
    group_name=LIVE_GROUP,
    deps=[every_partition(forecasts), ALL_TICKERS],
    kinds={"parquet"},
)
def live_record(context: AssetExecutionContext, config: CostsConfig, store: DataStore) -> MaterializeResult:
    """The paper-trading record: every forecast made on time whose targets are realized, scored (IC, hit rate,
    books); the sessions that had no on-time forecast, listed as missed."""
    costs = config.costs("live_record")
    frames = store.read_forecasts()
    record, meta = paper_record(frames, load_universe(store, "live_record"), costs)
    missed = meta["missed"]
    metadata = {
        "forecasts": len(frames),
        "scored_days": len(record),
        "execution": meta["execution"],
        "costs": costs.describe(),
        "missed_sessions": len(missed),
        "missed": MetadataValue.md(missed_markdown(missed)),
    }
    if len(record):
        metadata.update(
            mean_ic=float(record["ic"].mean()),
            hit_rate=float(record["hit_rate"].mean()),
            **{f"total_return_{b}": float(record[f"equity_{b}"].iloc[-1] - 1) for b in BOOKS},
            record=MetadataValue.md(markdown_table(record.tail(20))),
        )
    store.write_live_record(record, meta, equity_drawing(record))
    context.log.info(
        f"live record: {len(record)} forecast day(s) scored of {len(frames)} stored; {missed_line(missed)}"
    )
    return MaterializeResult(metadata=metadata)


def paper_record(frames: list[pd.DataFrame], universe, costs) -> tuple[pd.DataFrame, dict]:
    """The stored forecasts scored against the realized targets, and the record file's metadata (with the
    sessions that had no on-time forecast, by date)."""
    stored = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    record = score_forecasts(stored, universe.windows, universe.horizon, costs)
    missed = {f"{day:%Y-%m-%d}": why for day, why in missed_sessions(stored, universe.windows).itertuples(index=False)}
    meta = {
        "forecasts": len(frames),
        "horizon": universe.horizon,
        "execution": describe(universe.execution),
        "costs": asdict(costs),
        "missed": missed,
    }
    return record, meta


def equity_drawing(record: pd.DataFrame):
    """What draws the record's equity picture into a path; None for an empty record (it has no picture)."""
    if not len(record):
        return None
    equity = {b: record.set_index("as_of")[f"equity_{b}"] for b in BOOKS}
    return functools.partial(equity_curve_png, equity, title="Paper trading: the live forecasts' books")
