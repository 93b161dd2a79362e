"""34 technical indicators (TA-Lib) → 40 scale-free float32 feature columns, the target and ``window_ok``.

Every column is scale-free (a ratio to the close or to traded volume, a return, or a bounded oscillator
rescaled to a fraction), so one normalization serves every ticker. Row ``t`` of every column uses the
candles of rows ``<= t`` only: TA-Lib's functions are causal, and everything computed here in numpy is
either element-wise or looks backwards (``lookahead_violations`` checks it; the asset runs that check).

==  =======================  ===================  ================  =================================================
#   indicator                TA-Lib function      parameters        output columns
==  =======================  ===================  ================  =================================================
1   SMA ratio                SMA                  10                close_sma10: close/SMA - 1
2   SMA ratio                SMA                  20                close_sma20: close/SMA - 1
3   SMA ratio                SMA                  50                close_sma50: close/SMA - 1
4   EMA ratio                EMA                  12                close_ema12: close/EMA - 1
5   EMA ratio                EMA                  26                close_ema26: close/EMA - 1
6   MACD                     MACD                 12, 26, 9         macd, macd_signal, macd_hist: /close
7   ADX                      ADX                  14                adx: /100
8   directional indicators   PLUS_DI, MINUS_DI    14                plus_di, minus_di: /100
9   Aroon                    AROON                14                aroon_up, aroon_down: /100
10  linear-regression slope  LINEARREG_SLOPE      20                lr_slope20: slope/close
11  RSI                      RSI                  14                rsi14: /100
12  stochastic               STOCH                14, 3 SMA, 3 SMA  stoch_k, stoch_d: slow %K, %D /100
13  Williams %R              WILLR                14                willr14: /100, in [-1, 0]
14  rate of change           ROC                  10                roc10: /100
15  commodity channel index  CCI                  20                cci20: /100
16  money flow index         MFI                  14                mfi14: /100
17  ultimate oscillator      ULTOSC               7, 14, 28         ultosc: /100
18  TRIX                     TRIX                 15                trix15: /100
19  average true range       ATR                  14                atr14: ATR/close
20  normalized ATR           NATR                 5                 natr5: /100
21  Bollinger bands          BBANDS               20, 2, 2, SMA     bb_pctb, bb_width: %B; (upper-lower)/middle
22  std of log returns       ROCR, STDDEV         1; 5              ret_std_5d: std of ret_1d
23  std of log returns       ROCR, STDDEV         1; 20             ret_std_20d: std of ret_1d
24  OBV change               OBV, MOM, SUM        10                obv_change10: OBV change / volume sum, in [-1, 1]
25  A/D oscillator           ADOSC, EMA           3, 10; 10         adosc: ADOSC / EMA10(volume)
26  volume z-score           SMA, STDDEV          20                volume_z20: z-score of log(1 + volume)
27  log return               ROCR                 1                 ret_1d: log(close/close[t-1])
28  log return               ROCR                 5                 ret_5d: log(close/close[t-5])
29  log return               ROCR                 20                ret_20d: log(close/close[t-20])
30  high-low range           (numpy)              -                 hl_range: (high - low)/close
31  overnight gap            (numpy)              -                 gap: log(open/close[t-1])
32  close vs VWAP            TYPPRICE (fallback)  -                 close_vwap: log(close/vwap)
33  candle body              (numpy)              -                 body: log(close/open)
34  close location value     (numpy)              -                 clv: ((c - l) - (h - c))/(h - l)
==  =======================  ===================  ================  =================================================

Groups: trend 1–10, momentum 11–18, volatility 19–23, volume 24–26, price action 27–34. NATR is ATR/close:
at ATR's own period it would duplicate ``atr14``, so it is taken at a short period (5) as the fast gauge.

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

The target of row ``t`` is the executable h-day log return ``log(P[t+L+h] / P[t+L])`` and ``next_return`` the
one-day ``log(P[t+L+1] / P[t+L])``, P the execution's price (the open for ``next_open``, L = 1; the close for
``next_close``, L = 1, and ``close``, L = 0; :mod:`fin_pipeline.sources.execution`); the last ``h + L`` rows
have none. ``window_ok[t]``: the ``WINDOW`` rows ending at ``t`` all have finite features and ``target[t]`` and
``next_return[t]`` are finite. So a ticker needs ``WARMUP + WINDOW + h + L`` candles (:func:`min_candles`, 81 by
default) for its first usable window; fewer is a :class:`FeatureError` naming the ticker and the count.

TA-Lib's global settings (``set_unstable_period``, ``set_compatibility``) are left at their defaults; the
hand-computed checks in the tests pin the EMA/Wilder seeding those defaults give.
"""

