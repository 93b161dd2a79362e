"""What ``feature_windows`` stores for one ticker: the features of :mod:`fin_pipeline.features.indicators`, the
target, the one-day return, ``window_ok`` and the trading-cost inputs, row-aligned with the candles.

The target of row ``t`` is the executable h-day log return ``log(P[t+L+h] / P[t+L])`` and ``next_return`` the
one-day ``log(P[t+L+1] / P[t+L])``, P the execution's price (the open for ``next_open``, L = 1; the close for
``next_close``, L = 1, and ``close``, L = 0; :mod:`fin_pipeline.sources.execution`); the last ``h + L`` rows
have none. ``window_ok[t]``: the ``WINDOW`` rows ending at ``t`` all have finite features and ``target[t]`` and
``next_return[t]`` are finite. So a ticker needs ``WARMUP + WINDOW + h + L`` candles (:func:`min_candles`, 81 by
default) for its first usable window; fewer is a :class:`FeatureError` naming the ticker and the count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fin_pipeline.core.choices import LAG
from fin_pipeline.features.columns import (
    as_frame,
    candle_arrays,
    feature_block,
    guarded_div,
    guarded_log,
)
from fin_pipeline.features.cost_inputs import cost_inputs
from fin_pipeline.features.indicators import FEATURE_COLUMNS, WARMUP, WINDOW
from fin_pipeline.sources.execution import executable_returns, resolve_execution, target_span


class FeatureError(ValueError):
    """Candles that cannot give a usable feature window; the message names the ticker."""


def min_candles(horizon: int = 1, window: int = WINDOW, execution: str | None = None) -> int:
    """Fewest candles that give one usable window: the warm-up, one window, and the target's span h + L."""
    return WARMUP + window + target_span(horizon, resolve_execution(execution))


def compute_target(close: np.ndarray, horizon: int = 1) -> np.ndarray:
    """``log(close[t + horizon] / close[t])`` as float32; NaN on the last ``horizon`` rows (the ``close``
    execution's target; :func:`build_feature_frame` takes every execution's from ``sources/execution.py``)."""
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    close = np.asarray(close, dtype=np.float64)
    target = np.full(len(close), np.nan)
    if len(close) > horizon:
        target[:-horizon] = guarded_log(guarded_div(close[horizon:], close[:-horizon], 1.0))
    return target.astype(np.float32)


def window_ok_mask(features: np.ndarray, target: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """Rows ``t`` where rows ``t-window+1 .. t`` of ``features`` (T, F) are all finite and ``target[t]`` is."""
    finite = np.isfinite(features).all(axis=1)
    counts = np.concatenate([[0], np.cumsum(finite, dtype=np.int64)])
    ok = np.zeros(len(finite), dtype=bool)
    if len(finite) >= window:
        ok[window - 1 :] = (counts[window:] - counts[:-window]) == window
    return ok & np.isfinite(target)


def build_feature_frame(
    candles: pd.DataFrame, ticker: str, horizon: int = 1, window: int = WINDOW, execution: str | None = None
) -> pd.DataFrame:
    """What ``feature_windows`` stores for one ticker: ``timestamp``, the 40 columns, ``target``,
    ``next_return``, ``window_ok``, and the trading-cost inputs of each day
    (:func:`~fin_pipeline.features.cost_inputs.cost_inputs`: half_spread, sigma, adv, from that day's candles
    and earlier ones only), which the books read beside the predictions; ``attrs`` carries ``execution`` and
    ``untradable``
    (ticker-days whose execution price is missing or not positive: not traded).

    Raises :class:`FeatureError` (naming the ticker and the count) when there are fewer candles than
    :func:`min_candles` (warm-up + one window + h + L), or when OHLCV holds NaN; ``ExecutionError`` (naming the
    ticker and the setting) when the candles lack the execution's price column.
    """
    execution = resolve_execution(execution)
    need = min_candles(horizon, window, execution)
    if len(candles) < need:
        raise FeatureError(
            f"{ticker}: {len(candles)} candle(s), need at least {need} (warm-up {WARMUP} + window {window} + "
            f"horizon {horizon} + execution lag {LAG[execution]}) for one usable window"
        )
    returns = executable_returns(candles, horizon, execution, ticker)
    arrays = candle_arrays(candles)
    bad = ~np.isfinite(np.stack(arrays[:5])).all(axis=0)
    if bad.any():
        raise FeatureError(f"{ticker}: {int(bad.sum())} candle(s) with NaN/inf in high/low/close/volume or inf open")
    block = feature_block(*arrays)  # (40, T)
    ok = window_ok_mask(block.T, returns.target, window) & np.isfinite(returns.next_return)
    frame = as_frame(block)  # add the other columns around the feature block without copying it
    frame.insert(0, "timestamp", candles["timestamp"].reset_index(drop=True))
    frame["target"] = returns.target
    frame["next_return"] = returns.next_return
    frame["window_ok"] = ok
    frame.attrs.update(execution=execution, untradable=returns.untradable)
    for column, values in cost_inputs(candles).items():
        frame[column] = values.to_numpy()
    return frame


def nonfinite_usable_rows(frame: pd.DataFrame, window: int = WINDOW) -> np.ndarray:
    """Positions of rows that a usable window reads and that hold NaN/inf (features, or target on ok rows)."""
    ok = frame["window_ok"].to_numpy(dtype=bool)
    # Row i is read by the window ending at t when t - window < i <= t: count ok rows in [i, i + window).
    csum = np.concatenate([[0], np.cumsum(ok, dtype=np.int64)])
    upper = np.minimum(np.arange(len(ok)) + window, len(ok))
    covered = (csum[upper] - csum[: len(ok)]) > 0
    feats_bad = ~np.isfinite(frame[list(FEATURE_COLUMNS)].to_numpy(dtype=np.float32)).all(axis=1)
    target_bad = ok & ~np.isfinite(frame["target"].to_numpy(dtype=np.float32))
    return np.flatnonzero((covered & feats_bad) | target_bad)


def warmup_rows(frame: pd.DataFrame) -> int:
    """Leading rows of ``frame`` where some feature is not finite (the actual warm-up of this series)."""
    finite = np.isfinite(frame[list(FEATURE_COLUMNS)].to_numpy(dtype=np.float32)).all(axis=1)
    return int(np.argmax(finite)) if finite.any() else len(finite)
