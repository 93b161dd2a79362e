"""The field's tear sheets of the stitched out-of-sample record: the model as an alpha factor (alphalens) and each
book's daily returns (quantstats), written beside ``report.md``.

**Factor tear sheet** (``factor_tearsheet.png``; numbers in ``factor_summary.parquet``, ``factor_daily.parquet``,
``factor_quantiles.parquet``). The stitched ``model`` predictions are the factor, indexed by (date t, ticker):

* Prices. alphalens wants prices; we rebuild a price index per ticker from the record's own one-day log returns
  ``next_return`` (the execution's one-day return: open t+1 → open t+2 under ``next_open``, close t → close t+1
  under ``close``), indexed by decision date: P_{t+1} = P_t · exp(next_return_t), P = 1 on the ticker's first day,
  one extra day after the record's last (the next business day) for the price that the last ``next_return`` reaches.
  Why this source and not the candles: these are exactly the returns the record was scored on and the books
  earned; the record is append-only and ``oos_predictions.parquet`` alone rebuilds the sheet (candles can be
  refetched or re-adjusted after a day was reported); and the report asset stays a thin reader of fold files.
  With h = 1 a record without ``next_return`` uses ``target`` (the same return then).
* Forward returns, alphalens' convention: the k-day return P_{t+k} / P_t − 1 = exp(Σ_{j<k} next_return_{t+j}) − 1,
  a **simple** return, for k in 1, 5, 10 and the target horizon h. Ours, the ``target``, is the **log** return
  log(P_{t+h} / P_t): the same move, so any rank statistic agrees and a Pearson one does not. A k-day window that
  crosses a day the ticker has no row is unknown (NaN; alphalens itself would compound a forward-filled stale
  price; so we call the two halves of ``get_clean_factor_and_forward_returns``, ``compute_forward_returns`` and
  ``get_clean_factor``, with that mask between them), and alphalens' z-score filter of forward returns is off
  (it looks ahead). alphalens keeps a (date, ticker) row only when every horizon's forward return is known and
  the day can be cut into quantiles, so the record's last max(k) − 1 days are left out of every horizon.
* IC per day and horizon: ``factor_information_coefficient``, the Spearman rank correlation across the day's
  tickers of the prediction and the k-day forward return. Ranks ignore log-versus-simple, so at k = h it equals
  the report's ``rank_ic`` (mean of the daily Spearman IC) on the same rows; the report's ``ic`` is Pearson on log
  returns, a different number. Each horizon's mean IC comes with a Newey–West t with
  :func:`~fin_pipeline.backtest.statistics.default_lags` (n, k) lags: overlapping k-day returns are autocorrelated.
  The decay of IC over horizons is the summary's ``ic_mean`` by ``period``.
* Mean return by prediction quantile: ``mean_return_by_quantile`` (demeaned: each k-day return minus the day's
  mean over tickers, so quantiles show selection, not the market), averaged over days; ``quantiles`` =
  min(5, median tickers a day // 2), at least two names per quantile.
* Top-minus-bottom spread: ``compute_mean_returns_spread``, alphalens 0.5's convention (top − bottom) / 2, a book
  50% long the top quantile and 50% short the bottom one (100% gross), per day, with its Newey–West t.
* Turnover: ``quantile_turnover`` (share of the top and bottom quantiles' names that were not in it k days
  earlier) and ``factor_rank_autocorrelation`` (correlation of the day's prediction ranks with those k days
  earlier); 1 − autocorrelation is the factor's turnover.

**Returns tear sheets** (``returns_<book>.html``), one per book of the report's stitched backtest (the model's
sign and market-neutral books, the baselines' books, buy-and-hold): ``quantstats.reports.html`` of the book's
daily net simple returns (after costs, as :mod:`fin_pipeline.backtest.strategy` computes them), with the
buy-and-hold book's returns as the benchmark Series (never a ticker: nothing is downloaded), risk-free rate 0,
252 days a year, dates as they are (``match_dates=False``: no leading day trimmed). Its Sharpe is ours:
mean / std (ddof 1) · √252.

**When a sheet cannot be drawn** (too few days or tickers for quantiles; a flat book, whose ratios quantstats
cannot compute): it is skipped and :attr:`TearSheets.skipped` says why in words; an exception from the libraries
on other input is caught per sheet, logged with its traceback and kept in :attr:`TearSheets.failed`: a tear
sheet never fails the report, and the report says which sheet is missing and why. A sheet not written this time
has its earlier file removed, so no stale sheet sits beside a new report.

Pictures are drawn off-screen (Agg); files are written atomically. alphalens, quantstats and seaborn are imported
when a sheet is drawn, not with this module (they cost seconds that a Dagster code location load should not pay).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import logging
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fin_pipeline.backtest.mean_tests import newey_west_mean_test
from fin_pipeline.backtest.metrics import TRADING_DAYS
from fin_pipeline.backtest.strategy import BUY_AND_HOLD
from fin_pipeline.core.limits import default_lags
from fin_pipeline.store.parquet import atomic_path, write_parquet

log = logging.getLogger(__name__)

PERIODS = (1, 5, 10)  # forward-return horizons of the factor sheet, in trading days (plus the target's h)
MAX_QUANTILES = 5
MIN_DAYS = 20  # fewer days with every horizon's return known: too short for a tear sheet
MAX_LOSS = 0.35  # alphalens' default: at most this share of the record's rows may drop out
FACTOR_PNG = "factor_tearsheet.png"
FACTOR_FILES = {
    "factor_summary": "factor_summary.parquet",
    "factor_daily": "factor_daily.parquet",
    "factor_quantiles": "factor_quantiles.parquet",
}
SUMMARY_COLUMNS = (
    "period",
    "n_days",
    "ic_mean",
    "ic_std",
    "ic_nw_t",
    "ic_nw_p",
    "top_return",
    "bottom_return",
    "spread",
    "spread_nw_t",
    "top_turnover",
    "bottom_turnover",
    "rank_autocorrelation",
)


class SkipSheet(Exception):
    """A sheet that this input cannot give (too few days or tickers, a flat book): the message says why."""


@dataclasses.dataclass(frozen=True)
class FactorSheet:
    """What the factor tear sheet computed: alphalens' clean factor data and the numbers drawn from it."""

    factor_data: pd.DataFrame  # alphalens' frame: (date, asset) → forward returns by label, factor, factor_quantile
    periods: dict[str, int]  # alphalens' column label ('1D', '5D', ...) → horizon k in trading days
    quantiles: int
    summary: pd.DataFrame  # one row per horizon: SUMMARY_COLUMNS
    daily: pd.DataFrame  # one row per (date, period): ic, spread, top/bottom turnover, rank autocorrelation
    by_quantile: pd.DataFrame  # one row per (period, quantile): mean demeaned return and its standard error
    quantile_daily: pd.DataFrame  # alphalens' mean demeaned return per (factor_quantile, date), a column per label
    rows: int  # rows of the record with a finite prediction
    rows_used: int  # rows alphalens kept


