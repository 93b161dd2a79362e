"""The windows a fold and the live model read under a rule: their universe's only, the arrays shared."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from fin_pipeline.core.listings import Listing
from fin_pipeline.core.universe_rule import UniverseRule
from fin_pipeline.defs.assets.universe import Universe
from fin_pipeline.features.assemble import build_windows
from fin_pipeline.features.frame import build_feature_frame
from fin_pipeline.features.universe import activity_panel
from fin_pipeline.sources.listings import ListedSource
from fin_pipeline.sources.synthetic import SyntheticMarket
from fin_pipeline.training.fold_boundaries import FoldBoundaries

START, END = dt.date(2019, 1, 2), dt.date(2020, 6, 30)
TICKERS = ("AAA", "BBB", "CCC", "DDD")


@pytest.fixture(scope="module")
def universe():
    source = ListedSource(SyntheticMarket(seed=3, as_of=END), [Listing("CCC", None, dt.date(2020, 3, 13))])
    candles = {t: source.fetch(t, START, END) for t in TICKERS}
    windows = build_windows({t: build_feature_frame(c, t) for t, c in candles.items()})
    return candles, Universe(windows, [], 1, rule=UniverseRule(2), panel=activity_panel(candles, "dollar_volume"))


def by_hand(candles, as_of: dt.date, n: int) -> list[str]:
    """The top n by the median close x volume of the 63 sessions before as_of, for stocks trading on both ends."""
    days = sorted({d for c in candles.values() for d in c["timestamp"].dt.tz_convert("America/New_York").dt.date})
    lookback = [d for d in days if d < as_of][-63:]
    medians = {}
    for ticker, c in candles.items():
        own = c.assign(day=c["timestamp"].dt.tz_convert("America/New_York").dt.date).set_index("day")
        if lookback[0] in own.index and lookback[-1] in own.index:
            inside = own.loc[[d for d in lookback if d in own.index]]
            medians[ticker] = float(np.median(inside["close"] * inside["volume"]))
    return sorted(medians, key=lambda t: -medians[t])[:n]


def test_fold_and_live_windows_are_their_universes(universe):
    candles, u = universe
    fold = FoldBoundaries(
        "2020-01-01", 0, START, START, START, START, dt.date(2020, 1, 2), dt.date(2020, 3, 31), 1, 2, 0, 2, 1, 1, 1
    )
    ws = u.fold_windows(fold)
    assert sorted(ws.spans) == sorted(by_hand(candles, dt.date(2020, 1, 2), 2))
    assert set(ws.index["ticker"]) == set(ws.spans) and ws.values is u.windows.values  # zero-copy
    full = u.windows.index.set_index(["ticker", "date"])["window"]
    mine = ws.index.set_index(["ticker", "date"])["window"]
    assert (full.loc[mine.index].to_numpy() == mine.to_numpy()).all()  # the same positions, a subset
    live = u.live_windows()  # CCC was delisted in March: today's universe cannot hold it
    assert sorted(live.spans) == sorted(by_hand(candles, dt.date(2020, 7, 1), 2)) and "CCC" not in live.spans
    record = u.membership(fold, None)
    assert record["rule"] == "top:2:dollar_volume" and record["tickers"] == sorted(ws.spans)
    hand_picked = Universe(u.windows, [], 1)
    assert hand_picked.fold_windows(fold) is u.windows and hand_picked.live_windows() is u.windows
    assert hand_picked.membership(fold, None)["rule"] == "hand-picked"