from __future__ import annotations

import hashlib
import json
from typing import NamedTuple

import numpy as np
import pandas as pd
import talib

from fin_pipeline.core.choices import LAG
from fin_pipeline.features.cost_inputs import cost_inputs
from fin_pipeline.sources.base import REQUIRED_COLUMNS
from fin_pipeline.sources.execution import executable_returns, resolve_execution, target_span


class FeatureError(ValueError):
    """Candles that cannot give a usable feature window; the message names the ticker."""


class Indicator(NamedTuple):
    """One row of the module docstring's table."""

    name: str
    function: str  # the TA-Lib function(s) it calls; "(numpy)" when plain arithmetic on the bars does it
    params: str
    columns: tuple[str, ...]
    definition: str  # how the column(s) are made scale-free


INDICATORS: tuple[Indicator, ...] = (
    Indicator("SMA ratio", "SMA", "10", ("close_sma10",), "close/SMA - 1"),
    Indicator("SMA ratio", "SMA", "20", ("close_sma20",), "close/SMA - 1"),
    Indicator("SMA ratio", "SMA", "50", ("close_sma50",), "close/SMA - 1"),
    Indicator("EMA ratio", "EMA", "12", ("close_ema12",), "close/EMA - 1"),
    Indicator("EMA ratio", "EMA", "26", ("close_ema26",), "close/EMA - 1"),
    Indicator("MACD", "MACD", "12, 26, 9", ("macd", "macd_signal", "macd_hist"), "/close"),
    Indicator("ADX", "ADX", "14", ("adx",), "/100"),
    Indicator("directional indicators", "PLUS_DI, MINUS_DI", "14", ("plus_di", "minus_di"), "/100"),
    Indicator("Aroon", "AROON", "14", ("aroon_up", "aroon_down"), "/100"),
    Indicator("linear-regression slope", "LINEARREG_SLOPE", "20", ("lr_slope20",), "slope/close"),
    Indicator("RSI", "RSI", "14", ("rsi14",), "/100"),
    Indicator("stochastic", "STOCH", "14, 3 SMA, 3 SMA", ("stoch_k", "stoch_d"), "slow %K, %D /100"),
    Indicator("Williams %R", "WILLR", "14", ("willr14",), "/100, in [-1, 0]"),
    Indicator("rate of change", "ROC", "10", ("roc10",), "/100"),
    Indicator("commodity channel index", "CCI", "20", ("cci20",), "/100"),
    Indicator("money flow index", "MFI", "14", ("mfi14",), "/100"),
    Indicator("ultimate oscillator", "ULTOSC", "7, 14, 28", ("ultosc",), "/100"),
    Indicator("TRIX", "TRIX", "15", ("trix15",), "/100"),
    Indicator("average true range", "ATR", "14", ("atr14",), "ATR/close"),
    Indicator("normalized ATR", "NATR", "5", ("natr5",), "/100"),
    Indicator("Bollinger bands", "BBANDS", "20, 2, 2, SMA", ("bb_pctb", "bb_width"), "%B; (upper-lower)/middle"),
    Indicator("std of log returns", "ROCR, STDDEV", "1; 5", ("ret_std_5d",), "std of ret_1d"),
    Indicator("std of log returns", "ROCR, STDDEV", "1; 20", ("ret_std_20d",), "std of ret_1d"),
    Indicator("OBV change", "OBV, MOM, SUM", "10", ("obv_change10",), "OBV change / volume sum, in [-1, 1]"),
    Indicator("A/D oscillator", "ADOSC, EMA", "3, 10; 10", ("adosc",), "ADOSC / EMA10(volume)"),
    Indicator("volume z-score", "SMA, STDDEV", "20", ("volume_z20",), "z-score of log(1 + volume)"),
    Indicator("log return", "ROCR", "1", ("ret_1d",), "log(close/close[t-1])"),
    Indicator("log return", "ROCR", "5", ("ret_5d",), "log(close/close[t-5])"),
    Indicator("log return", "ROCR", "20", ("ret_20d",), "log(close/close[t-20])"),
    Indicator("high-low range", "(numpy)", "-", ("hl_range",), "(high - low)/close"),
    Indicator("overnight gap", "(numpy)", "-", ("gap",), "log(open/close[t-1])"),
    Indicator("close vs VWAP", "TYPPRICE (fallback)", "-", ("close_vwap",), "log(close/vwap)"),
    Indicator("candle body", "(numpy)", "-", ("body",), "log(close/open)"),
    Indicator("close location value", "(numpy)", "-", ("clv",), "((c - l) - (h - c))/(h - l)"),
)

