"""The day's new book w per (date, ticker) from one predictor's column: the sign, scaled and market-neutral rules.

Each day t a new book w_t is formed from the predictions made at close t, per ticker of that day:
``sign``: s = sign(p); ``scaled``: s = clip(p / mean_{j: p_j ≠ 0} |p_j|, −cap, cap); both then w = s / N_t with
N_t the number of tickers that day: equal risk across the universe, Σ|w| ≤ 1 (= 1 in ``sign`` mode when every
prediction is nonzero; in ``scaled`` mode the signals' mean magnitude is 1 before the cap, so Σ|w| ≤ 1 for any
cap, while cap > 1 lets one strong prediction take up to cap/N). ``long_only`` sets the short signals to 0 (it
does not re-lever the longs). A zero or NaN prediction → 0.
``neutral`` (market-neutral, stock selection only): w_i = (ρ_i − ρ̄) / Σ_j |ρ_j − ρ̄| with ρ the rank of p among
the day's tickers with a finite prediction (ties get their average rank) and ρ̄ their mean rank, so Σw = 0 and
Σ|w| = 1; a NaN prediction → 0 and takes no rank; a day with fewer than two ranked tickers or all predictions
equal holds nothing. ``cap`` does not apply, and ``long_only`` is refused (a long-only book is not neutral).
The sign book mixes market timing (the book's net Σw) with selection; the neutral book shows selection alone,
which is what the IC measures.

How the books are then held, traded and charged is :mod:`fin_pipeline.backtest.strategy`'s.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MODES = ("sign", "scaled", "neutral")
DIRECTIONAL_MODES = ("sign", "scaled")


def positions_from_predictions(
    pred: pd.DataFrame, column: str = "model", mode: str = "sign", long_only: bool = False, cap: float = 1.0
) -> pd.DataFrame:
    """The day's new book w per (date, ticker) from ``pred[column]``: columns date, ticker, weight (sorted).

    ``sign``/``scaled``: w_{t,i} = s_{t,i} / N_t with N_t the number of tickers on day t and s the signal:
    ``sign`` → sign(p); ``scaled`` → clip(p / mean_{j: p_j ≠ 0} |p_j|, −cap, cap); ``long_only`` → s = max(s, 0);
    NaN p → 0. ``neutral``: w_{t,i} = (ρ_i − ρ̄) / Σ_j |ρ_j − ρ̄| over the day's finite predictions (average ranks
    for ties); NaN p → 0; nothing on a day with one ranked ticker or all predictions equal.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not cap > 0:
        raise ValueError(f"cap must be positive, got {cap}")
    if mode == "neutral" and long_only:
        raise ValueError("long_only does not apply to the neutral book: a long-only book is not market-neutral")
    df = pred[["date", "ticker"]].copy()
    p = pred[column].to_numpy(np.float64)
    finite = np.isfinite(p)
    p = np.where(finite, p, 0.0)
    day = df["date"].to_numpy()
    if mode == "neutral":
        rank = pd.Series(np.where(finite, p, np.nan)).groupby(day).rank(method="average")  # NaN keeps no rank
        dev = (rank - rank.groupby(day).transform("mean")).fillna(0.0)
        total = dev.abs().groupby(day).transform("sum").to_numpy()  # 0: one ranked ticker, or all equal
        dev = dev.to_numpy()
        df["weight"] = np.divide(dev, total, out=np.zeros_like(dev), where=total > 0) + 0.0
        return df.sort_values(["date", "ticker"], ignore_index=True)
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