@dataclasses.dataclass(frozen=True)
class TearSheets:
    """The files written (name → path), the sheets skipped (name → why) or failed (name → the error)."""

    files: dict[str, Path]
    skipped: dict[str, str]
    failed: dict[str, str]
    factor: FactorSheet | None
    seconds: float


# --------------------------------------------------------------------------------------------- plumbing ---


def _use_agg() -> None:
    """Draw off-screen. A pipeline process has no display (and a GUI backend fails in a worker thread); a session
    that already imported pyplot, a notebook drawing inline, keeps its backend."""
    if "matplotlib.pyplot" not in sys.modules:
        import matplotlib

        matplotlib.use("Agg")


@contextlib.contextmanager
def _quiet(library: str) -> Iterator[None]:
    """The libraries' own chatter, kept out of the pipeline's output: alphalens prints how many rows it dropped
    (we count them ourselves), quantstats and seaborn warn about pandas and matplotlib deprecations inside
    themselves, and matplotlib logs every missing font of quantstats' style. Logged at DEBUG, not lost."""
    fonts = logging.getLogger("matplotlib.font_manager")
    level = fonts.level
    fonts.setLevel(logging.ERROR)
    out = io.StringIO()
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out):
            warnings.simplefilter("always")
            yield
    finally:
        fonts.setLevel(level)
    if out.getvalue().strip():
        log.debug("%s printed: %s", library, out.getvalue().strip())
    if caught:
        log.debug("%s: %d warning(s) silenced, first: %s", library, len(caught), caught[0].message)


