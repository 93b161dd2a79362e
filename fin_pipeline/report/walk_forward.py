"""The walk-forward report: every fold's test block scored, all of them stitched, with the statistics in words.

:func:`write_report` is the one renderer of the report: the ``walk_forward_report`` asset reads the folds' files
and calls it, the pipeline benchmark and notebooks call it with results held in memory, and the CLI prints the
files it wrote (:mod:`fin_pipeline.report.terminal`) with the same tables. The stitched series is the folds' test
blocks, consecutive and never overlapping, scored by :func:`fin_pipeline.evaluation.scoring.score_predictions`,
the same function that scored each fold.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd

from fin_pipeline.backtest.capacity import Capacity, book_capacities, capacity_table, halving_line
from fin_pipeline.backtest.strategy import BUY_AND_HOLD, BacktestResult
from fin_pipeline.backtest.trials import TrialRegistry
from fin_pipeline.core.costs import CostModel, money
from fin_pipeline.core.formatting import markdown_table
from fin_pipeline.evaluation.scoring import PREDICTORS, Scores, score_predictions
from fin_pipeline.report.folds import FoldResult, fold_table, per_fold_table, stitch
from fin_pipeline.report.leaderboard import leaderboard_section
from fin_pipeline.report.markdown import live_section, report_markdown
from fin_pipeline.report.plots import drawdown_png, equity_curve_png, learning_curves_png
from fin_pipeline.report.provenance import Provenance
from fin_pipeline.report.record import RecordCheck, append_only_check, record_line
from fin_pipeline.report.tables import report_tables
from fin_pipeline.report.tearsheets import TearSheets, write_tearsheets
from fin_pipeline.report.text import deflate, sharpe_line, trial_configuration_of
from fin_pipeline.store.parquet import atomic_path, write_parquet

__all__ = ["FoldResult", "WalkForwardReport", "write_report"]

# The books with a returns tear sheet: the model's two, against buy-and-hold (the baselines' books are in the
# report's tables; a quantstats page costs ~2.5 s and ~0.8 MB).
TEAR_SHEET_BOOKS = ("model", "model_neutral", BUY_AND_HOLD)


@dataclasses.dataclass(frozen=True)
class WalkForwardReport:
    """What :func:`write_report` wrote, held in memory: the tables as stored and as Markdown, the scores of the
    stitched series, the pictures and tear sheets, the capacity and the record's check."""

    folds: pd.DataFrame  # per fold: dates of the three blocks, ticker and window counts, epochs
    per_fold: pd.DataFrame  # per fold: the model against the baselines, with statistics
    stitched: Scores  # all folds' test blocks stitched, scored
    predictions: pd.DataFrame  # the stitched out-of-sample predictions
    tables: dict[str, str]  # Markdown
    pictures: dict[str, Path]  # PNG files
    tearsheets: TearSheets | None = None  # the factor and returns tear sheets (files, and what was skipped and why)
    capacity: list[Capacity] = dataclasses.field(default_factory=list)  # the model's books at other capitals
    record: dict[str, Any] | None = None  # what append_only_check found: the days kept unchanged and added

    def headline(self) -> dict[str, float]:
        """The report's key numbers by name, the defined ones only: the model's stitched IC with its Newey–West
        test, its books' Sharpe with standard error, PSR and DSR over the trials, buy-and-hold's Sharpe, the
        Diebold–Mariano p against the best baseline, and each model book's net Sharpe at every capital of the
        capacity table (and where it halves)."""
        scores = self.stitched
        model, neutral = scores.backtest.loc["model"], scores.backtest.loc["model_neutral"]
        forecast = scores.forecasts.loc["model"]
        numbers = {
            "model_ic": forecast["ic"],
            "model_ic_nw_t": forecast["ic_nw_t"],
            "model_ic_nw_p": forecast["ic_nw_p"],
            "model_sharpe": model["sharpe"],
            "model_sharpe_se": model["sharpe_se"],
            "model_psr": model["psr"],
            "model_dsr": model["dsr"],
            "n_trials": scores.comparison["n_trials"],
            "model_neutral_sharpe": neutral["sharpe"],
            "buy_and_hold_sharpe": scores.backtest.loc[BUY_AND_HOLD, "sharpe"],
            "dm_vs_best_p": scores.comparison["vs_best"]["dm_p_a_better"],
            **{
                f"{c.book}_sharpe_at_{money(capital).removeprefix('$')}": value
                for c in self.capacity
                for capital, value in c.table["net_sharpe"].items()
                if capital > 0
            },
            **{f"{c.book}_sharpe_halving_capital": c.halving_capital for c in self.capacity if c.halving_capital},
        }
        return {k: float(v) for k, v in numbers.items() if v == v}


