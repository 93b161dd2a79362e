"""The candidate pool of a point-in-time universe: tickers with the dates they were listed, from a membership CSV
or drawn for the synthetic market.

A :class:`Listing` is one listed range of a ticker, ``first .. last`` inclusive (``first`` None: listed before
the data begins; ``last`` None: still listed; ``last`` is the last day traded). A ticker relisted later has one
range per listing. Sources clip their bars to these ranges (:mod:`fin_pipeline.sources.listings`), so a delisted
stock's history simply stops.

**Membership CSV** (``FIN_PIPELINE_MEMBERSHIP_CSV``): a header ``ticker,from,to`` and one row per listed range,
dates ``YYYY-MM-DD``, ``from`` empty = before the data, ``to`` empty = still listed. An inverted range or two
overlapping ranges of one ticker are refused, naming the file, the line and the ticker.

**The synthetic market's listings** (:func:`synthetic_listings`), drawn per ticker from
``np.random.default_rng([seed, crc32(ticker), 4])`` so a ticker's dates do not depend on the pool's size:

* a share :data:`INITIAL_SHARE` (75%) of the pool is listed before the history starts (``FIN_PIPELINE_START``);
* the others list on a day drawn uniformly over the :data:`LISTING_SPAN_YEARS` (20) years from the start: the
  pool gains ``0.25 * P / 20`` listings a year (1.25% of the pool);
* every listed stock is delisted at a constant hazard :data:`DELISTING_RATE` (4% a year, about what US common
  stocks see from mergers, buy-outs and failures): its life from ``max(listing, start)`` is exponential with
  mean 25 years; a delisting after today has not happened yet.

A stock listed later than :data:`SEASONING_DAYS` before the data's end has too little history to be ranked
(the rule's median needs a quarter of sessions), so it is not in the pool yet (:func:`seasoned`).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import math
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

INITIAL_SHARE = 0.75  # of the synthetic pool, listed before the history starts
LISTING_SPAN_YEARS = 20  # the later listings arrive uniformly over this many years from the start
DELISTING_RATE = 0.04  # per year: the hazard of a listed synthetic stock being delisted
YEAR_DAYS = 365.25
SEASONING_DAYS = 92  # calendar days holding 63 sessions: a candidate needs them before it can be ranked
POOL_FACTOR = 3  # the synthetic pool's default size: this many times the rule's N (delistings thin it)
_STREAM_LISTING = 4  # the synthetic market's random streams 0..3 are the bars' (sources/simulation.py)
MEMBERSHIP_COLUMNS = ("ticker", "from", "to")


@dataclasses.dataclass(frozen=True)
class Listing:
    """One listed range of a ticker, inclusive; None = open on that side."""

    ticker: str
    first: dt.date | None = None
    last: dt.date | None = None

    def covers(self, day: dt.date) -> bool:
        return (self.first is None or day >= self.first) and (self.last is None or day <= self.last)

    def to_row(self) -> dict[str, str]:
        return {
            "ticker": self.ticker,
            "from": self.first.isoformat() if self.first else "",
            "to": self.last.isoformat() if self.last else "",
        }


def pool_names(size: int) -> list[str]:
    """The synthetic pool's symbols, ``SYN0001`` ...: simulated series, named so that none is a real company."""
    width = max(4, len(str(size)))
    return [f"SYN{i:0{width}d}" for i in range(1, size + 1)]


def synthetic_listings(seed: int, tickers: Iterable[str], start: dt.date) -> list[Listing]:
    """Each ticker's listed range under the rates of the module docstring (deterministic per seed and ticker)."""
    out = []
    for ticker in tickers:
        rng = np.random.default_rng([seed, zlib.crc32(ticker.upper().encode("ascii")), _STREAM_LISTING])
        late, when, life = rng.random(3)
        first = None
        if late >= INITIAL_SHARE:
            first = start + dt.timedelta(days=math.floor(when * LISTING_SPAN_YEARS * YEAR_DAYS))
        years = -math.log1p(-life) / DELISTING_RATE  # exponential with mean 1 / DELISTING_RATE
        last = (first or start) + dt.timedelta(days=math.floor(years * YEAR_DAYS))
        out.append(Listing(ticker, first, last))
    return out


def seasoned(listings: Sequence[Listing], end: dt.date) -> list[Listing]:
    """The listings whose stock was listed at least :data:`SEASONING_DAYS` before ``end`` (the pool by then)."""
    cutoff = end - dt.timedelta(days=SEASONING_DAYS)
    return [x for x in listings if x.first is None or x.first <= cutoff]


def read_membership_csv(path: Path, check_ticker: Callable[[str], str] = str.upper) -> list[Listing]:
    """The listed ranges of a membership CSV; ``ValueError`` naming the file, line and ticker of a bad row."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"membership file {path} does not exist")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = [h.strip().lower() for h in next(reader, [])]
        if tuple(header) != MEMBERSHIP_COLUMNS:
            raise ValueError(f"{path}: line 1: the header must be {','.join(MEMBERSHIP_COLUMNS)}, got {header}")
        rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    listings: list[tuple[int, Listing]] = []
    for line, row in rows:
        where = f"{path}: line {line}"
        if len(row) != 3:
            raise ValueError(f"{where}: expected 3 fields (ticker,from,to), got {len(row)}")
        raw = row[0].strip().upper()
        try:
            ticker = check_ticker(raw)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        first = _date(row[1], f"{where}: {ticker}: from")
        last = _date(row[2], f"{where}: {ticker}: to")
        if first is not None and last is not None and last < first:
            raise ValueError(f"{where}: {ticker}: inverted range: to {last} is before from {first}")
        listings.append((line, Listing(ticker, first, last)))
    by_ticker: dict[str, list[tuple[int, Listing]]] = {}
    for line, listing in listings:
        by_ticker.setdefault(listing.ticker, []).append((line, listing))
    for ticker, ranges in by_ticker.items():
        ranges.sort(key=lambda item: item[1].first or dt.date.min)
        for (line_a, a), (line_b, b) in zip(ranges, ranges[1:], strict=False):
            if a.last is None or b.first is None or b.first <= a.last:
                raise ValueError(
                    f"{path}: line {line_b}: {ticker}: its range {_span(b)} overlaps line {line_a}'s {_span(a)}"
                )
    if not listings:
        raise ValueError(f"{path}: no rows after the header")
    return [listing for _, listing in listings]


def _date(cell: str, where: str) -> dt.date | None:
    cell = cell.strip()
    if not cell:
        return None
    try:
        return dt.date.fromisoformat(cell)
    except ValueError:
        raise ValueError(f"{where} {cell!r} is not a date YYYY-MM-DD") from None


def _span(x: Listing) -> str:
    return f"{x.first or '(start)'}..{x.last or '(listed)'}"
