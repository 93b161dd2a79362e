"""The walk-forward report: every fold's test block scored, all of them stitched, with the statistics in words.

``walk_forward_report`` reads the folds' files and calls :func:`write_report`; a notebook or the pipeline
benchmark can call it with results held in memory. The stitched series is the folds' test blocks, consecutive
and never overlapping, scored by :func:`fin_pipeline.evaluation.scoring.score_predictions`, the same function
that scored
each fold.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd

from fin_pipeline.backtest import BUY_AND_HOLD
from fin_pipeline.backtest.capacity import Capacity, book_capacities, capacity_table, halving_line
from fin_pipeline.backtest.trials import TRIAL_BOOKS, TrialRegistry
from fin_pipeline.core.costs import CostModel
from fin_pipeline.core.formatting import format_stat, markdown_table, missed_line
from fin_pipeline.evaluation.scoring import PREDICTORS, Scores, score_predictions
from fin_pipeline.report.plots import drawdown_png, equity_curve_png, learning_curves_png
from fin_pipeline.report.provenance import Provenance
from fin_pipeline.report.tables import shown_per_fold, shown_tables
from fin_pipeline.report.tearsheets import TearSheets, markdown_section, write_tearsheets
from fin_pipeline.report.text import deflate, ridge_line, sharpe_line, trial_configuration_of
from fin_pipeline.sources.execution import describe
from fin_pipeline.store.parquet import atomic_path, write_parquet

# The books with a returns tear sheet: the model's two, against buy-and-hold (the baselines' books are in the
# report's tables; a quantstats page costs ~2.5 s and ~0.8 MB).
TEAR_SHEET_BOOKS = ("model", "model_neutral", BUY_AND_HOLD)


@dataclasses.dataclass(frozen=True)
class FoldResult:
    """What ``fold_metrics`` stored for one fold, plus the training history of its model."""

    fold: str
    bounds: dict[str, Any]  # FoldBoundaries.to_dict(): training, tuning and test dates, gaps, horizon
    forecasts: pd.DataFrame  # one row per predictor (column ``predictor``): metrics and IC statistics
    predictions: pd.DataFrame  # one row per test window: ticker, date, target, next_return, model, baselines
    backtest: pd.DataFrame  # one row per strategy (column ``strategy``): risk metrics and Sharpe statistics
    comparison: dict[str, Any]  # the model against the best baseline and zero (Diebold–Mariano)
    history: list[dict[str, Any]]  # the trainer's per-epoch records (val_loss = the tuning loss)
    baselines: dict[str, Any] | None = None  # what the baselines chose on the tuning block (ridge's α, edge hits)
    train_spec: dict[str, Any] | None = None  # the checkpoint's training specification: the trial's configuration


@dataclasses.dataclass(frozen=True)
class WalkForwardReport:
    folds: pd.DataFrame  # per fold: dates of the three blocks, ticker and window counts, epochs
    per_fold: pd.DataFrame  # per fold: the model against the baselines, with statistics
    stitched: Scores  # all folds' test blocks stitched, scored
    predictions: pd.DataFrame  # the stitched out-of-sample predictions
    tables: dict[str, str]  # Markdown
    pictures: dict[str, Path]  # PNG files
    tearsheets: TearSheets | None = None  # the factor and returns tear sheets (files, and what was skipped and why)
    capacity: list[Capacity] = dataclasses.field(default_factory=list)  # the model's books at other capitals


def fold_table(folds: list[FoldResult]) -> pd.DataFrame:
    """One row per fold: the three blocks' dates, the gap settings, the test block's tickers and windows, epochs."""
    rows = []
    for f in folds:
        b, best = f.bounds, min(f.history, key=lambda h: h["val_loss"], default={})
        rows.append(
            {
                "fold": f.fold,
                "train": f"{b['train_start']} … {b['train_end']}",
                "tuning": f"{b['tune_start']} … {b['tune_end']}",
                "test": f"{b['test_start']} … {b['test_end']}",
                "purge_days": b["purge_days"],
                "embargo_days": b["embargo_days"],
                "test_tickers": int(f.predictions["ticker"].nunique()),
                "test_windows": len(f.predictions),
                "epochs": len(f.history),
                "best_epoch": best.get("epoch"),
            }
        )
    return pd.DataFrame(rows)


def per_fold_table(folds: list[FoldResult]) -> pd.DataFrame:
    """One row per fold: the model's IC with its statistics, the best baseline's IC, the Diebold–Mariano p against
    it, the model's Sharpe (sign and neutral books) with its standard error and PSR, and ridge's penalty with the
    times its choice sat on the edge of its grid (which was then extended). DSR belongs to the stitched record,
    deflated by the store's trials."""
    rows = []
    for f in folds:
        fc, bt = f.forecasts.set_index("predictor"), f.backtest.set_index("strategy")
        best = f.comparison["vs_best"]
        days = f.predictions["date"].nunique()
        rows.append(
            {
                "fold": f.fold,
                "test_days": days,
                "model_ic": fc.loc["model", "ic"],
                "icir": fc.loc["model", "icir"],
                "nw_t": fc.loc["model", "ic_nw_t"],
                "ic_ci": (
                    f"{fc.loc['model', 'ic_ci_low']:.3g} … {fc.loc['model', 'ic_ci_high']:.3g}"
                    if fc.loc["model", "ic_ci_low"] == fc.loc["model", "ic_ci_low"]
                    else format_stat(float("nan"), days, int(f.bounds["horizon"]))
                ),
                "best_baseline": best["best_baseline"],
                "baseline_ic": fc.loc[best["best_baseline"], "ic"],
                "dm_p": best["dm_p_a_better"],
                "sharpe": bt.loc["model", "sharpe"],
                "sharpe_se": bt.loc["model", "sharpe_se"],
                "psr": bt.loc["model", "psr"],
                "neutral_sharpe": bt.loc["model_neutral", "sharpe"],
                "buy_hold_sharpe": bt.loc[BUY_AND_HOLD, "sharpe"],
                "ridge_alpha": (f.baselines or {}).get("ridge_alpha"),
                "ridge_edge_hits": (f.baselines or {}).get("ridge_edge_hits"),
            }
        )
    return pd.DataFrame(rows)


