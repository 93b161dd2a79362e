"""Daily long-short strategies from predictions, with transaction costs.

Conventions (one row of ``predictions`` is a ticker on a session date ``t``, with ``target`` the log return from
close t to close t+1, the realized next-day return):

* Timing: the position decided at close t from the prediction made at close t earns that same row's target,
  close t → close t+1: exactly the target's timing, never earlier. A row's date in :attr:`BacktestResult.daily`
  is that decision date; its return is realized at the next close.
* Weights: each day, a signal per ticker in [-cap, cap] (``sign``: sign(p); ``scaled``: p divided by the
  day's mean |p| over tickers with a nonzero prediction, clipped to ±cap), divided by the number of tickers
  that day: equal risk across the universe, Σ|w| ≤ 1 (= 1 in ``sign`` mode when every prediction is nonzero;
  in ``scaled`` mode the signals' mean magnitude is 1 before the cap, so Σ|w| ≤ 1 for any cap, while cap > 1 lets
  one strong prediction take up to cap/N).
  ``long_only`` sets the short signals to 0 (it does not re-lever the longs). A zero or NaN prediction → 0.
* Returns: portfolio simple return = Σ_i w_i · (exp(r_i) − 1); log targets are converted per ticker first.
* Turnover: Σ_i |w_{t,i} − w_{t−1,i}| over the union of tickers, with w = 0 for a ticker absent on a day and
  w_{−1} = 0 at the block start (the entry is paid; the final exit is not). Weights are the daily target weights:
  intraday drift between rebalances is ignored, so a constant-weight book trades nothing after entry.
* Cost = turnover × cost_bps / 1e4 (bps of traded notional, each way); net = gross − cost;
  equity = Π (1 + net), starting from 1 before the first day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

MODES = ("sign", "scaled")
PREDICTORS = ("model", "zero", "momentum", "ridge")
BUY_AND_HOLD = "buy_and_hold"
DAILY_COLUMNS = ("date", "gross_return", "turnover", "cost", "net_return", "exposure", "equity")


@dataclass(frozen=True)
class BacktestResult:
    """One strategy's simulation over one block of days (a fold, or all folds stitched)."""

    name: str
    daily: pd.DataFrame  # one row per date: DAILY_COLUMNS
    positions: pd.DataFrame  # one row per (date, ticker): date, ticker, weight, target
    cost_bps: float
    fold: str | None = None

    @property
    def returns(self) -> pd.Series:
        """Daily net simple returns, indexed by decision date."""
        return self.daily.set_index("date")["net_return"]

    @property
    def equity(self) -> pd.Series:
        """Equity curve Π(1 + net), indexed by decision date (value at the next close)."""
        return self.daily.set_index("date")["equity"]


def _where(fold: str | None) -> str:
    return f" in {fold}" if fold else ""


