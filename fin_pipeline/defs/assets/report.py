"""The walk-forward report: every fold's test block beside the baselines, and the stitched out-of-sample series."""

import base64
from pathlib import Path

from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from fin_pipeline.backtest.trials import TrialRegistry
from fin_pipeline.core.costs import CostModel
from fin_pipeline.core.settings import load_settings
from fin_pipeline.defs.assets.folds import WALK_FORWARD_GROUP
from fin_pipeline.defs.assets.live import live_record
from fin_pipeline.defs.assets.training import fold_metrics
from fin_pipeline.defs.assets.universe import data_fold_keys, load_universe
from fin_pipeline.defs.costs import CostsConfig
from fin_pipeline.defs.resources import DataStore
from fin_pipeline.evaluation.history import restatement_line, restatements
from fin_pipeline.evaluation.nightly import SCORED_FILE
from fin_pipeline.evaluation.scoring import fold_files
from fin_pipeline.features.cost_inputs import COST_INPUTS
from fin_pipeline.report.folds import FoldResult
from fin_pipeline.report.provenance import Provenance
from fin_pipeline.report.record import MixedConfigurations, RecordChanged, RecordCheck, check_configurations
from fin_pipeline.report.tearsheets import links_markdown
from fin_pipeline.report.text import provenance_for
from fin_pipeline.report.walk_forward import write_report
from fin_pipeline.store import layout
from fin_pipeline.store.parquet import read_json, read_parquet, read_parquet_meta
from fin_pipeline.training.checkpoint import read_checkpoint
from fin_pipeline.training.configuration import configuration_hash


def read_fold_result(store: DataStore, fold: str) -> FoldResult:
    """What ``fold_metrics`` stored for ``fold``, and its model's training history."""
    files = fold_files(store.pull_tree(store.metrics_dir(fold)))
    forecasts, meta = read_parquet(files["metrics"])
    predictions, _ = read_parquet(files["predictions"])
    backtest, _ = read_parquet(files["backtest"])
    checkpoint = read_checkpoint(store.pull(store.model_dir(fold) / "last.pt"))
    return FoldResult(
        fold,
        meta["fold"],
        forecasts,
        predictions,
        backtest,
        meta["comparison"],
        checkpoint["history"],
        baselines=meta.get("baselines"),
        train_spec=checkpoint["extra"].get("train_spec"),
    )


def provenance(store: DataStore, results: list[FoldResult], costs: CostModel) -> Provenance:
    """The report's header facts: each ticker's stored source (what the candles' files say they came from, the
    configured source for a ticker without one), the universe, the execution the folds were built with, and the
    cost model the books are charged with."""
    executions = sorted({str(r.bounds.get("execution", "close")) for r in results})
    if len(executions) > 1:
        by = {e: [r.fold for r in results if str(r.bounds.get("execution", "close")) == e] for e in executions}
        raise Failure(
            f"walk_forward_report: the folds were built under different executions {by}; one record needs one "
            "execution: rematerialize feature_windows and the folds under one FIN_PIPELINE_EXECUTION",
            allow_retries=False,
        )
    settings = load_settings()
    sources = []
    for ticker in settings.universe:
        path = store.pull(store.raw_candles_path(ticker))
        sources.append(read_parquet_meta(path).get("source", settings.source) if path.is_file() else settings.source)
    per_fold = []
    if settings.universe_rule is not None:  # each fold's universe, as its record stored it
        for r in results:
            stored = store.read_fold_record(r.fold).get("universe") or {}
            per_fold.append({"fold": r.fold, **stored, "count": stored.get("count", "?")})
    return provenance_for(sources, settings.universe, executions[0], costs, settings.universe_rule, per_fold)


class ReportConfig(CostsConfig):
    rewrite: bool = Field(
        default=False,
        description="Accept changed days in the out-of-sample record (after folds were retrained deliberately); "
        "by default a day already reported that comes back different is an error.",
    )
    allow_mixed_configurations: bool = Field(
        default=False,
        description="Stitch folds trained with different training configurations (named in the report); by "
        "default the report refuses them, naming the folds of each configuration.",
    )


def fold_configurations(store: DataStore, folds: list[str]) -> dict[str, str | None]:
    """The training configuration hash each fold's scored model was trained with (None: not recorded)."""
    hashes = {}
    for fold in folds:
        path = store.pull(store.metrics_dir(fold) / SCORED_FILE)
        stored = read_json(path).get("configuration") if path.is_file() else None
        hashes[fold] = configuration_hash(stored) if stored else None
    return hashes


