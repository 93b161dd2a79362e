"""The walk-forward report: every fold's test block scored, all of them stitched, with the statistics in words.

``walk_forward_report`` reads the folds' files and calls :func:`write_report`; a notebook or the pipeline
benchmark can call it with results held in memory. The stitched series is the folds' test blocks, consecutive
and never overlapping, scored by :func:`fin_pipeline.scoring.score_predictions`, the same function that scored
each fold.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd

from fin_pipeline.backtest import BUY_AND_HOLD
from fin_pipeline.backtest.plots import drawdown_png, equity_curve_png, learning_curves_png
from fin_pipeline.backtest.tearsheets import TearSheets, markdown_section, write_tearsheets
from fin_pipeline.reporting import markdown_table
from fin_pipeline.scoring import PREDICTORS, Scores, score_predictions
from fin_pipeline.storage import atomic_path, write_parquet

# The backtest numbers a table shows first (the stored Parquet has all of them).
BACKTEST_COLUMNS = [
    "total_return",
    "annualized_return",
    "sharpe",
    "sharpe_se",
    "sharpe_ci_low",
    "sharpe_ci_high",
    "psr",
    "dsr",
    "max_drawdown",
    "win_rate",
    "hit_ratio",
    "var_95",
    "cvar_95",
    "avg_turnover",
]
# The books with a returns tear sheet: the model's two, against buy-and-hold (the baselines' books are in the
# report's tables; a quantstats page costs ~2.5 s and ~0.8 MB).
TEAR_SHEET_BOOKS = ("model", "model_neutral", BUY_AND_HOLD)
FORECAST_COLUMNS = [
    "mse",
    "mae",
    "ic",
    "ic_std",
    "icir",
    "ic_nw_t",
    "ic_nw_p",
    "ic_ci_low",
    "ic_ci_high",
    "rank_ic",
    "directional_accuracy",
    "n",
]


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


@dataclasses.dataclass(frozen=True)
class WalkForwardReport:
    folds: pd.DataFrame  # per fold: dates of the three blocks, ticker and window counts, epochs
    per_fold: pd.DataFrame  # per fold: the model against the baselines, with statistics
    stitched: Scores  # all folds' test blocks stitched, scored
    predictions: pd.DataFrame  # the stitched out-of-sample predictions
    tables: dict[str, str]  # Markdown
    pictures: dict[str, Path]  # PNG files
    tearsheets: TearSheets | None = None  # the factor and returns tear sheets (files, and what was skipped and why)


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
    it, and the model's Sharpe (sign and neutral books) with its standard error, PSR and DSR."""
    rows = []
    for f in folds:
        fc, bt = f.forecasts.set_index("predictor"), f.backtest.set_index("strategy")
        best = f.comparison["vs_best"]
        rows.append(
            {
                "fold": f.fold,
                "model_ic": fc.loc["model", "ic"],
                "icir": fc.loc["model", "icir"],
                "nw_t": fc.loc["model", "ic_nw_t"],
                "ic_ci": f"{fc.loc['model', 'ic_ci_low']:.3g} … {fc.loc['model', 'ic_ci_high']:.3g}",
                "best_baseline": best["best_baseline"],
                "baseline_ic": fc.loc[best["best_baseline"], "ic"],
                "dm_p": best["dm_p_a_better"],
                "sharpe": bt.loc["model", "sharpe"],
                "sharpe_se": bt.loc["model", "sharpe_se"],
                "psr": bt.loc["model", "psr"],
                "dsr": bt.loc["model", "dsr"],
                "neutral_sharpe": bt.loc["model_neutral", "sharpe"],
                "buy_hold_sharpe": bt.loc[BUY_AND_HOLD, "sharpe"],
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


def live_section(live: pd.DataFrame, picture: str | None) -> str:
    """The paper-trading record in the report: kept apart from the walk-forward backtest, pictures side by side."""
    if live is None or live.empty:
        return (
            "## Paper trading: the live forecasts\n\nNo forecast has a realized target yet: the record starts once "
            "the first nightly forecast's target is known.\n\n"
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
        f"{markdown_table(summary)}\n\n{side}"
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
    notes: list[str] | None = None,
    meta: dict[str, Any] | None = None,
) -> WalkForwardReport:
    """Stitch the folds' test blocks into one out-of-sample series, score it, and write its tables (Parquet),
    pictures (PNG), tear sheets (:mod:`fin_pipeline.backtest.tearsheets`: the model's predictions as an alpha
    factor, each book's returns as HTML) and ``report.md`` into ``out``, each file atomically. ``record``: what
    :func:`append_only_check` returned, said in words under the verdict. ``live`` (and its picture, copied
    beside the report): the paper-trading record of the live forecasts, a section of its own. ``tearsheets=False``
    leaves the tear sheets out (they cost seconds per book: a benchmark of the pipeline's own steps may skip them).
    ``notes``: lines said under the record's (restated histories, mixed configurations); ``meta``: more values
    stored in the metadata of ``overall_metrics.parquet``."""
    if not folds:
        raise ValueError("no folds to report on")
    stitched = stitch(folds)
    scores = score_predictions(stitched, horizon, seed=seed)
    folds_df, per_fold = fold_table(folds), per_fold_table(folds)
    forecasts = scores.forecasts[FORECAST_COLUMNS]
    backtest = scores.backtest[BACKTEST_COLUMNS]

    out = Path(out)
    write_parquet(folds_df, out / "folds.parquet")
    write_parquet(per_fold, out / "fold_summary.parquet")
    record_text = [*([record_line(record)] if record is not None else []), *(notes or [])]
    stored = {**(meta or {}), "verdict": scores.verdict, "record": record_text}
    write_parquet(scores.forecasts.reset_index(), out / "overall_metrics.parquet", meta=stored)
    write_parquet(stitched, out / "oos_predictions.parquet")
    write_parquet(scores.backtest.reset_index(), out / "backtest.parquet")
    books = scores.books
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
        "per_fold": markdown_table(per_fold),
        "stitched": markdown_table(forecasts),
        "backtest": markdown_table(backtest),
    }
    span = f"{stitched['date'].min():%Y-%m-%d} … {stitched['date'].max():%Y-%m-%d}"
    text = (
        "# Walk-forward report\n\n"
        + "".join(f"{line}\n\n" for line in [*scores.verdict, *record_text])
        + f"{len(folds)} folds, {len(stitched)} out-of-sample predictions ({span}), target horizon h = {horizon}. "
        "Every number below is on **test** blocks, read once after training; early stopping, the best epoch and "
        "ridge's penalty were chosen on each fold's **tuning** block.\n\n"
        f"## Folds: training | gap | tuning | gap | test\n\n{tables['folds']}\n\n"
        f"## The model per fold, with its statistics\n\n{tables['per_fold']}\n\n"
        "IC: mean daily cross-sectional correlation; ICIR = mean / std of the daily IC; nw_t: Newey–West t of the "
        "mean IC; dm_p: one-sided Diebold–Mariano p that the model's squared error is lower than the best "
        "baseline's; PSR / DSR: probabilistic and deflated Sharpe ratios (the probability that the true Sharpe "
        "exceeds 0, and exceeds the best of as many trials as books compared).\n\n"
        f"## Forecasts, all folds stitched\n\n{tables['stitched']}\n\n"
        f"## Books, all folds stitched (net of {books['model'].cost_bps:g} bps costs)\n\n{tables['backtest']}\n\n"
        "`model` is the directional sign book (long what is predicted up, short what is predicted down: it mixes "
        "market timing with stock selection); `model_neutral` is the market-neutral rank book (Σw = 0, "
        "Σ|w| = 1): stock selection alone, what IC measures. For h > 1 each day's book is held h days as "
        "overlapping tranches.\n\n"
        + "".join(f"![{name}]({path.name})\n\n" for name, path in pictures.items())
        + (markdown_section(sheets) if sheets is not None else "")
    )
    if live is not None:
        picture = None
        if live_picture is not None and Path(live_picture).is_file():
            with atomic_path(out / Path(live_picture).name) as tmp:
                tmp.write_bytes(Path(live_picture).read_bytes())
            picture = Path(live_picture).name
        text += live_section(live, picture)
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(text)
    return WalkForwardReport(folds_df, per_fold, scores, stitched, tables, pictures, sheets)


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