def validate_predictions(predictions: pd.DataFrame, columns: Sequence[str] = (), fold: str | None = None) -> None:
    """Raise ``ValueError`` naming the fold (and ticker and date) for input a backtest cannot honestly use.

    No rows; a missing column; a duplicated (date, ticker); a NaN or infinite target ("NaN return for MSFT on
    2020-03-02 in fold_03"; the fold comes from ``fold`` or else from the row's ``fold`` column).
    """
    if len(predictions) == 0:
        raise ValueError(f"no predictions to backtest{_where(fold)}")
    missing = [c for c in ("date", "ticker", "target", *columns) if c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions{_where(fold)} lack the column(s) {missing}")
    dup = predictions.duplicated(["date", "ticker"])
    if dup.any():
        row = predictions[dup].iloc[0]
        raise ValueError(f"two predictions for {row['ticker']} on {pd.Timestamp(row['date']):%Y-%m-%d}{_where(fold)}")
    bad = ~np.isfinite(predictions["target"].to_numpy(np.float64))
    if bad.any():
        row = predictions[bad].iloc[0]
        where = fold or (row["fold"] if "fold" in predictions.columns else None)
        raise ValueError(f"NaN return for {row['ticker']} on {pd.Timestamp(row['date']):%Y-%m-%d}{_where(where)}")


def positions_from_predictions(
    pred: pd.DataFrame, column: str = "model", mode: str = "sign", long_only: bool = False, cap: float = 1.0
) -> pd.DataFrame:
    """Weight per (date, ticker) from ``pred[column]``: columns date, ticker, weight (sorted by date, ticker).

    w_{t,i} = s_{t,i} / N_t with N_t the number of tickers on day t and s the signal: ``sign`` → sign(p);
    ``scaled`` → clip(p / mean_{j: p_j ≠ 0} |p_j|, −cap, cap). ``long_only`` → s = max(s, 0). NaN p → 0.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not cap > 0:
        raise ValueError(f"cap must be positive, got {cap}")
    df = pred[["date", "ticker"]].copy()
    p = pred[column].to_numpy(np.float64)
    p = np.where(np.isfinite(p), p, 0.0)
    day = df["date"].to_numpy()
    if mode == "sign":
        s = np.sign(p)
    else:
        absp = pd.Series(np.where(p != 0, np.abs(p), np.nan))
        scale = absp.groupby(day).transform("mean").to_numpy()  # NaN on a day with no nonzero prediction
        s = np.clip(np.divide(p, scale, out=np.zeros_like(p), where=scale > 0), -cap, cap)
    if long_only:
        s = np.maximum(s, 0.0)
    n = df.groupby("date")["ticker"].transform("size").to_numpy()
    df["weight"] = s / n + 0.0  # + 0.0 turns -0.0 into 0.0
    return df.sort_values(["date", "ticker"], ignore_index=True)


def simulate(positions: pd.DataFrame, cost_bps: float = 5.0, name: str = "", fold: str | None = None) -> BacktestResult:
    """Run weights through the returns: ``positions`` has date, ticker, weight and target (log, t → t+1)."""
    if cost_bps < 0:
        raise ValueError(f"cost_bps must be non-negative, got {cost_bps}")
    pos = positions[["date", "ticker", "weight", "target"]].sort_values(["date", "ticker"], ignore_index=True)
    wide = pos.pivot(index="date", columns="ticker", values="weight").fillna(0.0)  # (days, tickers)
    turnover = wide.diff().abs().sum(axis=1)
    turnover.iloc[0] = wide.iloc[0].abs().sum()  # w_{-1} = 0: the entry trades the whole book
    by_day = pos.assign(
        contrib=pos["weight"] * np.expm1(pos["target"].to_numpy(np.float64)), absw=pos["weight"].abs()
    ).groupby("date")
    daily = pd.DataFrame(
        {
            "gross_return": by_day["contrib"].sum(),
            "turnover": turnover,
            "exposure": by_day["absw"].sum(),
        }
    )
    daily["cost"] = daily["turnover"] * cost_bps / 1e4
    daily["net_return"] = daily["gross_return"] - daily["cost"]
    daily["equity"] = (1.0 + daily["net_return"]).cumprod()
    daily = daily.rename_axis("date").reset_index()[list(DAILY_COLUMNS)]
    return BacktestResult(name=name, daily=daily, positions=pos, cost_bps=float(cost_bps), fold=fold)


def backtest(
    predictions: pd.DataFrame,
    column: str = "model",
    cost_bps: float = 5.0,
    mode: str = "sign",
    long_only: bool = False,
    cap: float = 1.0,
    fold: str | None = None,
) -> BacktestResult:
    """Trade ``predictions[column]`` (see the module docstring for timing, weights, turnover and costs)."""
    validate_predictions(predictions, (column,), fold)
    pos = positions_from_predictions(predictions, column, mode=mode, long_only=long_only, cap=cap)
    pos = pos.merge(predictions[["date", "ticker", "target"]], on=["date", "ticker"], how="left")
    return simulate(pos, cost_bps, name=column, fold=fold)


def buy_and_hold(predictions: pd.DataFrame, cost_bps: float = 5.0, fold: str | None = None) -> BacktestResult:
    """Equal weight long every ticker of the day: w = 1/N_t, rebalanced daily to equal weights.

    Turnover is counted against the previous day's target weights (drift ignored, as for every strategy here):
    1 at entry, then 0 while the universe is unchanged, and |Δ(1/N)| when a ticker joins or leaves.
    """
    validate_predictions(predictions, (), fold)
    pos = predictions[["date", "ticker", "target"]].copy()
    pos["weight"] = 1.0 / pos.groupby("date")["ticker"].transform("size")
    return simulate(pos, cost_bps, name=BUY_AND_HOLD, fold=fold)


def backtest_all(
    predictions: pd.DataFrame,
    columns: Sequence[str] = PREDICTORS,
    cost_bps: float = 5.0,
    mode: str = "sign",
    long_only: bool = False,
    cap: float = 1.0,
    fold: str | None = None,
) -> dict[str, BacktestResult]:
    """Every predictor column's backtest and buy-and-hold's, side by side on the same rows: name → result."""
    validate_predictions(predictions, tuple(columns), fold)
    out = {
        c: backtest(predictions, c, cost_bps=cost_bps, mode=mode, long_only=long_only, cap=cap, fold=fold)
        for c in columns
    }
    out[BUY_AND_HOLD] = buy_and_hold(predictions, cost_bps=cost_bps, fold=fold)
    return out
