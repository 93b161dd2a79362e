"""Transaction costs of the books: a half-spread estimated from daily highs and lows, plus square-root impact.

Cost model ``spread_impact`` (the default). Trading the weight change |ΔW_{t,i}| of ticker i on decision day t
(ΔW as in :mod:`fin_pipeline.backtest.strategy`: the change of the held weight, W_{−1} = 0) moves the notional
|ΔW_{t,i}| · C, C the capital, and costs a fraction of that notional equal to the half-spread plus the impact:

    cost_t = Σ_i |ΔW_{t,i}| · ( s_{t,i} + k · σ_{t,i} · √(|ΔW_{t,i}| · C / ADV_{t,i}) )      (fraction of capital)
           = A_t + √C · B_t,   A_t = Σ_i |ΔW_{t,i}| s_{t,i},   B_t = k Σ_i σ_{t,i} |ΔW_{t,i}|^{3/2} / √ADV_{t,i}

so the spread part A does not depend on the capital and the impact part grows as √C (capital → 0: spread alone).

* s, the half-spread: max(ŝ, floor), ŝ the Corwin & Schultz estimate of
  :func:`fin_pipeline.features.cost_inputs.cost_inputs` (formula there); ``spread_floor_bps`` is a floor (bps of
  traded notional) for the noisy estimate.
* Impact, the square-root law (Tóth, Lempérière, Deremble, de Lataillade, Kockelkoren & Bouchaud 2011,
  "Anomalous price impact and the critical nature of liquidity in financial markets", Phys. Rev. X 1, 021006;
  Bouchaud, Bonart, Donier & Gould 2018, "Trades, Quotes and Prices", ch. 12): the price moves k · σ · √(Q/V)
  for a metaorder of Q dollars in a day that trades V, with k (their Y) "of order unity" in every market they
  measured: default k = 1. σ is the daily volatility and V the average daily dollar volume, each over a
  trailing window (:mod:`fin_pipeline.features.cost_inputs`).

The inputs s, σ and ADV of row t come from the candles of rows ≤ t only (no look-ahead: see
:mod:`fin_pipeline.features.cost_inputs`), so the cost of a trade decided at the close of day t uses what is
known then.

``flat`` (the former convention): cost_t = Σ_i |ΔW_{t,i}| · cost_bps / 1e4, whatever the size or the ticker.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from fin_pipeline.core.costs import CostModel
from fin_pipeline.features.cost_inputs import COST_INPUTS


def trades(held: pd.DataFrame) -> pd.DataFrame:
    """ΔW_t = W_t − W_{t−1} per ticker, days × tickers, with W_{−1} = 0 (the entry is traded and paid)."""
    out = held.diff()
    out.iloc[0] = held.iloc[0]
    return out


def components(costs: CostModel, held: pd.DataFrame, inputs: pd.DataFrame | None = None) -> tuple[pd.Series, pd.Series]:
    """(A_t, B_t) of the module docstring per day, for the model ``costs``: cost_t = A_t + √capital · B_t.

    ``held``: the held weights W, days × tickers (0 where a ticker holds nothing or has no row). ``inputs``:
    one row per (date, ticker) with :data:`COST_INPUTS` (``spread_impact`` only). A trade on a day the ticker
    has no row (its position is closed) uses the ticker's latest earlier inputs. ``ValueError`` naming the
    ticker and date for a trade without finite inputs or with ADV ≤ 0.
    """
    size = trades(held).abs()
    if not costs.needs_inputs:
        return size.sum(axis=1) * costs.cost_bps / 1e4, pd.Series(0.0, index=held.index)
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
    s = np.maximum(np.where(traded, half, 0.0), costs.spread_floor_bps / 1e4)
    spread = (dw * s).sum(axis=1)  # dw = 0 where nothing is traded
    root = np.sqrt(dw**3 / np.where(traded, adv, 1.0))  # |ΔW|^{3/2} / √ADV
    impact = costs.impact_k * (np.where(traded, sigma, 0.0) * root).sum(axis=1)
    return pd.Series(spread, index=held.index), pd.Series(impact, index=held.index)


def daily_cost(costs: CostModel, held: pd.DataFrame, inputs: pd.DataFrame | None = None) -> pd.Series:
    """cost_t = A_t + √capital · B_t, a fraction of the capital, per day (see :func:`components`)."""
    spread, impact = components(costs, held, inputs)
    return spread + math.sqrt(costs.capital) * impact


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
