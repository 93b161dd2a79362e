"""The feature set: 34 technical indicators (TA-Lib) → 40 scale-free float32 feature columns, and its version.

Every column is scale-free (a ratio to the close or to traded volume, a return, or a bounded oscillator
rescaled to a fraction), so one normalization serves every ticker. Row ``t`` of every column uses the
candles of rows ``<= t`` only (``lookahead_violations`` checks it; the asset runs that check).

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

The columns are computed, with a neutral value for each degenerate input, in :mod:`fin_pipeline.features.columns`.
The target, ``next_return`` and ``window_ok`` of each row are added by :mod:`fin_pipeline.features.frame`.
"""

from __future__ import annotations

import hashlib
import json
from typing import NamedTuple


class Indicator(NamedTuple):
    """One row of the module docstring's table."""

    name: str
    function: str  # the TA-Lib function(s) it calls; "(numpy)" when plain arithmetic on the bars does it
    params: str
    columns: tuple[str, ...]
    definition: str  # how the column(s) are made scale-free


# The periods of the indicator families that come in several lengths (one row, one column each).
SMA_PERIODS = (10, 20, 50)
EMA_PERIODS = (12, 26)
STD_DAYS = (5, 20)
RETURN_DAYS = (1, 5, 20)

INDICATORS: tuple[Indicator, ...] = (
    *(Indicator("SMA ratio", "SMA", str(n), (f"close_sma{n}",), "close/SMA - 1") for n in SMA_PERIODS),
    *(Indicator("EMA ratio", "EMA", str(n), (f"close_ema{n}",), "close/EMA - 1") for n in EMA_PERIODS),
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
    *(
        Indicator("std of log returns", "ROCR, STDDEV", f"1; {n}", (f"ret_std_{n}d",), "std of ret_1d")
        for n in STD_DAYS
    ),
    Indicator("OBV change", "OBV, MOM, SUM", "10", ("obv_change10",), "OBV change / volume sum, in [-1, 1]"),
    Indicator("A/D oscillator", "ADOSC, EMA", "3, 10; 10", ("adosc",), "ADOSC / EMA10(volume)"),
    Indicator("volume z-score", "SMA, STDDEV", "20", ("volume_z20",), "z-score of log(1 + volume)"),
    *(Indicator("log return", "ROCR", str(n), (f"ret_{n}d",), f"log(close/close[t-{n}])") for n in RETURN_DAYS),
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