def draw_pictures(books: dict[str, BacktestResult], folds: list[FoldResult], out: Path) -> dict[str, Path]:
    """The report's pictures: every predictor's and buy-and-hold's equity, the market-neutral books' equity, the
    model's drawdown and each fold's learning curves (the zero baseline, flat at 1, is left out)."""
    return {
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


def write_report(
    folds: list[FoldResult],
    out: Path,
    horizon: int = 1,
    seed: int = 0,
    record: RecordCheck | None = None,
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
    board: tuple[pd.DataFrame, dict[str, Any], Path | None] | None = None,
) -> WalkForwardReport:
    """Stitch the folds' test blocks into one out-of-sample series, score it, and write its tables (Parquet),
    pictures (PNG), tear sheets (:mod:`fin_pipeline.report.tearsheets`: the model's predictions as an alpha
    factor, each book's returns as HTML) and ``report.md`` into ``out``, each file atomically. ``record``: the
    previous report's series that this one must extend (:class:`RecordCheck`); checked by
    :func:`append_only_check` before anything is written (:class:`RecordChanged` otherwise), and what it found is
    said in words under the verdict. ``live`` (and its picture, copied beside the report): the paper-trading record
    of the live forecasts, a section of its own, with the ``missed`` sessions (session → why) that had no on-time
    forecast. ``tearsheets=False`` leaves the tear sheets out (they cost seconds per book: a benchmark of the
    pipeline's own steps may skip them).
    ``costs``: how every book is charged (None: flat at the default bps); under ``spread_impact`` the report adds
    the model's books' capacity (:mod:`fin_pipeline.backtest.capacity`). ``notes``: lines said under the record's
    (restated histories, mixed configurations); ``meta``: more values stored in the metadata of
    ``overall_metrics.parquet``. ``provenance``: the source, universe, execution and costs, the report's first
    lines (and how it is scored). ``registry``: the store's trial registry; this record is recorded in it as a
    trial and the model's books' DSR is deflated by every trial there (without one, this record is the only
    trial: DSR = PSR). ``board``: the stored leaderboard (its table, metadata and chart), a section of its own."""
    if not folds:
        raise ValueError("no folds to report on")
    # Checked before anything is written (the trial registry included): the folds' fold rules agree, and the
    # days already reported come back unchanged.
    configuration = trial_configuration_of(folds, provenance) if registry is not None else None
    stitched = stitch(folds)
    found = append_only_check(record.previous, stitched, record.restated_folds) if record is not None else None
    scores = score_predictions(stitched, horizon, seed=seed, costs=costs)
    scores, trial_text = deflate(scores, horizon, registry, configuration)
    folds_df, per_fold = fold_table(folds), per_fold_table(folds)
    books = scores.books
    capacities = book_capacities(books)
    capacity = capacity_table(capacities) if capacities else None

    out = Path(out)
    write_parquet(folds_df, out / "folds.parquet")
    write_parquet(per_fold, out / "fold_summary.parquet")
    record_text = [*([record_line(found)] if found is not None else []), *(notes or [])]
    selection = sharpe_line(scores, trial_text)
    stored = {
        **(meta or {}),
        "verdict": scores.verdict,
        "record": record_text,
        "header": provenance.lines(),
        "sharpe": selection,
        "horizon": horizon,  # how a reader of the stored tables tells "n/a (n days)" from "undefined"
    }
    write_parquet(scores.forecasts.reset_index(), out / "overall_metrics.parquet", meta=stored)
    write_parquet(stitched, out / "oos_predictions.parquet")
    write_parquet(scores.backtest.reset_index(), out / "backtest.parquet")
    if capacity is not None:
        halves = {"halving": halving_line(capacities), "costs": books["model"].costs.describe()}
        write_parquet(capacity.reset_index(), out / "capacity.parquet", meta=halves)
    else:  # flat costs: no capacity, and none left from an earlier report
        (out / "capacity.parquet").unlink(missing_ok=True)
    pictures = draw_pictures(books, folds, out)
    # The same stitched rows and books as the tables above; a sheet that cannot be drawn is named, never raised.
    sheets = (
        write_tearsheets(stitched, {name: books[name].returns for name in TEAR_SHEET_BOOKS}, out, horizon=horizon)
        if tearsheets
        else None
    )
    shown = report_tables(folds_df, per_fold, scores.forecasts, scores.backtest, capacity, horizon)
    tables = {name: markdown_table(table) for name, table in shown.items()}
    said = [*scores.verdict, selection, *record_text]
    costs_words = books["model"].costs.describe()
    text = report_markdown(
        provenance.lines(), said, folds, stitched, horizon, tables, costs_words, capacities, pictures, sheets
    )
    if live is not None:
        text += live_section(live, _copy_beside(live_picture, out), missed)
    if board is not None:
        text += leaderboard_section(board[0], board[1], _copy_beside(board[2], out))
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(text)
    return WalkForwardReport(folds_df, per_fold, scores, stitched, tables, pictures, sheets, capacities, found)


def _copy_beside(picture: Path | None, out: Path) -> str | None:
    """Copy ``picture`` (when it exists) into the report folder, atomically; its name there, for report.md."""
    if picture is None or not Path(picture).is_file():
        return None
    with atomic_path(out / Path(picture).name) as tmp:
        tmp.write_bytes(Path(picture).read_bytes())
    return Path(picture).name
