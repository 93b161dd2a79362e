"""When a book decided from the data through close t can trade, and the returns it (and the target) then earn.

The nightly run starts after the close of day t, so the first price a trader can get is the open of day t+1.
``execution`` names the convention, one for the targets, the IC, every book (model, baselines, buy-and-hold), the
live forecast's positions and the paper record:

=============  =====  ============  =====================================================================
execution      lag L  price P       the book decided from the data through close t holds …
=============  =====  ============  =====================================================================
``next_open``  1      open          from open t+1 to open t+2 (the default: executable after the close)
``next_close`` 1      close         from close t+1 to close t+2 (a market-on-close order the next day)
``close``      0      close         from close t to close t+1: **not executable from a run after the close**
=============  =====  ============  =====================================================================

With P the execution price series and h the target horizon (features stay as of close t):

* target of row t: ``log(P[t+L+h] / P[t+L])``, known once day t+L+h exists (its *last target date*);
* one-day return of row t (``next_return``, what the book decided at t earns on its first day held):
  ``log(P[t+L+1] / P[t+L])``; with h = 1 it is the target;
* a price that is missing (NaN) or not positive (an open of 0 in a vendor file) cannot be traded: every target
  and one-day return that starts or ends on it is NaN, so the row is not usable (no window, no prediction, no
  position: in a book it holds weight 0 that day, like an absent row). :func:`executable_returns` counts those
  ticker-days (``untradable``), which the feature step reports. Candles with no such price at all (no column,
  or every value missing) are refused, naming the ticker or file and the setting.

Nothing here imports dagster or the settings: the default (``FIN_PIPELINE_EXECUTION``) lives in
:mod:`fin_pipeline.core.settings`, which validates against :data:`EXECUTIONS`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from fin_pipeline.core.choices import EXECUTIONS, LAG, NOT_EXECUTABLE, PRICE

_WORDS = {
    "next_open": "bought at the next open, held open to open",
    "next_close": "bought at the next close, held close to close",
    "close": f"traded at the decision's own close, close to close: {NOT_EXECUTABLE}",
}


class ExecutionError(ValueError):
    """An unknown execution, or candles without the prices an execution trades at."""


def check_execution(value: object, name: str = "execution") -> str:
    """``value`` if it is one of :data:`EXECUTIONS`, else :class:`ExecutionError` naming ``name`` (the setting)."""
    if value not in EXECUTIONS:
        raise ExecutionError(f"{name}={value!r} is not one of {list(EXECUTIONS)}")
    return str(value)


def resolve_execution(value: str | None) -> str:
    """``value`` checked, or the project's default (``FIN_PIPELINE_EXECUTION``'s default) when ``None``."""
    if value is None:
        from fin_pipeline.core.settings import DEFAULT_EXECUTION  # lazy: settings imports this module

        return DEFAULT_EXECUTION
    return check_execution(value)


def describe(execution: str) -> str:
    """The execution in words, e.g. ``next_open (bought at the next open, held open to open)``; ``close`` says
    that it is not executable from a run after the close."""
    return f"{check_execution(execution)} ({_WORDS[execution]})"


def target_span(horizon: int, execution: str) -> int:
    """Trading days from a row's decision day t to its last target date: h + L."""
    return int(horizon) + LAG[check_execution(execution)]


class ExecutableReturns(NamedTuple):
    target: np.ndarray  # (T,) float32: log(P[t+L+h] / P[t+L]), NaN where unknown or untradable
    next_return: np.ndarray  # (T,) float32: log(P[t+L+1] / P[t+L]), NaN where unknown or untradable
    untradable: int  # ticker-days whose execution price is missing or not positive


def execution_prices(candles: pd.DataFrame, execution: str, where: str = "candles") -> np.ndarray:
    """The price series ``execution`` trades at (float64; NaN where missing), or :class:`ExecutionError` naming
    ``where`` (the ticker or file) and the setting when the candles have no such column."""
    column = PRICE[check_execution(execution)]
    if column not in candles.columns:
        raise ExecutionError(
            f"{where}: no {column!r} prices, which execution={execution!r} (FIN_PIPELINE_EXECUTION) trades at; "
            f"deliver {column}s or choose another execution"
        )
    return pd.to_numeric(candles[column], errors="coerce").to_numpy(np.float64)


def executable_returns(
    candles: pd.DataFrame, horizon: int, execution: str, where: str = "candles"
) -> ExecutableReturns:
    """The target and one-day return of every row of ``candles`` under ``execution`` (see the module docstring)."""
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    price = execution_prices(candles, execution, where)
    lag = LAG[execution]
    good = np.isfinite(price) & (price > 0)
    if len(price) and not good.any():  # a column of blanks is no opens at all, not a run of untradable days
        raise ExecutionError(
            f"{where}: no {PRICE[execution]!r} price on any of its {len(price)} day(s), which execution={execution!r} "
            f"(FIN_PIPELINE_EXECUTION) trades at; deliver {PRICE[execution]}s or choose another execution"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        log_p = np.where(good, np.log(np.where(good, price, 1.0)), np.nan)
    return ExecutableReturns(
        _forward(log_p, lag, horizon).astype(np.float32),
        _forward(log_p, lag, 1).astype(np.float32),
        int((~good).sum()),
    )


def _forward(log_p: np.ndarray, lag: int, steps: int) -> np.ndarray:
    """``log_p[t + lag + steps] - log_p[t + lag]`` per row t; NaN where either end is beyond the data or NaN."""
    out = np.full(len(log_p), np.nan)
    n = len(log_p) - lag - steps
    if n > 0:
        out[:n] = log_p[lag + steps : lag + steps + n] - log_p[lag : lag + n]
    return out