@asset(
    group_name=WALK_FORWARD_GROUP,
    deps=[AssetDep(fold_metrics, partition_mapping=AllPartitionMapping()), live_record],
    kinds={"parquet"},
)
def walk_forward_report(context: AssetExecutionContext, config: ReportConfig, store: DataStore) -> MaterializeResult:
    """All folds' test blocks stitched: the model against the baselines with statistics, books, and pictures."""
    costs = config.costs("walk_forward_report")
    folds = data_fold_keys(load_universe(store, "walk_forward_report"))  # every period begun in the data
    missing = [f for f in folds if not store.pull(fold_files(store.metrics_dir(f))["backtest"]).is_file()]
    if missing:
        raise Failure(f"walk_forward_report: fold_metrics is missing for {missing}; materialize those folds first")
    try:
        mixed = check_configurations(fold_configurations(store, folds), config.allow_mixed_configurations)
    except MixedConfigurations as exc:
        raise Failure(f"walk_forward_report: {exc}", allow_retries=False) from exc
    results = [read_fold_result(store, f) for f in folds]
    unpriced = [r.fold for r in results if costs.needs_inputs and not set(COST_INPUTS) <= set(r.predictions.columns)]
    if unpriced:
        raise Failure(
            f"walk_forward_report: the folds {unpriced} were scored before the cost inputs existed, which cost_model "
            f"{costs.cost_model!r} needs: rematerialize feature_windows, then fold_metrics for those folds (or set "
            "cost_model=flat)",
            allow_retries=False,
        )
    out = store.report_dir()
    # Restated histories: closed folds stay as recorded; the open fold, retrained on a restatement seen since the
    # previous report, may change its days (counted and said).
    restated = restatements(store, list(load_settings().universe))
    meta_path = store.pull(out / "overall_metrics.parquet")
    seen = read_parquet_meta(meta_path).get("restatements_seen", 0) if meta_path.is_file() else 0
    open_fold = results[-1].fold if results[-1].bounds.get("is_open") else None
    may_change = frozenset([open_fold] if open_fold and len(restated) > seen else [])
    # Append-only: the days already reported must come back unchanged (checked before anything is written); the
    # new ones are listed. The previous record is the store's (S3: pulled), so an empty cache checks the same.
    stored = None if config.rewrite else store.read_stored_table(out / "oos_predictions.parquet")
    previous = stored[0] if stored else None
    notes = [line for line in (restatement_line(restated, open_fold), mixed) if line]
    live, live_meta = store.read_stored_table(store.live_record_dir() / "record.parquet") or (None, {})
    trials = store.pull_tree(store.trials_dir())  # S3: every trial ever registered, before this one is added
    try:
        report = write_report(
            results,
            out,
            horizon=int(results[0].bounds["horizon"]),
            record=RecordCheck(previous, may_change),
            live=live,
            live_picture=store.pull(store.live_record_dir() / "live_equity.png"),
            tearsheets=load_settings().tear_sheets,
            costs=costs,
            missed=live_meta.get("missed", {}),
            provenance=provenance(store, results, costs),
            registry=TrialRegistry(trials),
            board=_board(store),
            notes=notes,
            meta={"restatements_seen": len(restated)},
        )
    except RecordChanged as exc:
        raise Failure(f"walk_forward_report: {exc}", allow_retries=False) from exc
    added = report.record
    context.log.info(
        f"out-of-sample record: {added['unchanged_rows']} earlier prediction(s) unchanged, {added['added_rows']} "
        f"added ({added['added_first']} … {added['added_last']})"
    )
    store.push_tree(out)  # S3: every report file and picture that changed, each in one PUT
    store.push_tree(trials)
    context.log.info(f"walk-forward report written to {store.describe(out)}")
    sheets = report.tearsheets.files if report.tearsheets else {}
    factor_png = sheets.get("factor_tearsheet")  # skipped on a record too small for it
    return MaterializeResult(
        metadata={
            "folds": len(folds),
            "notes": MetadataValue.md("\n\n".join(notes) or "none"),
            **{k: v for k, v in added.items() if v is not None},
            "oos_predictions": len(report.predictions),
            **report.headline(),
            "verdict": MetadataValue.md("\n\n".join(report.stitched.verdict)),
            "costs": costs.describe(),
            **{f"{c.book}_sharpe_halves_at": c.note for c in report.capacity},
            **{name: MetadataValue.md(table) for name, table in report.tables.items()},
            # Inline images, so the pictures show in the UI's metadata panel and not only on disk.
            **{name: MetadataValue.md(_inline_png(path)) for name, path in report.pictures.items()},
            "path": MetadataValue.path(store.describe(out)),
            "tear_sheets": MetadataValue.md(links_markdown(report.tearsheets, store.describe)),
            **({"factor_tear_sheet": MetadataValue.path(store.describe(factor_png))} if factor_png else {}),
        }
    )


def _board(store: DataStore):
    """The stored leaderboard (table, metadata, chart) for the report's section; None when there is none."""
    stored = store.read_leaderboard()
    if stored is None:
        return None
    return (*stored, store.pull(store.path(layout.leaderboard_chart())))


def _inline_png(path: Path) -> str:
    return f"![{path.stem}](data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()})"