def _one_day_returns(predictions: pd.DataFrame, horizon: int) -> pd.Series:
    if "next_return" in predictions.columns:
        return predictions["next_return"].astype(np.float64)
    if horizon == 1:
        return predictions["target"].astype(np.float64)
    raise ValueError(f"the record has no next_return column, which a horizon of {horizon} days needs")


# ------------------------------------------------------------------------------------------ factor sheet ---


def factor_inputs(
    predictions: pd.DataFrame, column: str = "model", horizon: int = 1
) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    """alphalens' inputs from the stitched record (see the module docstring).

    Returns the factor (``column`` indexed by (date, asset), finite values only), the prices (the record's dates
    and the next business day × tickers; NaN where the record does not know the close) and ``has_row`` (the
    record's dates × tickers: the ticker has a row, hence its one-day return, that day).
    """
    df = pd.DataFrame(
        {
            "date": pd.to_datetime(predictions["date"]).to_numpy(),
            "asset": predictions["ticker"].astype(str).to_numpy(),
            "factor": predictions[column].to_numpy(np.float64),
            "r": _one_day_returns(predictions, horizon).to_numpy(),
        }
    )
    returns = df.pivot(index="date", columns="asset", values="r").sort_index()  # a duplicated row raises here
    returns.columns.name = None
    has_row = returns.notna()
    dates = pd.DatetimeIndex(returns.index)
    calendar = dates.append(pd.DatetimeIndex([dates[-1] + pd.offsets.BDay(1)]))
    # log P at day j = Σ_{i<j} r_i; a day without a row adds nothing here, and every window across it is masked
    log_p = np.vstack([np.zeros((1, returns.shape[1])), returns.fillna(0.0).cumsum().to_numpy()])
    known = np.vstack([has_row.to_numpy(), np.zeros((1, returns.shape[1]), bool)])  # the close of a row's day
    known[1:] |= has_row.to_numpy()  # and the close its one-day return reaches
    prices = pd.DataFrame(np.where(known, np.exp(log_p), np.nan), index=calendar, columns=returns.columns)
    factor = df.set_index(["date", "asset"])["factor"]
    factor = factor[np.isfinite(factor)].sort_index()
    return factor, prices, has_row


