"""A source seen through a candidate pool's listings: each ticker's bars only inside its listed ranges.

The synthetic market simulates every ticker from its origin; with a point-in-time universe
(``FIN_PIPELINE_UNIVERSE_RULE``) its pool gains listings and delistings (:mod:`fin_pipeline.core.listings` states
the rates), and :class:`ListedSource` shows only the bars of the days a stock was listed: a late listing's history
starts on its listing day, a delisted stock's stops on its last day traded. The bars it keeps are the wrapped
source's, bit for bit. A membership CSV clips any source (CSV files, Polygon) the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pandas as pd

from fin_pipeline.core.listings import Listing
from fin_pipeline.core.settings import Settings
from fin_pipeline.sources.base import CandleSource, session_dates


class ListedSource(CandleSource):
    """``source``'s bars of each ticker on the days one of its ``listings`` covers; unlisted tickers untouched."""

    def __init__(self, source: CandleSource, listings: Iterable[Listing]) -> None:
        self.source = source
        self.name = source.name
        self.ranges: dict[str, list[Listing]] = {}
        for listing in listings:
            self.ranges.setdefault(listing.ticker, []).append(listing)

    def describe(self) -> str:
        return f"{self.source.describe()}; listed ranges of {len(self.ranges)} ticker(s)"

    def fetch(self, ticker: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        ranges = self.ranges.get(ticker.upper())
        if not ranges:
            return self.source.fetch(ticker, start, end)
        lo = min((x.first or start) for x in ranges)
        hi = max((x.last or end) for x in ranges)
        start, end = max(start, lo), min(end, hi)
        bars = self.source.fetch(ticker, start, end) if start <= end else self.source.fetch(ticker, end, end)[:0]
        days = session_dates(bars["timestamp"])
        keep = pd.Series(False, index=bars.index)
        for x in ranges:
            keep |= (days >= (x.first or dt.date.min)) & (days <= (x.last or dt.date.max))
        return bars[keep.to_numpy()].reset_index(drop=True)


def listed_source(source: CandleSource, settings: Settings) -> CandleSource:
    """``source`` clipped to the settings' listings (a point-in-time pool), or ``source`` itself (none)."""
    return ListedSource(source, settings.listings) if settings.listings else source
