"""Point-in-time membership: the ranking by hand, no look-ahead, delisted stocks held until delisted and then gone."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from fin_pipeline.core.calendar import session_timestamps
from fin_pipeline.core.listings import Listing, pool_names, synthetic_listings
from fin_pipeline.core.universe_rule import UniverseRule
from fin_pipeline.features.universe import activity_panel, churn_table, members_as_of, membership
from fin_pipeline.sources.listings import ListedSource
from fin_pipeline.sources.synthetic import SyntheticMarket

START, END = dt.date(2010, 1, 4), dt.date(2016, 12, 30)
QUARTERS = [dt.date(y, m, 1) for y in range(2011, 2017) for m in (1, 4, 7, 10)]


def candles(days, close, volume):
    return pd.DataFrame({"timestamp": session_timestamps(days), "close": close, "volume": volume})


def test_median_dollar_volume_ranking_by_hand():
    """Five sessions, lookback 3, top 2: the medians of close x volume computed here with pandas directly."""
    days = pd.bdate_range("2024-01-01", periods=5)
    frames = {
        "AAA": candles(days, [10, 10, 10, 10, 10], [100, 100, 900, 100, 5000]),  # the spike on day 5 comes too late
        "BBB": candles(days, [5, 6, 7, 8, 9], [150, 150, 150, 150, 150]),
        "CCC": candles(days[:4], [1, 1, 1, 1], [10_000, 10_000, 300, 10_000]),  # its last bar: the day before D
        "DDD": candles(days[2:], [20, 20, 20], [1_000, 1_000, 1_000]),  # listed inside the lookback
        "EEE": candles(days[:3], [50, 50, 50], [1_000, 1_000, 1_000]),  # delisted before D
    }
    rule = UniverseRule(2, "dollar_volume", lookback=3)
    as_of = days[4].date()  # D: the lookback is days 2, 3, 4
    panel = activity_panel(frames, "dollar_volume")
    lookback = days[1:4]
    medians = {}
    for ticker, frame in frames.items():
        f = frame.assign(day=days[: len(frame)] if ticker != "DDD" else days[2:]).set_index("day")
        if lookback[0] in f.index and lookback[-1] in f.index:  # traded on the lookback's first and last day
            medians[ticker] = (f.loc[lookback, "close"] * f.loc[lookback, "volume"]).median()
    assert medians == {"AAA": 1000.0, "BBB": 1050.0, "CCC": 10_000.0}  # DDD and EEE not eligible
    expected = sorted(medians, key=lambda t: -medians[t])[:2]
    assert members_as_of(panel, as_of, rule) == expected == ["CCC", "BBB"]
    volume = members_as_of(activity_panel(frames, "volume"), as_of, UniverseRule(3, "volume", lookback=3))
    assert volume == ["CCC", "BBB", "AAA"]  # shares: 10000, 150, 100


@pytest.fixture(scope="module")
def pool():
    """30 synthetic candidates with drawn listings; the busiest of them (by dollar volume in 2010) is delisted on
    2013-05-15 instead of its drawn day, so that a stock the rule certainly holds leaves mid-history."""
    listings = synthetic_listings(7, pool_names(30), START)
    market = SyntheticMarket(seed=7, as_of=END)
    raw = {x.ticker: market.fetch(x.ticker, START, END) for x in listings}
    busiest = max(raw, key=lambda t: (raw[t]["close"] * raw[t]["volume"]).iloc[:250].median())
    listings = [
        Listing(x.ticker, None, dt.date(2013, 5, 15)) if x.ticker == busiest else dataclasses.replace(x)
        for x in listings
    ]
    source = ListedSource(market, listings)
    frames = {x.ticker: source.fetch(x.ticker, START, END) for x in listings}
    frames = {t: f for t, f in frames.items() if len(f)}
    return listings, frames, busiest


def test_delisted_stock_held_until_its_delisting_then_gone(pool):
    listings, frames, busiest = pool
    rule = UniverseRule(10)
    panel = activity_panel(frames, "dollar_volume")
    members = {day: members_as_of(panel, day, rule) for day in QUARTERS}
    assert all(len(m) == 10 for m in members.values())
    delisted = dt.date(2013, 5, 15)
    assert [d for d in QUARTERS if busiest in members[d]] == [d for d in QUARTERS if d <= delisted]
    # every stock delisted in the history is in no universe ranked after its delisting day
    for x in listings:
        if x.last is not None and x.last < END:
            assert not [d for d in QUARTERS if d > x.last and x.ticker in members[d]], x
    # and every member traded on the last session before its fold's test start
    for day, names in members.items():
        assert panel.loc[panel.index < pd.Timestamp(day), names].iloc[-1].notna().all()
    churn = [
        {"fold": str(day), **membership(panel, day, rule, QUARTERS[i - 1] if i else None)}
        for i, day in enumerate(QUARTERS)
    ]
    table = churn_table(churn)
    assert table["tickers"].tolist() == [10] * len(QUARTERS)
    quarter_out = next(i for i, d in enumerate(QUARTERS) if d > delisted)
    assert busiest in churn[quarter_out]["left"]
    for i in range(1, len(QUARTERS)):
        before, now = set(members[QUARTERS[i - 1]]), set(members[QUARTERS[i]])
        assert set(churn[i]["entered"]) == now - before and set(churn[i]["left"]) == before - now


def test_universe_never_depends_on_data_from_its_test_start_on(pool):
    _, frames, _ = pool
    rule = UniverseRule(10)
    panel = activity_panel(frames, "dollar_volume")
    for day in QUARTERS[::3]:
        cut = {t: f[f["timestamp"] < pd.Timestamp(day, tz="America/New_York")] for t, f in frames.items()}
        cut = {t: f for t, f in cut.items() if len(f)}
        assert members_as_of(activity_panel(cut, "dollar_volume"), day, rule) == members_as_of(panel, day, rule)
        # a future that changes completely (every later volume scaled by 1000 for some, 0 for others) changes nothing
        rng = np.random.default_rng(day.toordinal())
        future = {
            t: f.assign(
                volume=np.where(
                    f["timestamp"] >= pd.Timestamp(day, tz="America/New_York"),
                    f["volume"] * rng.choice([0.0, 1000.0]),
                    f["volume"],
                )
            )
            for t, f in frames.items()
        }
        assert members_as_of(activity_panel(future, "dollar_volume"), day, rule) == members_as_of(panel, day, rule)