#: The 40 feature columns, in the order of the files and of the window arrays' last axis.
FEATURE_COLUMNS: tuple[str, ...] = tuple(c for ind in INDICATORS for c in ind.columns)
#: Rows at the start of a clean series where some feature is still NaN: SMA(50) needs 50 closes (row 49 is
#: the first full one). ``test_indicators`` checks it against the first all-finite row of real-looking data.
WARMUP = 49
#: Rows per model input window.
WINDOW = 30
#: Bump when a column's definition changes without its name changing; part of :data:`FEATURE_VERSION`.
_REVISION = 2  # 2: targets under an execution (sources/execution.py) and the next_return column
#: Short hash of the feature definitions, stored with every feature file; a loader refuses a stale file.
FEATURE_VERSION = hashlib.sha256(
    json.dumps([_REVISION, WARMUP, [list(ind) for ind in INDICATORS]]).encode()
).hexdigest()[:12]

# A 20-sample population z-score cannot exceed sqrt(n - 1) in size; clipping there only removes round-off.
_Z20_MAX = float(np.sqrt(19.0))
_LOG_VOLUME_STD_EPS = 1e-6


def indicator_table() -> str:
    """The docstring's table (reStructuredText), rendered from :data:`INDICATORS`; a test keeps them equal."""
    header = ("#", "indicator", "TA-Lib function", "parameters", "output columns")
    rows = [
        (str(i), ind.name, ind.function, ind.params, f"{', '.join(ind.columns)}: {ind.definition}")
        for i, ind in enumerate(INDICATORS, 1)
    ]
    widths = [max(len(r[k]) for r in (header, *rows)) for k in range(len(header))]
    rule = "  ".join("=" * w for w in widths)
    lines = [rule, "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(), rule]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join([*lines, rule])


def min_candles(horizon: int = 1, window: int = WINDOW, execution: str | None = None) -> int:
    """Fewest candles that give one usable window: the warm-up, one window, and the target's span h + L."""
    return WARMUP + window + target_span(horizon, resolve_execution(execution))


def talib_outputs(o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray) -> dict:
    """Every TA-Lib call of the feature set on float64 arrays, unnormalized (the benchmark's floor)."""
    typ = talib.TYPPRICE(h, lo, c)
    ret1 = _log(talib.ROCR(c, 1))
    logv = np.log1p(v)
    # MFI's money flow counts only days whose typical price moved (TA-Lib's rule); used to spot "no flow".
    moved_flow = typ * v
    moved_flow[1:] *= typ[1:] != typ[:-1]
    return {
        "typ": typ,
        "ret1": ret1,
        "logv": logv,
        "sma10": talib.SMA(c, 10),
        "sma20": talib.SMA(c, 20),
        "sma50": talib.SMA(c, 50),
        "ema12": talib.EMA(c, 12),
        "ema26": talib.EMA(c, 26),
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
        "std5": talib.STDDEV(ret1, 5),
        "std20": talib.STDDEV(ret1, 20),
        "obv_mom": talib.MOM(talib.OBV(c, v), 10),
        "vol_sum10": talib.SUM(v, 10),
        "adosc": talib.ADOSC(h, lo, c, v, 3, 10),
        "vol_ema10": talib.EMA(v, 10),
        "logv_mean": talib.SMA(logv, 20),
        "logv_std": talib.STDDEV(logv, 20),
        "rocr5": talib.ROCR(c, 5),
        "rocr20": talib.ROCR(c, 20),
        "flow14": talib.SUM(moved_flow, 14),
        # Range of high/low over the windows of WILLR (14), slow %K (14+2), slow %D (14+4), ULTOSC (28+1).
        **{f"range{n}": talib.MAX(h, n) - talib.MIN(lo, n) for n in (14, 16, 18, 29)},
    }


def _div(num: np.ndarray, den: np.ndarray, neutral: float = 0.0) -> np.ndarray:
    """``num / den`` where ``den > 0``, else ``neutral``; NaN in either stays NaN (warm-up is not neutral)."""
    out = np.where(np.isnan(num) | np.isnan(den), np.nan, neutral)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _log(x: np.ndarray) -> np.ndarray:
    """``log(x)`` where ``x > 0``, else 0 (no move); NaN stays NaN."""
    out = np.where(np.isnan(x), np.nan, 0.0)
    np.log(x, out=out, where=x > 0)
    return out


def _mid_where(x: np.ndarray, mask: np.ndarray, mid: float) -> np.ndarray:
    """``x`` with its finite values replaced by ``mid`` where ``mask`` (a degenerate, information-free window)."""
    return np.where(mask & ~np.isnan(x), mid, x)


def _arrays(candles: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """open, high, low, close, volume, vwap as contiguous float64 arrays (what TA-Lib takes). A missing open
    (NaN) reads as 0, which the guards of ``gap`` and ``body`` turn into their neutral value 0 (no move)."""
    arrays = [np.ascontiguousarray(candles[k].to_numpy(dtype=np.float64)) for k in (*REQUIRED_COLUMNS, "vwap")]
    arrays[0] = np.where(np.isnan(arrays[0]), 0.0, arrays[0])
    return tuple(arrays)


# One shared (immutable) column index: building a string Index per call costs more than some indicators.
_FEATURE_INDEX = pd.Index(FEATURE_COLUMNS)


def _as_frame(block: np.ndarray) -> pd.DataFrame:
    """(40, T) float32 block → a (T, 40) DataFrame over the same memory (pandas stores columns as block rows)."""
    return pd.DataFrame(block.T, columns=_FEATURE_INDEX, copy=False)


def compute_features(candles: pd.DataFrame) -> pd.DataFrame:
    """The 40 feature columns (float32, :data:`FEATURE_COLUMNS` order), row-aligned with ``candles``.

    ``candles`` is in the raw_candles schema and valid (no NaN in OHLCV, positive prices); ``vwap`` may be NaN.
    Rows before :data:`WARMUP` hold NaN in some column.
    """
    return _as_frame(_feature_block(*_arrays(candles)))


def _feature_block(o, h, lo, c, v, vwap) -> np.ndarray:
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
        _div(c, r["sma10"], 1.0) - 1.0,
        _div(c, r["sma20"], 1.0) - 1.0,
        _div(c, r["sma50"], 1.0) - 1.0,
        _div(c, r["ema12"], 1.0) - 1.0,
        _div(c, r["ema26"], 1.0) - 1.0,
        _div(macd, c),
        _div(macd_signal, c),
        _div(macd_hist, c),
        r["adx"] / 100.0,
        r["plus_di"] / 100.0,
        r["minus_di"] / 100.0,
        aroon_up / 100.0,
        aroon_down / 100.0,
        _div(r["lr_slope"], c),
        _mid_where(r["rsi"], no_move_yet, 50.0) / 100.0,
        _mid_where(stoch_k, r["range16"] == 0, 50.0) / 100.0,
        _mid_where(stoch_d, r["range18"] == 0, 50.0) / 100.0,
        _mid_where(r["willr"], r["range14"] == 0, -50.0) / 100.0,
        r["roc"] / 100.0,
        r["cci"] / 100.0,
        _mid_where(r["mfi"], r["flow14"] < 1.0, 50.0) / 100.0,
        _mid_where(r["ultosc"], r["range29"] == 0, 50.0) / 100.0,
        r["trix"] / 100.0,
        _div(r["atr"], c),
        r["natr"] / 100.0,
        np.clip(_div(c - bb_lower, bb_upper - bb_lower, 0.5), 0.5 - _Z20_MAX / 4, 0.5 + _Z20_MAX / 4),
        _div(bb_upper - bb_lower, bb_middle),
        r["std5"],
        r["std20"],
        np.clip(_div(r["obv_mom"], r["vol_sum10"]), -1.0, 1.0),
        _div(r["adosc"], r["vol_ema10"]),
        np.clip(_div(r["logv"] - r["logv_mean"], logv_std), -_Z20_MAX, _Z20_MAX),
        r["ret1"],
        _log(r["rocr5"]),
        _log(r["rocr20"]),
        _div(h - lo, c),
        _log(_div(o, prev_close, 1.0)),
        _log(_div(c, vwap_ref, 1.0)),
        _log(_div(c, o, 1.0)),
        _div((c - lo) - (h - c), h - lo),
    )
    for j, col in enumerate(columns):
        out[j] = col
    return out


def compute_target(close: np.ndarray, horizon: int = 1) -> np.ndarray:
    """``log(close[t + horizon] / close[t])`` as float32; NaN on the last ``horizon`` rows (the ``close``
    execution's target; :func:`build_feature_frame` takes every execution's from ``sources/execution.py``)."""
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    close = np.asarray(close, dtype=np.float64)
    target = np.full(len(close), np.nan)
    if len(close) > horizon:
        target[:-horizon] = _log(_div(close[horizon:], close[:-horizon], 1.0))
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
    arrays = _arrays(candles)
    bad = ~np.isfinite(np.stack(arrays[:5])).all(axis=0)
    if bad.any():
        raise FeatureError(f"{ticker}: {int(bad.sum())} candle(s) with NaN/inf in high/low/close/volume or inf open")
    block = _feature_block(*arrays)  # (40, T)
    ok = window_ok_mask(block.T, returns.target, window) & np.isfinite(returns.next_return)
    frame = _as_frame(block)  # add the other columns around the feature block without copying it
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
