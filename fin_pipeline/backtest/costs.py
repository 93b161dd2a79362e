"""Transaction costs of the books: a half-spread estimated from daily highs and lows, plus square-root impact.

Cost model ``spread_impact`` (the default). Trading the weight change |ΔW_{t,i}| of ticker i on decision day t
(ΔW as in :mod:`fin_pipeline.backtest.strategy`: the change of the held weight, W_{−1} = 0) moves the notional
|ΔW_{t,i}| · C, C the capital, and costs a fraction of that notional equal to the half-spread plus the impact:

    cost_t = Σ_i |ΔW_{t,i}| · ( s_{t,i} + k · σ_{t,i} · √(|ΔW_{t,i}| · C / ADV_{t,i}) )      (fraction of capital)
           = A_t + √C · B_t,   A_t = Σ_i |ΔW_{t,i}| s_{t,i},   B_t = k Σ_i σ_{t,i} |ΔW_{t,i}|^{3/2} / √ADV_{t,i}

so the spread part A does not depend on the capital and the impact part grows as √C (capital → 0: spread alone).

* s, the half-spread: max(ŝ, floor), ŝ = half the trailing mean over :data:`SPREAD_WINDOW` days of the daily
  Corwin & Schultz (2012, "A simple way to estimate bid-ask spreads from daily high and low prices", J. Finance
  67(2)) two-day estimates S. For the pair of days (t−1, t), with H, L the highs and lows:

      β = ln(H_{t−1}/L_{t−1})² + ln(H_t/L_t)²,   γ = ln(max(H_{t−1}, H_t) / min(L_{t−1}, L_t))²
      α = (√(2β) − √β) / (3 − 2√2) − √(γ / (3 − 2√2)),   S = 2(e^α − 1) / (1 + e^α)

  Before that, the overnight adjustment of the paper: when L_t > C_{t−1} (the close) both H_t and L_t are moved
  down by L_t − C_{t−1}; when H_t < C_{t−1} both are moved up by C_{t−1} − H_t. A negative two-day S is set to 0
  before averaging, as the paper does. S is the full spread relative to the mid price; crossing it from the mid
  costs half, ŝ = mean(S)/2. ``spread_floor_bps`` is a floor (bps of traded notional) for the noisy estimate.
* Impact, the square-root law (Tóth, Lempérière, Deremble, de Lataillade, Kockelkoren & Bouchaud 2011,
  "Anomalous price impact and the critical nature of liquidity in financial markets", Phys. Rev. X 1, 021006;
  Bouchaud, Bonart, Donier & Gould 2018, "Trades, Quotes and Prices", ch. 12): the price moves k · σ · √(Q/V)
  for a metaorder of Q dollars in a day that trades V, with k (their Y) "of order unity" in every market they
  measured: default k = 1. σ is the standard deviation (ddof 1) of the daily log close-to-close returns over
  :data:`VOL_WINDOW` days, V the average daily dollar volume (close × volume) over :data:`ADV_WINDOW` days.

No look-ahead: :func:`cost_inputs` gives row t values computed from the candles of rows ≤ t only (rolling windows
ending at t), so the cost of a trade decided at the close of day t uses what is known then; a day's high, low or
volume after t never changes them. They are NaN until a full window exists.

``flat`` (the former convention): cost_t = Σ_i |ΔW_{t,i}| · cost_bps / 1e4, whatever the size or the ticker.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

COST_MODELS = ("spread_impact", "flat")
COST_INPUTS = ("half_spread", "sigma", "adv")  # per ticker-day, as of the decision day's close
SPREAD_WINDOW = 21  # trading days (a month: the paper averages its two-day estimates over each month)
VOL_WINDOW = 20  # trading days of daily log returns for σ
ADV_WINDOW = 20  # trading days of dollar volume for ADV


def _field(default, description: str):
    return dataclasses.field(default=default, metadata={"description": description})


@dataclasses.dataclass(frozen=True)
class CostModel:
    """How a book's trades are charged (the module docstring states the formulas). Validated on creation."""

    cost_model: str = _field(
        "spread_impact",
        "spread_impact: half-spread from daily high/low (Corwin–Schultz) + k·σ·√(traded/ADV); flat: cost_bps.",
    )
    capital: float = _field(10_000_000.0, "Dollars the books trade: traded notional = |weight change| × capital.")
    spread_floor_bps: float = _field(1.0, "Floor of the estimated half-spread, bps of traded notional.")
    impact_k: float = _field(1.0, "k of the square-root impact k·σ·√(traded/ADV) (Tóth et al. 2011: order 1).")
    cost_bps: float = _field(5.0, "flat only: bps of traded notional, each way.")

    def __post_init__(self) -> None:
        if self.cost_model not in COST_MODELS:
            raise ValueError(f"cost_model (FIN_PIPELINE_COST_MODEL) {self.cost_model!r} is not one of {COST_MODELS}")
        checks = (
            ("capital", "FIN_PIPELINE_CAPITAL", self.capital, "> 0 dollars", lambda v: v > 0),
            ("spread_floor_bps", "FIN_PIPELINE_SPREAD_FLOOR_BPS", self.spread_floor_bps, ">= 0", lambda v: v >= 0),
            ("impact_k", "FIN_PIPELINE_IMPACT_K", self.impact_k, ">= 0", lambda v: v >= 0),
            ("cost_bps", "FIN_PIPELINE_COST_BPS", self.cost_bps, ">= 0", lambda v: v >= 0),
        )
        for name, env, value, rule, ok in checks:
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not (number and math.isfinite(value) and ok(value)):
                raise ValueError(f"{name} ({env}) must be a finite number {rule}, got {value!r}")

    @property
    def needs_inputs(self) -> bool:
        """Whether the predictions must carry :data:`COST_INPUTS` (``flat`` needs none)."""
        return self.cost_model != "flat"

    def with_capital(self, capital: float) -> CostModel:
        return dataclasses.replace(self, capital=capital)

    def describe(self) -> str:
        """The model in words, as the report states it."""
        if self.cost_model == "flat":
            return f"flat {self.cost_bps:g} bps of traded notional"
        return (
            f"half-spread (Corwin–Schultz from daily high/low, floor {self.spread_floor_bps:g} bps) + impact "
            f"{self.impact_k:g}·σ·√(traded/ADV), at capital {money(self.capital)}"
        )

    def components(self, held: pd.DataFrame, inputs: pd.DataFrame | None = None) -> tuple[pd.Series, pd.Series]:
        """(A_t, B_t) of the module docstring per day: cost_t = A_t + √capital · B_t.

        ``held``: the held weights W, days × tickers (0 where a ticker holds nothing or has no row). ``inputs``:
        one row per (date, ticker) with :data:`COST_INPUTS` (``spread_impact`` only). A trade on a day the ticker
        has no row (its position is closed) uses the ticker's latest earlier inputs. ``ValueError`` naming the
        ticker and date for a trade without finite inputs or with ADV ≤ 0.
        """
        trades = held.diff()
        trades.iloc[0] = held.iloc[0]  # W_{-1} = 0: the entry is paid
        size = trades.abs()
        if not self.needs_inputs:
            return size.sum(axis=1) * self.cost_bps / 1e4, pd.Series(0.0, index=held.index)
        missing = [c for c in COST_INPUTS if inputs is None or c not in inputs.columns]
        if missing:
            raise ValueError(
                f"cost_model 'spread_impact' needs the cost input column(s) {missing} beside the predictions "
                "(rematerialize feature_windows, which computes them, or set cost_model=flat)"
            )
        frame = inputs.assign(_row=1.0)
        wide = {
            c: frame.pivot(index="date", columns="ticker", values=c).reindex(index=held.index, columns=held.columns)
            for c in (*COST_INPUTS, "_row")
        }
        has_row = wide.pop("_row").notna()
        wide = {c: v.where(has_row, v.ffill()) for c, v in wide.items()}  # earlier days fill a day without a row
        traded = size.to_numpy() > 0
        half, sigma, adv = (wide[c].to_numpy(np.float64) for c in COST_INPUTS)
        bad = traded & ~(np.isfinite(half) & np.isfinite(sigma) & np.isfinite(adv) & (adv > 0))
        if bad.any():
            t, i = np.argwhere(bad)[0]
            values = ", ".join(f"{c} {wide[c].iat[t, i]:.4g}" for c in COST_INPUTS)
            raise ValueError(
                f"no usable cost inputs for {held.columns[i]} on {pd.Timestamp(held.index[t]):%Y-%m-%d} ({values}; "
                f"{int(bad.sum())} traded ticker-day(s) so): a trade needs a finite half-spread and σ and an ADV > 0 "
                "(NaN: feature files or predictions from before the cost inputs existed, rematerialize "
                "feature_windows and re-score; ADV 0: no volume traded in its window)"
            )
        dw = size.to_numpy()
        s = np.maximum(np.where(traded, half, 0.0), self.spread_floor_bps / 1e4)
        spread = (dw * s).sum(axis=1)  # dw = 0 where nothing is traded
        root = np.sqrt(dw**3 / np.where(traded, adv, 1.0))  # |ΔW|^{3/2} / √ADV
        impact = self.impact_k * (np.where(traded, sigma, 0.0) * root).sum(axis=1)
        return pd.Series(spread, index=held.index), pd.Series(impact, index=held.index)

    def daily_cost(self, held: pd.DataFrame, inputs: pd.DataFrame | None = None) -> pd.Series:
        """cost_t = A_t + √capital · B_t, a fraction of the capital, per day (see :meth:`components`)."""
        spread, impact = self.components(held, inputs)
        return spread + math.sqrt(self.capital) * impact


def resolve(costs: CostModel | None, cost_bps: float | None) -> CostModel:
    """The cost model of a backtest call: ``costs``, or ``flat`` at ``cost_bps`` (the former argument), or, with
    neither, ``flat`` at the default bps (the pipeline always passes its configured model)."""
    if costs is not None and cost_bps is not None:
        raise ValueError("give costs (a CostModel) or cost_bps (a flat cost), not both")
    if costs is not None:
        return costs
    if cost_bps is None:
        return CostModel(cost_model="flat")
    if not cost_bps >= 0:  # NaN too; the former message
        raise ValueError(f"cost_bps must be non-negative, got {cost_bps}")
    return CostModel(cost_model="flat", cost_bps=float(cost_bps))


def money(dollars: float) -> str:
    """$1M, $10M, $2.5B, $300k."""
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(dollars) >= size:
            return f"${dollars / size:.3g}{unit}"
    return f"${dollars:.3g}"


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