def stitch(folds: list[FoldResult]) -> pd.DataFrame:
    """The folds' test blocks, one out-of-sample series (column ``fold`` added), sorted by date and ticker."""
    stitched = pd.concat([f.predictions.assign(fold=f.fold) for f in folds], ignore_index=True)
    return stitched.sort_values(["date", "ticker"], ignore_index=True)


def record_line(record: dict[str, Any]) -> str:
    """In words, what :func:`append_only_check` found: the days kept unchanged and the days added."""
    added = record["added_rows"]
    span = f" ({record['added_first']} … {record['added_last']})" if added else ""
    if not record["unchanged_rows"]:
        return f"Out-of-sample record: a new record of {added} prediction(s){span}."
    return (
        f"Out-of-sample record: {record['unchanged_rows']} prediction(s) already reported are unchanged (checked "
        f"against the previous report); {added} added{span}."
    )


def live_section(live: pd.DataFrame, picture: str | None, missed: dict[str, str] | None = None) -> str:
    """The paper-trading record in the report: kept apart from the walk-forward backtest, pictures side by side;
    the sessions without an on-time forecast (``missed``: session → why) listed under it."""
    missed_text = f"Missed: {missed_line(missed or {})}.\n\n"
    if live is None or live.empty:
        return (
            "## Paper trading: the live forecasts\n\nNo forecast made on time has a realized target yet: the record "
            f"starts once the first nightly forecast's target is known.\n\n{missed_text}"
        )
    books = [c.removeprefix("equity_") for c in live.columns if c.startswith("equity_")]
    summary = pd.DataFrame(
        {
            "book": books,
            "days": len(live),
            "mean_ic": live["ic"].mean(),
            "hit_rate": live["hit_rate"].mean(),
            "total_return": [live[f"equity_{b}"].iloc[-1] - 1 for b in books],
            "mean_daily_net": [live[f"net_{b}"].mean() for b in books],
        }
    )
    first, last = (f"{pd.Timestamp(d):%Y-%m-%d}" for d in (live["as_of"].min(), live["as_of"].max()))
    side = (
        "| walk-forward backtest (test blocks) | paper trading (live forecasts) |\n|---|---|\n"
        f"| ![equity](equity_curve.png) | ![live equity]({picture}) |\n\n"
        if picture
        else ""
    )
    return (
        "## Paper trading: the live forecasts (kept apart from the walk-forward backtest)\n\n"
        f"Each night's forecast from the model retrained on all realized data, scored once its target was known: "
        f"{len(live)} day(s), {first} … {last}. The truest out-of-sample evidence, and the shortest.\n\n"
        f"{markdown_table(summary)}\n\n{missed_text}{side}"
    )


