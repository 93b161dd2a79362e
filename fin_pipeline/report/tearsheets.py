"""The field's tear sheets of the stitched out-of-sample record, written beside ``report.md``: the model as an
alpha factor (:mod:`fin_pipeline.report.factor_sheet`, alphalens) and each book's daily returns
(:mod:`fin_pipeline.report.returns_sheet`, quantstats), one per book of the report's stitched backtest given
(the model's sign and market-neutral books against buy-and-hold), and how the report links them.

**When a sheet cannot be drawn** (too few days or tickers for quantiles; a flat book, whose ratios quantstats
cannot compute): it is skipped and :attr:`TearSheets.skipped` says why in words; an exception from the libraries
on other input is caught per sheet, logged with its traceback and kept in :attr:`TearSheets.failed`: a tear
sheet never fails the report, and the report says which sheet is missing and why. A sheet not written this time
has its earlier file removed, so no stale sheet sits beside a new report.

Pictures are drawn off-screen (Agg); files are written atomically.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fin_pipeline.backtest.strategy import BUY_AND_HOLD
from fin_pipeline.core.formatting import markdown_table
from fin_pipeline.report.factor_files import FACTOR_FILES, FACTOR_PNG, write_factor_sheet
from fin_pipeline.report.factor_sheet import FactorSheet
from fin_pipeline.report.returns_sheet import returns_html
from fin_pipeline.report.sheets import SkipSheet

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TearSheets:
    """The files written (name → path), the sheets skipped (name → why) or failed (name → the error)."""

    files: dict[str, Path]
    skipped: dict[str, str]
    failed: dict[str, str]
    factor: FactorSheet | None
    seconds: float


def write_tearsheets(
    predictions: pd.DataFrame,
    books: Mapping[str, pd.Series],
    out: Path,
    horizon: int = 1,
    column: str = "model",
    benchmark: str = BUY_AND_HOLD,
) -> TearSheets:
    """Every tear sheet of a stitched record into ``out``: the factor sheet of ``predictions[column]`` and one
    returns sheet per book (name → daily net returns; ``benchmark`` names the benchmark book). A sheet that
    cannot be drawn is skipped or failed (see the module docstring), never raised."""
    start = time.perf_counter()
    out = Path(out)
    files: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    failed: dict[str, str] = {}
    factor = None

    def attempt(name: str, stale: Sequence[Path], draw: Any) -> Any:
        try:
            return draw()
        except SkipSheet as exc:
            skipped[name] = str(exc)
        except Exception as exc:  # a tear sheet never fails the report; the error is logged and reported
            log.exception("tear sheet %s failed", name)
            failed[name] = f"{type(exc).__name__}: {exc}"
        for path in stale:
            path.unlink(missing_ok=True)
        return None

    factor_stale = [out / FACTOR_PNG, *(out / f for f in FACTOR_FILES.values())]
    result = attempt("factor_tearsheet", factor_stale, lambda: write_factor_sheet(predictions, out, column, horizon))
    if result is not None:
        factor, factor_files = result
        files |= factor_files
    bench = books.get(benchmark)
    for name, returns in books.items():
        path = out / f"returns_{name}.html"
        versus = None if name == benchmark else bench
        draw = functools.partial(returns_html, returns, path, name, versus, benchmark_name=benchmark)
        if attempt(f"returns_{name}", [path], draw):
            files[f"returns_{name}"] = path
    return TearSheets(files, skipped, failed, factor, time.perf_counter() - start)


def markdown_section(sheets: TearSheets, benchmark: str = BUY_AND_HOLD) -> str:
    """The tear sheets in ``report.md``: relative links, the factor's numbers by horizon, what is missing and why."""
    text = "## Tear sheets\n\n"
    if sheets.factor is not None:
        f = sheets.factor
        shown = f.summary[["period", "n_days", "ic_mean", "ic_nw_t", "ic_nw_p", "spread", "spread_nw_t"]]
        shown = shown.assign(
            spread=shown["spread"] * 1e4,
            turnover=f.summary[["top_turnover", "bottom_turnover"]].mean(axis=1),
            rank_autocorrelation=f.summary["rank_autocorrelation"],
        ).rename(columns={"spread": "spread_bps"})
        text += (
            f"The model's stitched predictions as an alpha factor (alphalens): [{FACTOR_PNG}]({FACTOR_PNG}), numbers "
            + ", ".join(f"[{v}]({v})" for v in FACTOR_FILES.values())
            + f". {f.rows_used} of {f.rows} rows, {f.quantiles} quantiles. IC here is alphalens' Spearman IC on "
            "simple forward returns rebuilt from the record's one-day returns: at the target's horizon it equals the "
            "report's `rank_ic` on the same rows (the last days, whose longest forward return is not known yet, are "
            "left out), not its Pearson `ic`. spread: (top − bottom quantile) / 2 per day, demeaned, in bps over "
            "the period; turnover: mean share of the top and bottom quantiles' names new since `period` days "
            "before.\n\n"
            f"{markdown_table(shown)}\n\n"
        )
    books = [k.removeprefix("returns_") for k in sheets.files if k.startswith("returns_")]
    if books:
        text += (
            f"Each book's stitched daily net returns (quantstats, benchmark {benchmark}): "
            + " · ".join(f"[{b}](returns_{b}.html)" for b in books)
            + ".\n\n"
        )
    for name, why in sheets.skipped.items():
        text += f"- {name}: no tear sheet, {why}.\n"
    for name, error in sheets.failed.items():
        text += f"- **{name}: the tear sheet failed** ({error}); the rest of the report is unaffected.\n"
    if sheets.skipped or sheets.failed:
        text += "\n"
    return text


def links_markdown(sheets: TearSheets | None, where: Callable[[Path], str] = str) -> str:
    """The tear sheets as a Markdown list of links (``where`` turns a path into what the reader can open: the
    store's s3:// URL or the local path), then what was skipped or failed and why: the asset's metadata."""
    if sheets is None:
        return "No tear sheets were written."
    lines = [f"- [{name}]({where(path)})" for name, path in sheets.files.items() if path.suffix in (".png", ".html")]
    lines += [f"- {name}: skipped, {why}" for name, why in sheets.skipped.items()]
    lines += [f"- {name}: **failed**, {error}" for name, error in sheets.failed.items()]
    return "\n".join(lines)
