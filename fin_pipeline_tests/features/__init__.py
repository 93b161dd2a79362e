"""Tests of the feature library; ``synthetic_candles`` is the shared input."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from fin_pipeline.sources.synthetic import SyntheticMarket


def synthetic_candles(rows: int = 400, ticker: str = "AAPL", seed: int = 7, end=dt.date(2020, 12, 31)) -> pd.DataFrame:
    """The last ``rows`` sessions up to ``end`` of a simulated ticker, in the raw_candles schema."""
    start = end - dt.timedelta(days=int(rows * 1.5) + 30)
    candles = SyntheticMarket(seed=seed).fetch(ticker, start, end)
    assert len(candles) >= rows
    return candles.iloc[-rows:].reset_index(drop=True)
