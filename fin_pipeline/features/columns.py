"""The 40 feature columns of :mod:`fin_pipeline.features.indicators`, computed from one ticker's candles.

Row ``t`` of every column uses the candles of rows ``<= t`` only: TA-Lib's functions are causal, and everything
computed here in numpy is either element-wise or looks backwards.

Degenerate input never gives inf or NaN after the warm-up; each guard has a neutral value:

* every division of ours is guarded (``den > 0``, else the neutral value: 0 for ratios and z-scores, 0.5 for
  ``bb_pctb``); NaN (warm-up) stays NaN;
* flat prices (high == low == open == close): TA-Lib returns 0 for an oscillator with no range or no
  movement, which would read as "extremely oversold"; RSI (no move since the first row), %K/%D and Williams %R
  (no range over their windows), the ultimate oscillator (no range over 29 rows) and MFI (no money flow over 14
  rows) are set to mid-scale (0.5; -0.5 for Williams %R) there instead. ADX/±DI, CCI, ATR, TRIX are 0: honest;
* zero volume: the OBV change is 0 (no volume in its window), the volume z-score uses ``log(1 + volume)``; the
  A/D oscillator and its scale, EMA(10) of volume, decay at the same rate through days without trades, so
  their ratio holds its last value (0 when there has never been volume);
* ``bb_pctb`` and ``volume_z20`` are clipped to what a 20-sample population z-score can reach (±sqrt(19)), so
  round-off in a near-zero standard deviation cannot blow them up; a standard deviation of log volume below
  1e-6 counts as zero;
* missing VWAP (vendor CSV files have none): ``close_vwap`` compares the close with the typical price
  ``(high + low + close)/3``, the usual stand-in for the day's average price.

TA-Lib's global settings (``set_unstable_period``, ``set_compatibility``) are left at their defaults; the
hand-computed checks in the tests pin the EMA/Wilder seeding those defaults give.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

from fin_pipeline.features.indicators import EMA_PERIODS, FEATURE_COLUMNS, RETURN_DAYS, SMA_PERIODS, STD_DAYS
from fin_pipeline.sources.base import REQUIRED_COLUMNS

# A 20-sample population z-score cannot exceed sqrt(n - 1) in size; clipping there only removes round-off.
_Z20_MAX = float(np.sqrt(19.0))
_LOG_VOLUME_STD_EPS = 1e-6


def talib_outputs(o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray) -> dict:
    """Every TA-Lib call of the feature set on float64 arrays, unnormalized (the benchmark's floor)."""
    typ = talib.TYPPRICE(h, lo, c)
    ret1 = guarded_log(talib.ROCR(c, 1))
    logv = np.log1p(v)
    # MFI's money flow counts only days whose typical price moved (TA-Lib's rule); used to spot "no flow".
    moved_flow = typ * v
    moved_flow[1:] *= typ[1:] != typ[:-1]
    return {
        "typ": typ,
        "ret1": ret1,
        "logv": logv,
        **{f"sma{n}": talib.SMA(c, n) for n in SMA_PERIODS},
        **{f"ema{n}": talib.EMA(c, n) for n in EMA_PERIODS},
        "macd": talib.MACD(c, 12, 26, 9),
        "adx": talib.ADX(h, lo, c, 14),
        "plus_di": talib.PLUS_DI(h, lo, c, 14),
        "minus_di": talib.MINUS_DI(h, lo, c, 14),
        "aroon": talib.AROON(h, lo, 14),  # (down, up)
        "lr_slope": talib.LINEARREG_SLOPE(c, 20),
        "rsi": talib.RSI(c, 14),
        "stoch": talib.STOCH(h, lo, c, 14, 3, 0, 3, 0),
        "willr": talib.WILLR(h, lo, c, 14),
        "roc": talib.ROC(c, 10),
        "cci": talib.CCI(h, lo, c, 20),
        "mfi": talib.MFI(h, lo, c, v, 14),
        "ultosc": talib.ULTOSC(h, lo, c, 7, 14, 28),
        "trix": talib.TRIX(c, 15),
        "atr": talib.ATR(h, lo, c, 14),
        "natr": talib.NATR(h, lo, c, 5),
        "bb": talib.BBANDS(c, 20, 2.0, 2.0, 0),
        **{f"std{n}": talib.STDDEV(ret1, n) for n in STD_DAYS},
        "obv_mom": talib.MOM(talib.OBV(c, v), 10),
        "vol_sum10": talib.SUM(v, 10),
        "adosc": talib.ADOSC(h, lo, c, v, 3, 10),
        "vol_ema10": talib.EMA(v, 10),
        "logv_mean": talib.SMA(logv, 20),
        "logv_std": talib.STDDEV(logv, 20),
        **{f"rocr{n}": talib.ROCR(c, n) for n in RETURN_DAYS[1:]},  # ret_1d is ret1
        "flow14": talib.SUM(moved_flow, 14),
        # Range of high/low over the windows of WILLR (14), slow %K (14+2), slow %D (14+4), ULTOSC (28+1).
        **{f"range{n}": talib.MAX(h, n) - talib.MIN(lo, n) for n in (14, 16, 18, 29)},
    }


def guarded_div(num: np.ndarray, den: np.ndarray, neutral: float = 0.0) -> np.ndarray:
    """``num / den`` where ``den > 0``, else ``neutral``; NaN in either stays NaN (warm-up is not neutral)."""
    out = np.where(np.isnan(num) | np.isnan(den), np.nan, neutral)
    np.divide(num, den, out=out, where=den > 0)
    return out


def guarded_log(x: np.ndarray) -> np.ndarray:
    """``log(x)`` where ``x > 0``, else 0 (no move); NaN stays NaN."""
    out = np.where(np.isnan(x), np.nan, 0.0)
    np.log(x, out=out, where=x > 0)
    return out


def _mid_where(x: np.ndarray, mask: np.ndarray, mid: float) -> np.ndarray:
    """``x`` with its finite values replaced by ``mid`` where ``mask`` (a degenerate, information-free window)."""
    return np.where(mask & ~np.isnan(x), mid, x)


def candle_arrays(candles: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """open, high, low, close, volume, vwap as contiguous float64 arrays (what TA-Lib takes). A missing open
    (NaN) reads as 0, which the guards of ``gap`` and ``body`` turn into their neutral value 0 (no move)."""
    arrays = [np.ascontiguousarray(candles[k].to_numpy(dtype=np.float64)) for k in (*REQUIRED_COLUMNS, "vwap")]
    arrays[0] = np.where(np.isnan(arrays[0]), 0.0, arrays[0])
    return tuple(arrays)


# One shared (immutable) column index: building a string Index per call costs more than some indicators.
_FEATURE_INDEX = pd.Index(FEATURE_COLUMNS)


def as_frame(block: np.ndarray) -> pd.DataFrame:
    """(40, T) float32 block → a (T, 40) DataFrame over the same memory (pandas stores columns as block rows)."""
    return pd.DataFrame(block.T, columns=_FEATURE_INDEX, copy=False)


def compute_features(candles: pd.DataFrame) -> pd.DataFrame:
    """The 40 feature columns (float32, :data:`FEATURE_COLUMNS` order), row-aligned with ``candles``.

    ``candles`` is in the raw_candles schema and valid (no NaN in OHLCV, positive prices); ``vwap`` may be NaN.
    Rows before :data:`WARMUP` hold NaN in some column.
    """
    return as_frame(feature_block(*candle_arrays(candles)))


def feature_block(o, h, lo, c, v, vwap) -> np.ndarray:
    """The features as a (40, T) float32 array: one contiguous row per column."""
    n = len(c)
    if n == 0:
        return np.empty((len(FEATURE_COLUMNS), 0), np.float32)
    r = talib_outputs(o, h, lo, c, v)
    macd, macd_signal, macd_hist = r["macd"]
    aroon_down, aroon_up = r["aroon"]
    stoch_k, stoch_d = r["stoch"]
    bb_upper, bb_middle, bb_lower = r["bb"]
    prev_close = np.r_[np.nan, c[:-1]]
    no_move_yet = np.cumsum(np.abs(np.diff(c, prepend=c[0]))) == 0  # RSI has seen no gain nor loss
    vwap_ref = np.where(np.isfinite(vwap) & (vwap > 0), vwap, r["typ"])
    logv_std = np.where(r["logv_std"] < _LOG_VOLUME_STD_EPS, 0.0, r["logv_std"])  # NaN stays NaN

    out = np.empty((len(FEATURE_COLUMNS), n), dtype=np.float32)  # (40, T); each column computed in float64, cast once
    columns = (
        *(guarded_div(c, r[f"sma{n}"], 1.0) - 1.0 for n in SMA_PERIODS),
        *(guarded_div(c, r[f"ema{n}"], 1.0) - 1.0 for n in EMA_PERIODS),
        guarded_div(macd, c),
        guarded_div(macd_signal, c),
        guarded_div(macd_hist, c),
        r["adx"] / 100.0,
        r["plus_di"] / 100.0,
        r["minus_di"] / 100.0,
        aroon_up / 100.0,
        aroon_down / 100.0,
        guarded_div(r["lr_slope"], c),
        _mid_where(r["rsi"], no_move_yet, 50.0) / 100.0,
        _mid_where(stoch_k, r["range16"] == 0, 50.0) / 100.0,
        _mid_where(stoch_d, r["range18"] == 0, 50.0) / 100.0,
        _mid_where(r["willr"], r["range14"] == 0, -50.0) / 100.0,
        r["roc"] / 100.0,
        r["cci"] / 100.0,
        _mid_where(r["mfi"], r["flow14"] < 1.0, 50.0) / 100.0,
        _mid_where(r["ultosc"], r["range29"] == 0, 50.0) / 100.0,
        r["trix"] / 100.0,
        guarded_div(r["atr"], c),
        r["natr"] / 100.0,
        np.clip(guarded_div(c - bb_lower, bb_upper - bb_lower, 0.5), 0.5 - _Z20_MAX / 4, 0.5 + _Z20_MAX / 4),
        guarded_div(bb_upper - bb_lower, bb_middle),
        *(r[f"std{n}"] for n in STD_DAYS),
        np.clip(guarded_div(r["obv_mom"], r["vol_sum10"]), -1.0, 1.0),
        guarded_div(r["adosc"], r["vol_ema10"]),
        np.clip(guarded_div(r["logv"] - r["logv_mean"], logv_std), -_Z20_MAX, _Z20_MAX),
        r["ret1"],
        *(guarded_log(r[f"rocr{n}"]) for n in RETURN_DAYS[1:]),
        guarded_div(h - lo, c),
        guarded_log(guarded_div(o, prev_close, 1.0)),
        guarded_log(guarded_div(c, vwap_ref, 1.0)),
        guarded_log(guarded_div(c, o, 1.0)),
        guarded_div((c - lo) - (h - c), h - lo),
    )
    for j, col in enumerate(columns):
        out[j] = col
    return out