def forward_returns(
    factor: pd.Series, prices: pd.DataFrame, has_row: pd.DataFrame, periods: Sequence[int]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """alphalens' ``compute_forward_returns`` (cumulative, no z-score filter) with every k-day window that crosses
    a day without a row set to NaN; returns the frame and its column labels → k.

    This is the first half of ``get_clean_factor_and_forward_returns``; the second, ``get_clean_factor``, is called
    on the masked frame by :func:`factor_sheet`.
    """
    import alphalens.utils as al_utils

    periods = sorted(set(periods))
    fwd = al_utils.compute_forward_returns(factor, prices, periods, filter_zscore=None, cumulative_returns=True)
    labels = dict(zip(fwd.columns, periods, strict=True))  # alphalens labels its columns in sorted order
    rows = has_row.astype(np.int64).iloc[::-1]
    for label, k in labels.items():
        complete = (rows.rolling(k, min_periods=k).sum().iloc[::-1] == k).stack()  # days t … t+k−1 all have rows
        complete.index = complete.index.set_names(["date", "asset"])
        ok = complete.reindex(fwd.index, fill_value=False).to_numpy(bool)
        fwd[label] = fwd[label].where(ok)
    return fwd, labels


def quantile_count(predictions: pd.DataFrame) -> int:
    """min(5, median tickers a day // 2): at least two names in every quantile on a typical day."""
    per_day = predictions.groupby("date")["ticker"].size()
    return int(min(MAX_QUANTILES, int(per_day.median()) // 2)) if len(per_day) else 0


def factor_sheet(
    predictions: pd.DataFrame,
    column: str = "model",
    horizon: int = 1,
    periods: Sequence[int] = PERIODS,
    quantiles: int | None = None,
    max_loss: float = MAX_LOSS,
) -> FactorSheet:
    """The factor tear sheet's numbers for ``predictions[column]`` (see the module docstring).

    Raises :class:`SkipSheet` when the record is too small for one: fewer than two quantiles of two names, fewer
    than :data:`MIN_DAYS` days with every horizon known, or more than ``max_loss`` of the rows dropped.
    """
    periods = sorted({*periods, int(horizon)})
    quantiles = quantile_count(predictions) if quantiles is None else int(quantiles)
    if quantiles < 2:
        per_day = int(predictions.groupby("date")["ticker"].size().median()) if len(predictions) else 0
        raise SkipSheet(
            f"{per_day} ticker(s) on a typical day: too few for a top and a bottom quantile of two names each"
        )
    n_days = predictions["date"].nunique()
    if n_days - (periods[-1] - 1) < MIN_DAYS:
        raise SkipSheet(
            f"{n_days} day(s) in the record: fewer than {MIN_DAYS} with every horizon's forward return "
            f"({', '.join(map(str, periods))} days) known"
        )
    import alphalens.performance as perf
    import alphalens.utils as al_utils

    factor, prices, has_row = factor_inputs(predictions, column, horizon)
    with _quiet("alphalens"):
        fwd, labels = forward_returns(factor, prices, has_row, periods)
        try:
            data = al_utils.get_clean_factor(factor, fwd, quantiles=quantiles, max_loss=max_loss)
        except al_utils.MaxLossExceededError as exc:
            raise SkipSheet(f"alphalens dropped too many rows ({exc})") from exc
        ic = perf.factor_information_coefficient(data)
        mean_qd, _ = perf.mean_return_by_quantile(data, by_date=True, demeaned=True)
        top, bottom = int(data["factor_quantile"].max()), int(data["factor_quantile"].min())
        spread, _ = perf.compute_mean_returns_spread(mean_qd, top, bottom)
        turnover = {
            k: (
                perf.quantile_turnover(data["factor_quantile"], top, period=k),
                perf.quantile_turnover(data["factor_quantile"], bottom, period=k),
                perf.factor_rank_autocorrelation(data, period=k),
            )
            for k in periods
        }
    # mean_return_by_quantile(by_date=False), from the daily means already computed (alphalens' own two steps):
    # each quantile's mean over days of its daily mean, and the standard error std / √days of those daily means.
    by_q = mean_qd.groupby(level="factor_quantile").agg(["mean", "std", "count"])
    mean_q = by_q.xs("mean", axis=1, level=1)
    se_q = by_q.xs("std", axis=1, level=1) / np.sqrt(by_q.xs("count", axis=1, level=1))
    daily, rows = [], []
    for label, k in labels.items():
        day = pd.DataFrame(
            {
                "ic": ic[label],
                "spread": spread[label],
                "top_turnover": turnover[k][0],
                "bottom_turnover": turnover[k][1],
                "rank_autocorrelation": turnover[k][2],
            }
        ).rename_axis("date")
        daily.append(day.reset_index().assign(period=k))
        ic_k, spread_k = ic[label].dropna(), spread[label].dropna()
        ic_test = newey_west_mean_test(ic_k, default_lags(len(ic_k), k))
        spread_test = newey_west_mean_test(spread_k, default_lags(len(spread_k), k))
        rows.append(
            {
                "period": k,
                "n_days": len(ic_k),
                "ic_mean": ic_test.mean,
                "ic_std": float(ic_k.std(ddof=1)) if len(ic_k) > 1 else float("nan"),
                "ic_nw_t": ic_test.t,
                "ic_nw_p": ic_test.p,
                "top_return": float(mean_q.loc[top, label]),
                "bottom_return": float(mean_q.loc[bottom, label]),
                "spread": spread_test.mean,
                "spread_nw_t": spread_test.t,
                "top_turnover": float(turnover[k][0].mean()),
                "bottom_turnover": float(turnover[k][1].mean()),
                "rank_autocorrelation": float(turnover[k][2].mean()),
            }
        )
    columns = ["date", "period", "ic", "spread", "top_turnover", "bottom_turnover", "rank_autocorrelation"]
    daily_df = pd.concat(daily, ignore_index=True)[columns].sort_values(["period", "date"], ignore_index=True)
    by_quantile = pd.DataFrame(
        [
            {
                "period": k,
                "quantile": int(q),
                "mean_return": float(mean_q.loc[q, label]),
                "std_err": float(se_q.loc[q, label]),
            }
            for label, k in labels.items()
            for q in mean_q.index
        ]
    )
    summary = pd.DataFrame(rows)[list(SUMMARY_COLUMNS)]
    return FactorSheet(data, labels, quantiles, summary, daily_df, by_quantile, mean_qd, len(factor), len(data))


def factor_png(sheet: FactorSheet, path: Path, title: str = "The model's predictions as an alpha factor") -> Path:
    """One picture, alphalens' own plots: the daily 1-day IC, the IC's histogram per horizon, its decay (mean IC
    ± 1.96 Newey–West standard errors by horizon), mean demeaned return by quantile, the quantiles' cumulative
    1-day returns, the daily top-minus-bottom spread, and the top and bottom quantiles' turnover with the rank
    autocorrelation."""
    _use_agg()
    import alphalens.plotting as alp
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = list(sheet.periods)
    first = labels[0]
    n = len(labels)
    fig = Figure(figsize=(15, 26), dpi=80, layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(6, 12)
    kw: dict[str, Any] = {}
    ic = sheet.daily.pivot(index="date", columns="period", values="ic")
    ic = ic.rename(columns={k: label for label, k in sheet.periods.items()})[labels]
    with _quiet("alphalens"):
        alp.plot_ic_ts(ic[[first]], ax=[fig.add_subplot(grid[0, :])], **kw)
        width = 12 // n
        hist_axes = np.array([fig.add_subplot(grid[1, i * width : (i + 1) * width]) for i in range(n)])
        alp.plot_ic_hist(ic[labels], ax=hist_axes, **kw)
        decay = fig.add_subplot(grid[2, :4])
        _ic_decay(sheet.summary, decay)
        mean_q = sheet.by_quantile.pivot(index="quantile", columns="period", values="mean_return")
        mean_q.columns = [f"{k}D" for k in mean_q.columns]
        mean_q.index.name = "factor_quantile"
        alp.plot_quantile_returns_bar(mean_q, ax=fig.add_subplot(grid[2, 4:]), **kw)
        alp.plot_cumulative_returns_by_quantile(
            sheet.quantile_daily[first], period=first, ax=fig.add_subplot(grid[3, :]), **kw
        )
        day = sheet.daily[sheet.daily["period"] == sheet.periods[first]].set_index("date")
        alp.plot_mean_quantile_returns_spread_time_series(
            day["spread"].rename(first), ax=fig.add_subplot(grid[4, :]), **kw
        )
        turnover = day[["top_turnover", "bottom_turnover"]].set_axis([sheet.quantiles, 1], axis=1)
        k = sheet.periods[first]
        alp.plot_top_bottom_quantile_turnover(turnover, period=k, ax=fig.add_subplot(grid[5, :6]), **kw)
        alp.plot_factor_rank_auto_correlation(
            day["rank_autocorrelation"], period=k, ax=fig.add_subplot(grid[5, 6:]), **kw
        )
    fig.suptitle(f"{title}: {sheet.rows_used} of {sheet.rows} (date, ticker) rows, {sheet.quantiles} quantiles")
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def _ic_decay(summary: pd.DataFrame, ax: Any) -> None:
    se = summary["ic_mean"] / summary["ic_nw_t"]
    x = np.arange(len(summary))
    ax.bar(x, summary["ic_mean"], yerr=1.96 * se.abs().fillna(0.0), color="steelblue", capsize=4)
    ax.set_xticks(x, [f"{k}D" for k in summary["period"]])
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_title("IC decay: mean IC by horizon (±1.96 NW s.e.)")
    ax.set_ylabel("mean Spearman IC")


def write_factor_sheet(
    predictions: pd.DataFrame, out: Path, column: str = "model", horizon: int = 1
) -> tuple[FactorSheet, dict[str, Path]]:
    """Compute the factor tear sheet and write its picture and numbers into ``out``; returns it and the files."""
    sheet = factor_sheet(predictions, column, horizon)
    out = Path(out)
    meta = {
        "factor": column,
        "quantiles": sheet.quantiles,
        "rows": sheet.rows,
        "rows_used": sheet.rows_used,
        "periods": {label: k for label, k in sheet.periods.items()},
        "conventions": "Spearman IC on simple forward returns rebuilt from next_return; demeaned quantile "
        "returns; spread = (top - bottom) / 2 (100% gross); see fin_pipeline.report.tearsheets",
    }
    files = {"factor_tearsheet": factor_png(sheet, out / FACTOR_PNG)}
    tables = {"factor_summary": sheet.summary, "factor_daily": sheet.daily, "factor_quantiles": sheet.by_quantile}
    for name, table in tables.items():
        write_parquet(table, out / FACTOR_FILES[name], meta=meta)
        files[name] = out / FACTOR_FILES[name]
    return sheet, files


# ----------------------------------------------------------------------------------------- returns sheets ---


def returns_html(
    returns: pd.Series,
    path: Path,
    name: str,
    benchmark: pd.Series | None = None,
    title: str | None = None,
    benchmark_name: str = BUY_AND_HOLD,
) -> Path:
    """quantstats' HTML tear sheet of one book's daily net returns (see the module docstring), written atomically.

    Raises :class:`SkipSheet` for a book quantstats cannot describe: fewer than two days, or a flat book (every
    return 0, e.g. the zero baseline, which takes no position).
    """
    r = pd.Series(returns.to_numpy(np.float64), index=pd.DatetimeIndex(returns.index), name=name)
    if len(r) < 2:
        raise SkipSheet(f"{len(r)} day(s): too few for a returns tear sheet")
    if not (r != 0).any():
        raise SkipSheet("a flat book (every daily return is 0: it never holds a position)")
    if benchmark is not None:
        benchmark = pd.Series(
            benchmark.to_numpy(np.float64), index=pd.DatetimeIndex(benchmark.index), name=benchmark_name
        )
        if not benchmark.index.equals(r.index):
            raise ValueError(f"{name}: the benchmark's dates differ from the book's")
    if title is None:
        title = f"{name}: stitched out-of-sample daily net returns, {r.index[0]:%Y-%m-%d} … {r.index[-1]:%Y-%m-%d}"
    _use_agg()
    import quantstats

    path = Path(path)
    with _quiet("quantstats"), atomic_path(path) as tmp:
        quantstats.reports.html(
            r,
            benchmark=benchmark,
            rf=0.0,
            title=title,
            output=str(tmp),
            periods_per_year=TRADING_DAYS,
            match_dates=False,
            strategy_title=name,
            benchmark_title=None if benchmark is None else benchmark_name,
        )
    return path


# ---------------------------------------------------------------------------------------------- together ---


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
    from fin_pipeline.core.formatting import markdown_table

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
