"""The nightly Polygon refresh by day: one market-wide request per missing session, shared by every ticker.

The first backfill of a ticker asks for its own history (aggregates, up to 50,000 bars a page). After it, a
refresh of ``k`` missing NYSE sessions for ``N`` tickers needs either

* **per ticker**: ``N × ⌈(k + 1) / 50000⌉`` requests (each ticker's new days, with its last stored bar again as a
  sentinel that reveals a re-adjusted history), or
* **grouped**: ``k + 1`` requests: ``GET /v2/aggs/grouped/...`` once per session, answering every ticker, and one
  ``GET /v3/reference/splits`` for the splits executed since the last stored session, which replaces the sentinel
  (with ``adjusted=true`` a split re-adjusts every earlier bar of its ticker).

:class:`RefreshPlan` compares the two and picks grouped when it needs fewer requests (a tie goes per ticker, which
keeps the sentinel). The choice is made per ticker run from the ticker's own missing sessions and the universe's
size: the nightly schedule refreshes every ticker, each in its own Dagster run (a partition of ``raw_candles``), so
``N`` is the universe. Answers an earlier run already stored cost nothing and are subtracted from the grouped count,
so every run of a night takes the same method as its first, and a ticker lagging behind reads the others' answers.

**Shared across partitions through the store.** The market-wide answers are files of the data directory
(:func:`fin_pipeline.store.layout.market_day`, :func:`~fin_pipeline.store.layout.market_splits`): the first ticker
run that needs a session fetches it and writes it (atomically, under a file lock, so concurrent runs on one machine
wait for it instead of asking again); every later run reads the file. On S3 the lock is per machine: two workers
may each fetch a session once, and neither can read a half-written file. Nothing else changes for a Dagster user:
the ticker partitions stay the unit of work, retries and failures, and each run's metadata shows its plan.

Per ticker, then (:meth:`MarketDays.incremental`):

* a split of the ticker executed after its last stored session: its history is fetched again whole (a
  re-backfill), and :func:`~fin_pipeline.sources.update.keep_stored_bars` records the restatement the nightly
  rules read;
* a session the calendar says was open but whose grouped answer lacks the ticker (a halt, a symbol change, an
  answer cut short): the ticker is fetched alone, per ticker, and the absent sessions are named in its metadata;
* otherwise its bars of the missing sessions come from the grouped answers, and are merged and checked (schema
  and plausibility) like any fetched bars.

A grouped answer with a ticker twice, or with no bars at all for an open session, is an error naming the date;
nothing of it is stored.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

from fin_pipeline.core.calendar import nyse_sessions
from fin_pipeline.core.polygon import POLYGON
from fin_pipeline.sources.base import SourceError, empty_candles
from fin_pipeline.sources.polygon import PolygonSource
from fin_pipeline.sources.polygon_market import fetch_grouped, fetch_splits
from fin_pipeline.store import layout
from fin_pipeline.store.parquet import read_parquet, write_parquet

GROUPED, PER_TICKER = "grouped", "per-ticker"


@dataclasses.dataclass(frozen=True)
class RefreshPlan:
    """The requests a refresh of ``sessions`` for ``tickers`` tickers needs by each method, and the cheaper one."""

    tickers: int
    sessions: tuple[dt.date, ...]
    stored: int = 0  # of the grouped requests, the answers an earlier run of the night already stored

    @property
    def grouped_requests(self) -> int:
        return len(self.sessions) + 1  # one per session, and the splits since the last one

    @property
    def per_ticker_requests(self) -> int:
        return self.tickers * math.ceil((len(self.sessions) + 1) / POLYGON.page_limit)  # the sentinel bar too

    @property
    def method(self) -> str:
        cheaper = self.grouped_requests - self.stored < self.per_ticker_requests
        return GROUPED if self.sessions and cheaper else PER_TICKER

    def describe(self) -> str:
        span = f"{self.sessions[0]} … {self.sessions[-1]}" if self.sessions else "none"
        stored = f" ({self.stored} already in the store)" if self.stored else ""
        return (
            f"{len(self.sessions)} missing session(s) ({span}) for {self.tickers} ticker(s): grouped "
            f"{self.grouped_requests} request(s){stored}, per-ticker {self.per_ticker_requests}: {self.method}"
        )


@dataclasses.dataclass(frozen=True)
class Step:
    """What :meth:`MarketDays.incremental` says one ticker's refresh takes."""

    plan: RefreshPlan
    bars: pd.DataFrame | None = None  # the ticker's bars of plan.sessions, from the grouped answers
    refetch: str | None = None  # why the whole history is fetched again (a split since the last refresh)
    absent: tuple[dt.date, ...] = ()  # open sessions whose grouped answer lacked the ticker: fetched alone


