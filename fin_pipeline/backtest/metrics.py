"""Risk and return metrics of a daily return series; each function's docstring states its formula.

``r`` is the series of daily net simple returns r_1 … r_n of a :class:`~fin_pipeline.backtest.strategy.
BacktestResult` (n days, 252 trading days a year, risk-free rate 0). A metric that is undefined on its input
(no days; zero volatility; no losing day; no drawdown) is ``NaN``: reports show it as "undefined", never as a
made-up 0.

Cross-checked against empyrical (``fin_pipeline_tests/backtest/test_empyrical.py``): each function's docstring
names where empyrical's convention differs (signs, undefined cases, ties in the CVaR tail).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fin_pipeline.backtest.strategy import BacktestResult

TRADING_DAYS = 252
# A standard deviation below this is a constant series up to rounding: its Sharpe is undefined.
_ZERO_STD = 1e-12
NAN = float("nan")


def _r(returns: pd.Series | np.ndarray) -> np.ndarray:
    return np.asarray(returns, dtype=np.float64)


def total_return(returns: pd.Series | np.ndarray) -> float:
    """Π(1 + r_t) − 1."""
    r = _r(returns)
    return float(np.prod(1.0 + r) - 1.0) if len(r) else NAN


def annualized_return(returns: pd.Series | np.ndarray) -> float:
    """Geometric: (Π(1 + r_t))^(252 / n) − 1; −1 when the equity reached 0 or below (ruin)."""
    r = _r(returns)
    if len(r) == 0:
        return NAN
    wealth = float(np.prod(1.0 + r))
    return float(wealth ** (TRADING_DAYS / len(r)) - 1.0) if wealth > 0 else -1.0


def annualized_volatility(returns: pd.Series | np.ndarray) -> float:
    """std(r) · √252, sample standard deviation (ddof = 1); NaN with fewer than 2 days."""
    r = _r(returns)
    return float(np.std(r, ddof=1) * np.sqrt(TRADING_DAYS)) if len(r) >= 2 else NAN


def sharpe_ratio(returns: pd.Series | np.ndarray) -> float:
    """mean(r) / std(r) · √252 (ddof = 1, risk-free 0); NaN with fewer than 2 days or std = 0.

    = ``empyrical.sharpe_ratio(r)`` and ``quantstats.stats.sharpe(r)``, except for a constant series: NaN here
    (std below 1e-12), ±inf in empyrical.
    """
    r = _r(returns)
    if len(r) < 2:
        return NAN
    std = float(np.std(r, ddof=1))
    return float(np.mean(r) / std * np.sqrt(TRADING_DAYS)) if std > _ZERO_STD else NAN


def downside_deviation(returns: pd.Series | np.ndarray) -> float:
    """√(mean(min(r_t, 0)²)) over all n days (target return 0)."""
    r = _r(returns)
    return float(np.sqrt(np.mean(np.minimum(r, 0.0) ** 2))) if len(r) else NAN


def sortino_ratio(returns: pd.Series | np.ndarray) -> float:
    """mean(r) / downside_deviation(r) · √252; NaN with no losing day (downside deviation 0) or no days.

    = ``empyrical.sortino_ratio(r)`` (required return 0: its 252·mean / (downside deviation · √252) is this), except
    with no losing day: NaN here, +inf in empyrical.
    """
    r = _r(returns)
    dd = downside_deviation(r)
    return float(np.mean(r) / dd * np.sqrt(TRADING_DAYS)) if dd > 0 else NAN


def drawdown_series(equity: pd.Series, initial: float = 1.0) -> pd.Series:
    """D_t = E_t / max(initial, max_{s≤t} E_s) − 1 ≤ 0: the fall from the running peak, starting capital included."""
    peak = np.maximum(equity.cummax().to_numpy(np.float64), initial)
    return pd.Series(equity.to_numpy(np.float64) / peak - 1.0, index=equity.index, name="drawdown")


@dataclass(frozen=True)
class Drawdown:
    """The deepest drawdown: depth as a positive fraction, and its dates (``None`` where there is none)."""

    depth: float  # max_t (1 − E_t / peak_t); 0 when the equity never fell below a peak
    peak: pd.Timestamp | None  # last day of the running peak before the trough (first day if the peak is E_0 = 1)
    trough: pd.Timestamp | None
    recovery: pd.Timestamp | None  # first day after the trough with E_t ≥ the peak; None if not recovered


def max_drawdown(returns: pd.Series) -> Drawdown:
    """MDD = max_t (1 − E_t / max(1, max_{s≤t} E_s)) with E_t = Π_{s≤t}(1 + r_s), and its peak/trough/recovery dates.

    ``returns`` is indexed by date. When the peak is the starting capital (the fall begins on the first day),
    the peak date is the first day. No days → depth NaN; no fall → depth 0 and no dates.

    ``empyrical.max_drawdown(r)`` is −MDD (a negative return) on the same path: starting capital included.
    """
    if len(returns) == 0:
        return Drawdown(NAN, None, None, None)
    equity = (1.0 + returns.astype(np.float64)).cumprod()
    dd = drawdown_series(equity).to_numpy()
    t = int(np.argmin(dd))
    if dd[t] >= 0:
        return Drawdown(0.0, None, None, None)
    values, dates = equity.to_numpy(), list(equity.index)
    peak_value = max(1.0, float(values[: t + 1].max()))
    at_peak = np.flatnonzero(values[: t + 1] >= peak_value)
    peak = dates[at_peak[-1]] if len(at_peak) else dates[0]
    recovered = np.flatnonzero(values[t + 1 :] >= peak_value)
    recovery = dates[t + 1 + recovered[0]] if len(recovered) else None
    return Drawdown(
        float(-dd[t]), pd.Timestamp(peak), pd.Timestamp(dates[t]), None if recovery is None else pd.Timestamp(recovery)
    )


def calmar_ratio(returns: pd.Series) -> float:
    """annualized_return(r) / MDD; NaN with no drawdown (MDD = 0) or no days.

    = ``empyrical.calmar_ratio(r)`` (geometric annual return over the positive depth), except after a ruin below
    zero wealth: −1 / MDD here (the annualized return of a ruin is −1), NaN in empyrical (a negative wealth raised
    to the fractional power 252 / n).
    """
    depth = max_drawdown(returns).depth
    return float(annualized_return(returns) / depth) if depth > 0 else NAN


def win_rate(returns: pd.Series | np.ndarray) -> float:
    """Share of days with r_t > 0 (a flat day is not a win); NaN with no days."""
    r = _r(returns)
    return float(np.mean(r > 0)) if len(r) else NAN


def hit_ratio(positions: pd.DataFrame) -> float:
    """Share of correct directions: mean(sign w = sign y) over (date, ticker) rows with w ≠ 0 and y ≠ 0.

    ``positions`` has ``weight`` and ``target`` (the realized log return the position earns). NaN with no
    position taken (e.g. the ``zero`` baseline).
    """
    w, y = positions["weight"].to_numpy(np.float64), positions["target"].to_numpy(np.float64)
    called = (w != 0) & (y != 0)
    return float(np.mean(np.sign(w[called]) == np.sign(y[called]))) if called.any() else NAN


def value_at_risk(returns: pd.Series | np.ndarray, level: float = 0.95) -> float:
    """Historical VaR as a positive loss: VaR_α = −quantile(r, 1 − α), linear interpolation between order statistics.

    (numpy's default: the q-quantile sits at position q·(n − 1) of the sorted returns.) Negative when even the
    (1 − α) quantile is a gain. NaN with no days.

    Sign: ``empyrical.value_at_risk(r, cutoff=1 − α)`` is the quantile itself, −VaR_α (same interpolation).
    """
    r = _r(returns)
    return float(-np.quantile(r, 1.0 - level) + 0.0) if len(r) else NAN  # + 0.0: no "-0"


def conditional_value_at_risk(returns: pd.Series | np.ndarray, level: float = 0.95) -> float:
    """Historical CVaR (expected shortfall) as a positive loss: the mean of the worst m = n(1 − α) days, the
    (k+1)-th worst weighted by the fraction m − k (k = ⌊m⌋; Acerbi & Tasche 2002):

        CVaR_α = −(Σ_{i ≤ k} r_(i) + (m − k) · r_(k+1)) / m,   r_(1) ≤ … ≤ r_(n);   the worst day when m < 1.

    Days tied at the cutoff count only for the share of the tail they fill: a sparse book with many flat days
    (return 0) is not read as having a smaller loss than its worst 5% of days. NaN with no days.

    ``empyrical.conditional_value_at_risk(r, cutoff=1 − α)`` is −(the mean of the ⌊(n − 1)(1 − α)⌋ + 1 lowest days):
    the same number whenever n(1 − α) is a whole number (n = 20, 100, 500 … at 95%), slightly different otherwise.
    """
    r = np.sort(_r(returns))
    n = len(r)
    if n == 0:
        return NAN
    m = n * (1.0 - level)
    if m <= 1.0:
        return float(-r[0] + 0.0)
    k = int(np.floor(m + 1e-9))  # + 1e-9: n(1 − α) = 5.000000000000001 is five days, not five and a sliver
    tail = r[:k].sum() + ((m - k) * r[k] if k < n and m > k + 1e-9 else 0.0)
    return float(-tail / m + 0.0)


def average_turnover(daily: pd.DataFrame) -> float:
    """mean_t Σ_i |w_{t,i} − w_{t−1,i}| (the entry day included)."""
    return float(daily["turnover"].mean()) if len(daily) else NAN


def average_exposure(daily: pd.DataFrame) -> float:
    """mean_t Σ_i |w_{t,i}|: the average gross book, 1 = fully invested."""
    return float(daily["exposure"].mean()) if len(daily) else NAN


SUMMARY_KEYS = (
    "n_days",
    "total_return",
    "annualized_return",
    "annualized_volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_peak",
    "max_drawdown_trough",
    "max_drawdown_recovery",
    "calmar",
    "win_rate",
    "hit_ratio",
    "var_95",
    "cvar_95",
    "var_99",
    "cvar_99",
    "avg_turnover",
    "avg_exposure",
    "total_cost",
)


def _date(d: pd.Timestamp | None) -> pd.Timestamp:
    return pd.NaT if d is None else d


def summary(result: BacktestResult) -> dict[str, float | pd.Timestamp]:
    """Every metric of one backtest (net returns). Numbers are floats (NaN = undefined); the drawdown's dates are
    Timestamps, ``NaT`` where there is none."""
    r = result.returns
    dd = max_drawdown(r)
    return {
        "n_days": float(len(r)),
        "total_return": total_return(r),
        "annualized_return": annualized_return(r),
        "annualized_volatility": annualized_volatility(r),
        "sharpe": sharpe_ratio(r),
        "sortino": sortino_ratio(r),
        "max_drawdown": dd.depth,
        "max_drawdown_peak": _date(dd.peak),
        "max_drawdown_trough": _date(dd.trough),
        "max_drawdown_recovery": _date(dd.recovery),
        "calmar": calmar_ratio(r),
        "win_rate": win_rate(r),
        "hit_ratio": hit_ratio(result.positions),
        "var_95": value_at_risk(r, 0.95),
        "cvar_95": conditional_value_at_risk(r, 0.95),
        "var_99": value_at_risk(r, 0.99),
        "cvar_99": conditional_value_at_risk(r, 0.99),
        "avg_turnover": average_turnover(result.daily),
        "avg_exposure": average_exposure(result.daily),
        "total_cost": float(result.daily["cost"].sum()),
    }


def summary_table(results: dict[str, BacktestResult]) -> pd.DataFrame:
    """One row per strategy (index ``strategy``), :data:`SUMMARY_KEYS` as columns."""
    rows = {name: summary(res) for name, res in results.items()}
    return pd.DataFrame.from_dict(rows, orient="index")[list(SUMMARY_KEYS)].rename_axis("strategy")
