"""``report.md``: the walk-forward report in Markdown, from the tables and pictures already made. The header
says what the numbers rest on, then the verdict in words, then the tables with what each column means; the
paper-trading record is a section of its own, kept apart from the walk-forward backtest."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fin_pipeline.backtest.capacity import Capacity, halving_line
from fin_pipeline.core.formatting import markdown_table, missed_line
from fin_pipeline.report.folds import FoldResult
from fin_pipeline.report.tearsheets import TearSheets, markdown_section
from fin_pipeline.report.text import ridge_line
from fin_pipeline.sources.execution import describe


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


def report_markdown(
    header: list[str],
    said: list[str],
    folds: list[FoldResult],
    stitched: pd.DataFrame,
    horizon: int,
    tables: dict[str, str],
    costs: str,
    capacities: list[Capacity],
    pictures: dict[str, Path],
    sheets: TearSheets | None,
) -> str:
    """The walk-forward part of ``report.md``: ``header`` (:meth:`Provenance.lines`), the lines ``said`` under it
    (the verdict, the deflated Sharpe, the record's notes), the Markdown ``tables`` of
    :func:`~fin_pipeline.report.tables.report_tables` with what their columns mean, the books' ``costs`` in words,
    the capacity, the pictures and the tear sheets."""
    span = f"{stitched['date'].min():%Y-%m-%d} … {stitched['date'].max():%Y-%m-%d}"
    return (
        "# Walk-forward report\n\n"
        + "".join(f"{line}  \n" for line in header)
        + "\n"
        + "".join(f"{line}\n\n" for line in said)
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
        f"## Books, all folds stitched (net of costs: {costs})\n\n{tables['backtest']}\n\n"
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