def capacity_section(capacities: list[Capacity], table: str | None) -> str:
    """The capacity table in the report, or why there is none."""
    if not capacities:
        return "## Capacity\n\nNot measured: flat costs (cost_model=flat) do not depend on the capital traded.\n\n"
    return (
        "## Capacity: the model's books at other capitals\n\n"
        "The same trades charged at each capital: half-spread plus square-root impact k·σ·√(traded/ADV), so the "
        "impact grows with √capital; C→0 is the spread alone. Net annualized return is geometric.\n\n"
        f"{table}\n\nNet Sharpe halves (against C→0) at: {halving_line(capacities)}.\n\n"
    )


def write_report(
    folds: list[FoldResult],
    out: Path,
    horizon: int = 1,
    seed: int = 0,
    record: dict[str, Any] | None = None,
    live: pd.DataFrame | None = None,
    live_picture: Path | None = None,
    tearsheets: bool = True,
    costs: CostModel | None = None,
    missed: dict[str, str] | None = None,
    notes: list[str] | None = None,
    meta: dict[str, Any] | None = None,
    *,
    provenance: Provenance,
    registry: TrialRegistry | None = None,
) -> WalkForwardReport:
    """Stitch the folds' test blocks into one out-of-sample series, score it, and write its tables (Parquet),
    pictures (PNG), tear sheets (:mod:`fin_pipeline.report.tearsheets`: the model's predictions as an alpha
    factor, each book's returns as HTML) and ``report.md`` into ``out``, each file atomically. ``record``: what
    :func:`append_only_check` returned, said in words under the verdict. ``live`` (and its picture, copied
    beside the report): the paper-trading record of the live forecasts, a section of its own, with the ``missed``
    sessions (session → why) that had no on-time forecast. ``tearsheets=False`` leaves the tear sheets out (they
    cost seconds per book: a benchmark of the pipeline's own steps may skip them).
    ``costs``: how every book is charged (None: flat at the default bps); under ``spread_impact`` the report adds
    the model's books' capacity (:mod:`fin_pipeline.backtest.capacity`). ``notes``: lines said under the record's
    (restated histories, mixed configurations); ``meta``: more values stored in the metadata of
    ``overall_metrics.parquet``. ``provenance``: the source, universe, execution and costs, the report's first
    lines (and how it is scored). ``registry``: the store's trial registry; this record is recorded in it as a
    trial and the model's books' DSR is deflated by every trial there (without one, this record is the only
    trial: DSR = PSR)."""
    if not folds:
        raise ValueError("no folds to report on")
    # The configuration is checked before anything is written (folds trained under different fold rules).
    configuration = trial_configuration_of(folds, provenance) if registry is not None else None
    stitched = stitch(folds)
    scores = score_predictions(stitched, horizon, seed=seed, costs=costs)
    scores, trial_text = deflate(scores, horizon, registry, configuration)
    folds_df, per_fold = fold_table(folds), per_fold_table(folds)
    forecasts, backtest = shown_tables(scores.forecasts, scores.backtest, horizon)
    # DSR is the model's alone: the other books are references that nobody selected among trials.
    backtest = backtest.astype(object)
    backtest.loc[~backtest.index.isin(TRIAL_BOOKS), "dsr"] = "not a trial"

    out = Path(out)
    write_parquet(folds_df, out / "folds.parquet")
    write_parquet(per_fold, out / "fold_summary.parquet")
    record_text = [*([record_line(record)] if record is not None else []), *(notes or [])]
    selection = sharpe_line(scores, trial_text)
    stored = {
        **(meta or {}),
        "verdict": scores.verdict,
        "record": record_text,
        "header": provenance.lines(),
        "sharpe": selection,
    }
    write_parquet(scores.forecasts.reset_index(), out / "overall_metrics.parquet", meta=stored)
    write_parquet(stitched, out / "oos_predictions.parquet")
    write_parquet(scores.backtest.reset_index(), out / "backtest.parquet")
    books = scores.books
    capacities = book_capacities(books)
    if capacities:
        halves = {"halving": halving_line(capacities), "costs": books["model"].costs.describe()}
        write_parquet(capacity_table(capacities).reset_index(), out / "capacity.parquet", meta=halves)
    else:  # flat costs: no capacity, and none left from an earlier report
        (out / "capacity.parquet").unlink(missing_ok=True)
    pictures = {
        "equity": equity_curve_png(
            {k: books[k].equity for k in (*PREDICTORS, BUY_AND_HOLD) if k != "zero"}, out / "equity_curve.png"
        ),
        "equity_neutral": equity_curve_png(
            {k: books[f"{k}_neutral"].equity for k in PREDICTORS if k != "zero"},
            out / "equity_neutral.png",
            title="Out-of-sample equity, market-neutral books (stock selection alone)",
        ),
        "drawdown": drawdown_png(books["model"].equity, out / "drawdown.png"),
        "learning_curves": learning_curves_png({f.fold: f.history for f in folds}, out / "learning_curves.png"),
    }
    # The same stitched rows and books as the tables above; a sheet that cannot be drawn is named, never raised.
    sheets = (
        write_tearsheets(stitched, {name: books[name].returns for name in TEAR_SHEET_BOOKS}, out, horizon=horizon)
        if tearsheets
        else None
    )
    tables = {
        "folds": markdown_table(folds_df),
        "per_fold": markdown_table(shown_per_fold(per_fold, horizon)),
        "stitched": markdown_table(forecasts),
        "backtest": markdown_table(backtest),
        **({"capacity": markdown_table(capacity_table(capacities))} if capacities else {}),
    }
    span = f"{stitched['date'].min():%Y-%m-%d} … {stitched['date'].max():%Y-%m-%d}"
    text = (
        "# Walk-forward report\n\n"
        + "".join(f"{line}  \n" for line in provenance.lines())
        + "\n"
        + "".join(f"{line}\n\n" for line in [*scores.verdict, selection, *record_text])
        + f"{len(folds)} folds, {len(stitched)} out-of-sample predictions ({span}), target horizon h = {horizon}, "
        f"execution {describe(folds[0].bounds.get('execution', 'close'))}: the target, the IC and every book use "
        "that return. Statistics that the days there are do not define (a new fold's first test days) read "
        "n/a (n days). "
        "Every number below is on **test** blocks, read once after training; early stopping, the best epoch and "
        "ridge's penalty were chosen on each fold's **tuning** block.\n\n"
        f"## Folds: training | gap | tuning | gap | test\n\n{tables['folds']}\n\n"
        f"## The model per fold, with its statistics\n\n{tables['per_fold']}\n\n"
        + ridge_line(folds)
        + "IC: mean daily cross-sectional correlation; ICIR = mean / std of the daily IC; nw_t: Newey–West t of the "
        "mean IC; dm_p: one-sided Diebold–Mariano p that the model's squared error is lower than the best "
        "baseline's; sharpe_se and PSR (the probability that the true Sharpe exceeds 0) use a Newey–West (HAC) "
        "variance with the lags of the backtest table.\n\n"
        f"## Forecasts, all folds stitched\n\n{tables['stitched']}\n\n"
        f"## Books, all folds stitched (net of costs: {books['model'].costs.describe()})\n\n{tables['backtest']}\n\n"
        "`model` is the directional sign book (long what is predicted up, short what is predicted down: it mixes "
        "market timing with stock selection); `model_neutral` is the market-neutral rank book (Σw = 0, "
        "Σ|w| = 1): stock selection alone, what IC measures. For h > 1 each day's book is held h days as "
        "overlapping tranches. sharpe_ci: the 95% interval sharpe ± 1.96 sharpe_se, Lo's (2002) standard error "
        "with a Newey–West variance of `lags` lags (at least h − 1: overlapping tranches autocorrelate the daily "
        "returns); DSR: the model's books only, deflated by every trial registered on this store (Bailey & "
        "López de Prado 2014).\n\n"
        + capacity_section(capacities, tables.get("capacity"))
        + "".join(f"![{name}]({path.name})\n\n" for name, path in pictures.items())
        + (markdown_section(sheets) if sheets is not None else "")
    )
    if live is not None:
        picture = None
        if live_picture is not None and Path(live_picture).is_file():
            with atomic_path(out / Path(live_picture).name) as tmp:
                tmp.write_bytes(Path(live_picture).read_bytes())
            picture = Path(live_picture).name
        text += live_section(live, picture, missed)
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(text)
    return WalkForwardReport(folds_df, per_fold, scores, stitched, tables, pictures, sheets, capacities)


