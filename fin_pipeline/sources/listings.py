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

import numpy as np
import pandas as pd

from fin_pipeline.core.listings import Listing
from fin_pipeline.core.settings import Settings
from fin_pipeline.sources.base import NEW_YORK, CandleSource, empty_candles


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
        if start > end:  # listed only outside the range asked for
            return empty_candles()
        bars = self.source.fetch(ticker, start, end)
        # each bar's New York session day, vectorised (sources.base.session_dates gives them as date objects)
        stamps = pd.DatetimeIndex(bars["timestamp"]).tz_convert(NEW_YORK).tz_localize(None)
        days = stamps.normalize().to_numpy().astype("datetime64[D]")
        keep = np.zeros(len(bars), dtype=bool)
        for x in ranges:
            keep |= (days >= np.datetime64(x.first or dt.date.min)) & (days <= np.datetime64(x.last or dt.date.max))
        if keep.all():
            return bars
        return bars[keep].reset_index(drop=True)


def listed_source(source: CandleSource, settings: Settings) -> CandleSource:
    """``source`` clipped to the settings' listings (a point-in-time pool), or ``source`` itself (none)."""
    return ListedSource(source, settings.listings) if settings.listings else source
