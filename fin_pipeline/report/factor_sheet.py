"""The model's stitched predictions as an alpha factor (alphalens): the numbers of the factor tear sheet.

The stitched ``model`` predictions are the factor, indexed by (date t, ticker):

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
  :func:`~fin_pipeline.core.limits.default_lags` (n, k) lags: overlapping k-day returns are autocorrelated.
  The decay of IC over horizons is the summary's ``ic_mean`` by ``period``.
* Mean return by prediction quantile: ``mean_return_by_quantile`` (demeaned: each k-day return minus the day's
  mean over tickers, so quantiles show selection, not the market), averaged over days; ``quantiles`` =
  min(5, median tickers a day // 2), at least two names per quantile.
* Top-minus-bottom spread: ``compute_mean_returns_spread``, alphalens 0.5's convention (top − bottom) / 2, a book
  50% long the top quantile and 50% short the bottom one (100% gross), per day, with its Newey–West t.
* Turnover: ``quantile_turnover`` (share of the top and bottom quantiles' names that were not in it k days
  earlier) and ``factor_rank_autocorrelation`` (correlation of the day's prediction ranks with those k days
  earlier); 1 − autocorrelation is the factor's turnover.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from fin_pipeline.backtest.statistics import newey_west_mean_test
from fin_pipeline.core.limits import default_lags
from fin_pipeline.report.sheets import SkipSheet, quiet

PERIODS = (1, 5, 10)  # forward-return horizons of the factor sheet, in trading days (plus the target's h)
MAX_QUANTILES = 5
MIN_DAYS = 20  # fewer days with every horizon's return known: too short for a tear sheet
MAX_LOSS = 0.35  # alphalens' default: at most this share of the record's rows may drop out
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


def _one_day_returns(predictions: pd.DataFrame, horizon: int) -> pd.Series:
    if "next_return" in predictions.columns:
        return predictions["next_return"].astype(np.float64)
    if horizon == 1:
        return predictions["target"].astype(np.float64)
    raise ValueError(f"the record has no next_return column, which a horizon of {horizon} days needs")


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
    with quiet("alphalens"):
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