class MarketDays:
    """Grouped daily bars and splits of a :class:`PolygonSource`, cached as files of the store (see the module).

    ``root`` is the store's local folder (for S3 its cache), ``files`` the store's ``exists``/``pull``/``push``
    (:mod:`fin_pipeline.store.location`), ``tickers`` the number of tickers a nightly refresh covers.
    """

    def __init__(self, source: PolygonSource, root: Path, files, tickers: int) -> None:
        self.source, self.root, self.files, self.tickers = source, Path(root), files, int(tickers)
        self._memo: dict[Path, pd.DataFrame] = {}  # this object's reads of the store's market files

    def incremental(self, ticker: str, last: dt.date, end: dt.date) -> Step:
        """How to bring ``ticker`` from its last stored session ``last`` to ``end`` (see the module docstring)."""
        sessions = tuple(d.date() for d in nyse_sessions(last + dt.timedelta(days=1), end))
        if not sessions:  # no session since the last bar: nothing to ask of anyone
            return Step(RefreshPlan(self.tickers, sessions), bars=empty_candles())
        # what earlier runs stored costs no request (a ticker that lags behind the others reads their answers)
        answers = [layout.market_day(d, self.source.adjusted) for d in sessions] + [layout.market_splits(last, end)]
        plan = RefreshPlan(self.tickers, sessions, sum(self.files.exists(self.root / rel) for rel in answers))
        if plan.method != GROUPED:
            return Step(plan)
        splits = self.splits(last, end)
        mine = splits[splits["ticker"] == ticker]
        if len(mine):
            s = mine.iloc[0]
            return Step(
                plan,
                refetch=f"split {s.split_from:g}:{s.split_to:g} executed {s.execution_date}, after the last stored "
                f"session {last} (history re-adjusted)",
            )
        frames, absent = [], []
        for day in sessions:
            bars = self.day(day)
            row = bars[(bars["ticker"] == ticker).to_numpy()]
            if row.empty:
                absent.append(day)
            else:
                frames.append(row)
        if absent:  # fetched alone, per ticker, with its sentinel bar
            return Step(plan, absent=tuple(absent))
        return Step(plan, bars=pd.concat(frames, ignore_index=True).drop(columns="ticker"))

    def day(self, day: dt.date) -> pd.DataFrame:
        """Every ticker's bar of the open session ``day`` (from the store, else fetched once and stored)."""

        def fetch() -> tuple[pd.DataFrame, dict]:
            bars = fetch_grouped(self.source, day)
            if bars.empty:  # the calendar says open: bars not published yet, or an outage; never stored empty
                raise SourceError(
                    f"Polygon: grouped bars of {day}: no bars at all for an open NYSE session; try again later",
                    transient=True,
                )
            return bars, {"session": day.isoformat(), "adjusted": self.source.adjusted, "bars": len(bars)}

        return self._cached(layout.market_day(day, self.source.adjusted), fetch)

    def splits(self, after: dt.date, through: dt.date) -> pd.DataFrame:
        """Splits executed in ``(after, through]`` (from the store, else fetched once and stored)."""

        def fetch() -> tuple[pd.DataFrame, dict]:
            return fetch_splits(self.source, after, through), {"after": str(after), "through": str(through)}

        return self._cached(layout.market_splits(after, through), fetch)

    def _cached(self, rel, fetch: Callable[[], tuple[pd.DataFrame, dict]]) -> pd.DataFrame:
        path = self.root / rel
        if path not in self._memo:
            if not self.files.exists(path):
                with _locked(path):
                    if not self.files.exists(path):  # another run may have written it while this one waited
                        frame, meta = fetch()
                        write_parquet(frame, path, meta={**meta, "source": self.source.describe()})
                        self.files.push(path)
            self._memo[path] = read_parquet(self.files.pull(path))[0]
        return self._memo[path]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` among this machine's processes (a lock file beside it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
