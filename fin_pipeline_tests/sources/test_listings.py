"""A source seen through listed ranges: the bars it keeps are the source's, bit for bit; the others are gone."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from fin_pipeline.core.listings import Listing
from fin_pipeline.core.settings import Settings
from fin_pipeline.sources.base import session_dates
from fin_pipeline.sources.listings import ListedSource, listed_source
from fin_pipeline.sources.synthetic import SyntheticMarket

START, END = dt.date(2015, 1, 2), dt.date(2016, 12, 30)


def test_bars_clipped_to_listed_ranges_and_otherwise_identical():
    market = SyntheticMarket(seed=7, as_of=END)
    listings = [
        Listing("LATE", dt.date(2015, 6, 15), None),
        Listing("GONE", None, dt.date(2016, 3, 10)),
        Listing("BACK", None, dt.date(2015, 3, 31)),
        Listing("BACK", dt.date(2016, 1, 4), None),
    ]
    source = ListedSource(market, listings)
    for ticker in ("LATE", "GONE", "BACK", "FREE"):
        full = market.fetch(ticker, START, END)
        days = session_dates(full["timestamp"])
        covered = [x for x in listings if x.ticker == ticker]
        keep = [any(x.covers(d) for x in covered) for d in days] if covered else [True] * len(days)
        expected = full[keep].reset_index(drop=True)
        pd.testing.assert_frame_equal(source.fetch(ticker, START, END), expected, check_exact=True)
    assert session_dates(source.fetch("LATE", START, END)["timestamp"]).iloc[0] == dt.date(2015, 6, 15)
    assert session_dates(source.fetch("GONE", START, END)["timestamp"]).iloc[-1] == dt.date(2016, 3, 10)
    assert source.fetch("GONE", dt.date(2016, 6, 1), END).empty  # after its delisting: no bar at all


def test_no_rule_no_wrapper():
    """Without a rule the source is the market itself: the default market's bars are untouched."""
    market = SyntheticMarket(seed=7, as_of=END)
    assert listed_source(market, Settings(end=END, first_test_date=dt.date(2016, 1, 1))) is market
