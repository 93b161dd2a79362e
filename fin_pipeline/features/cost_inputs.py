"""What a trade's cost depends on, per ticker-day, from the candles: half-spread, volatility and dollar volume.

* s, the half-spread: max(ŝ, floor), ŝ = half the trailing mean over :data:`SPREAD_WINDOW` days of the daily
  Corwin & Schultz (2012, "A simple way to estimate bid-ask spreads from daily high and low prices", J. Finance
  67(2)) two-day estimates S. For the pair of days (t−1, t), with H, L the highs and lows:

      β = ln(H_{t−1}/L_{t−1})² + ln(H_t/L_t)²,   γ = ln(max(H_{t−1}, H_t) / min(L_{t−1}, L_t))²
      α = (√(2β) − √β) / (3 − 2√2) − √(γ / (3 − 2√2)),   S = 2(e^α − 1) / (1 + e^α)

  Before that, the overnight adjustment of the paper: when L_t > C_{t−1} (the close) both H_t and L_t are moved
  down by L_t − C_{t−1}; when H_t < C_{t−1} both are moved up by C_{t−1} − H_t. A negative two-day S is set to 0
  before averaging, as the paper does. S is the full spread relative to the mid price; crossing it from the mid
  costs half, ŝ = mean(S)/2. The cost model (:mod:`fin_pipeline.backtest.costs`) floors it.
* σ is the standard deviation (ddof 1) of the daily log close-to-close returns over :data:`VOL_WINDOW` days; ADV
  the average daily dollar volume (close × volume) over :data:`ADV_WINDOW` days.

No look-ahead: :func:`cost_inputs` gives row t values computed from the candles of rows ≤ t only (rolling windows
ending at t), so the cost of a trade decided at the close of day t uses what is known then; a day's high, low or
volume after t never changes them. They are NaN until a full window exists.

They are computed with the features (a ticker's candles are read once) and stored beside them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

COST_INPUTS = ("half_spread", "sigma", "adv")  # per ticker-day, as of the decision day's close
SPREAD_WINDOW = 21  # trading days (a month: the paper averages its two-day estimates over each month)
VOL_WINDOW = 20  # trading days of daily log returns for σ
ADV_WINDOW = 20  # trading days of dollar volume for ADV


def corwin_schultz(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """The daily two-day spread estimates S_t of Corwin & Schultz (2012) over days (t−1, t), negatives set to 0.

    Row t uses rows t−1 and t only; row 0 is NaN. See the module docstring for the formula and the overnight
    adjustment (which uses the close of t−1).
    """
    high, low, close = (np.asarray(a, dtype=np.float64) for a in (high, low, close))
    out = np.full(len(high), np.nan)
    if len(high) < 2:
        return out
    h0, l0, prev_close = high[:-1], low[:-1], close[:-1]
    up = np.maximum(low[1:] - prev_close, 0.0)  # day t opened above the previous close: shift it down
    down = np.maximum(prev_close - high[1:], 0.0)  # ... below it: shift it up
    h1, l1 = high[1:] - up + down, low[1:] - up + down
    beta = np.log(h0 / l0) ** 2 + np.log(h1 / l1) ** 2
    gamma = np.log(np.maximum(h0, h1) / np.minimum(l0, l1)) ** 2
    k = 3.0 - 2.0 * math.sqrt(2.0)
    alpha = (np.sqrt(2.0 * beta) - np.sqrt(beta)) / k - np.sqrt(gamma / k)
    out[1:] = np.maximum(2.0 * np.expm1(alpha) / (1.0 + np.exp(alpha)), 0.0)
    return out


def cost_inputs(
    candles: pd.DataFrame,
    spread_window: int = SPREAD_WINDOW,
    vol_window: int = VOL_WINDOW,
    adv_window: int = ADV_WINDOW,
) -> pd.DataFrame:
    """Per candle row t: ``half_spread`` (ŝ, before the floor), ``sigma`` (daily) and ``adv`` (dollars), each from
    rows ≤ t only (rolling windows ending at t; NaN until the window is full). One row per candle, same order."""
    high, low, close, volume = (candles[c].to_numpy(np.float64) for c in ("high", "low", "close", "volume"))
    spread = pd.Series(corwin_schultz(high, low, close)).rolling(spread_window, min_periods=spread_window).mean()
    log_ret = pd.Series(np.log(close)).diff()
    sigma = log_ret.rolling(vol_window, min_periods=vol_window).std(ddof=1)
    adv = pd.Series(close * volume).rolling(adv_window, min_periods=adv_window).mean()
    return pd.DataFrame({"half_spread": spread.to_numpy() / 2.0, "sigma": sigma.to_numpy(), "adv": adv.to_numpy()})