class RecordChanged(ValueError):
    """A day already in the stored out-of-sample record differs in the new one: the record is append-only."""


class MixedConfigurations(ValueError):
    """Folds trained with different training configurations, stitched without being told to."""


def check_configurations(hashes: dict[str, str | None], allow: bool) -> str | None:
    """The folds' training configuration hashes (None: not recorded) must be one; otherwise
    :class:`MixedConfigurations` names the folds of each, unless ``allow``, when the line returned says so."""
    groups: dict[str, list[str]] = {}
    for fold, value in hashes.items():
        if value is not None:
            groups.setdefault(value, []).append(fold)
    if len(groups) < 2:
        return None
    said = "; ".join(f"configuration {h}: folds {', '.join(folds)}" for h, folds in groups.items())
    if not allow:
        raise MixedConfigurations(
            f"the folds were trained with {len(groups)} different training configurations ({said}); a stitched "
            "record of them would mix models. Rebuild the odd folds (fin-pipeline rebuild --from DATE), or stitch "
            "them anyway with allow_mixed_configurations=true (fin-pipeline run --allow-mixed-configurations)"
        )
    return f"Mixed training configurations, stitched on request: {said}."


def append_only_check(
    previous: pd.DataFrame | None, stitched: pd.DataFrame, restated_folds: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Compare the new stitched out-of-sample series with the previous report's (``oos_predictions.parquet``).

    Every (ticker, date) row of ``previous`` must be in ``stitched`` with the same values (every column but
    ``window``, a position in the day's row array that moves as rows are added); :class:`RecordChanged` names the
    fold, ticker, date, column and both values otherwise. The rows of ``restated_folds`` (the open fold retrained
    on a restated history since the previous report) may change; they are counted. Returns what was added:
    ``{"unchanged_rows", "added_rows", "added_first", "added_last", "restated_rows"}`` (dates as ISO strings,
    None when nothing was added).
    """
    key = ["ticker", "date"]
    restated = 0
    if previous is not None and not previous.empty and restated_folds:
        mine = previous["fold"].isin(list(restated_folds)).to_numpy()
        restated, previous = int(mine.sum()), previous[~mine]
    if previous is None or previous.empty:
        added = stitched
        unchanged = 0
    else:
        columns = [c for c in previous.columns if c not in ("window", *key)]
        merged = previous.merge(stitched, on=key, how="left", suffixes=("_was", ""), indicator=True)
        gone = merged[merged["_merge"] == "left_only"]
        if len(gone):
            row = gone.iloc[0]
            raise RecordChanged(
                f"fold {row['fold_was']}: {row['ticker']} on {row['date']:%Y-%m-%d} is in the stored out-of-sample "
                f"record but not in the new one ({len(gone)} row(s) gone); earlier days are never rewritten"
            )
        for column in columns:
            was, now = merged[f"{column}_was"], merged[column]
            same = (was == now) | (was.isna() & now.isna())
            if not same.all():
                row = merged[~same].iloc[0]
                raise RecordChanged(
                    f"fold {row['fold_was']}: the out-of-sample record changed on a day already reported: "
                    f"{row['ticker']} on {row['date']:%Y-%m-%d}, {column} was {row[f'{column}_was']!r}, now "
                    f"{row[column]!r} ({int((~same).sum())} value(s) differ); earlier days are never rewritten. "
                    "If you retrained folds deliberately, rebuild the report with rewrite=true"
                )
        known = pd.MultiIndex.from_frame(previous[key])
        added = stitched[~pd.MultiIndex.from_frame(stitched[key]).isin(known)]
        unchanged = len(previous)
    days = pd.to_datetime(added["date"])
    return {
        "restated_rows": restated,
        "unchanged_rows": int(unchanged),
        "added_rows": int(len(added)),
        "added_first": None if added.empty else f"{days.min():%Y-%m-%d}",
        "added_last": None if added.empty else f"{days.max():%Y-%m-%d}",
    }
