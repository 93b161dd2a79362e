"""A small emulated US market behind a real local HTTP server (pytest-httpserver), answering in the shapes of the
real Polygon bodies of ``shared/fixtures/polygon``: per-ticker aggregates (``aggs_AAPL_day_ok.json``), grouped
daily bars (``grouped_daily_ok.json``, its own three bars kept) and splits (``splits_ok.json``).

Prices are a seeded random walk per ticker; :meth:`PolygonMarket.split` re-adjusts a ticker's earlier bars as
Polygon's ``adjusted=true`` does. Used by the grouped-refresh tests and ``benchmarks/polygon_requests.py``.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import zlib
from pathlib import Path

import numpy as np
from werkzeug import Request, Response

from fin_pipeline.core.calendar import nyse_sessions, session_timestamps

AGGS = re.compile(r"^/v2/aggs/ticker/([^/]+)/range/1/day/(\d{4}-\d\d-\d\d)/(\d{4}-\d\d-\d\d)$")
GROUPED = re.compile(r"^/v2/aggs/grouped/locale/us/market/stocks/(\d{4}-\d\d-\d\d)$")
FIRST, LAST = dt.date(2020, 1, 2), dt.date(2020, 12, 31)  # the sessions the market has bars for


class PolygonMarket:
    def __init__(self, fixtures: Path, tickers: list[str]) -> None:
        self.fixtures = Path(fixtures)
        self.tickers = list(tickers)
        self.sessions = [d.date() for d in nyse_sessions(FIRST, LAST)]
        self._index = {d: i for i, d in enumerate(self.sessions)}
        self._ms = dict(zip(self.sessions, (session_timestamps(self.sessions).asi8 // 10**6).tolist(), strict=True))
        self.close = {t: self._walk(t) for t in self.tickers}
        self.factor: dict[str, list[tuple[dt.date, float]]] = {}  # ticker -> (execution date, split_to/split_from)
        self.absent: dict[dt.date, set[str]] = {}  # tickers left out of a day's grouped answer
        self.twice: dict[dt.date, str] = {}  # a ticker sent twice in a day's grouped answer

    def load(self, name: str) -> dict:
        return json.loads((self.fixtures / name).read_text())

    def _walk(self, ticker: str) -> np.ndarray:
        rng = np.random.default_rng(zlib.crc32(ticker.encode()))
        start = 20.0 + zlib.crc32(ticker.encode()) % 400
        return start * np.exp(np.cumsum(rng.normal(0.0, 0.012, len(self.sessions))))

    def split(self, ticker: str, day: dt.date, split_from: float, split_to: float) -> None:
        """A split executed on ``day``, known from now on: the price walk is in pre-split shares, so today's
        adjusted bars of every day (before ``day`` and after) are the walk divided by ``split_to / split_from``,
        and the bars stored before are the walk itself."""
        self.factor.setdefault(ticker, []).append((day, split_to / split_from))

    def adjustment(self, ticker: str, day: dt.date) -> float:
        """What the price walk of ``day`` is divided by in today's adjusted bars (every known split's ratio)."""
        return float(np.prod([r for _, r in self.factor.get(ticker, [])] or [1.0]))

    def bar(self, ticker: str, day: dt.date) -> dict:
        """The adjusted bar, in Polygon's fields: ``o h l c v vw n t``."""
        i, k = self._index[day], self.adjustment(ticker, day)
        c = self.close[ticker][i]
        o = self.close[ticker][i - 1] if i else c
        return {
            "v": 1.0e6 * k,
            "vw": round((o + c) / 2 / k, 6),
            "o": round(o / k, 6),
            "c": round(c / k, 6),
            "h": round(max(o, c) * 1.004 / k, 6),
            "l": round(min(o, c) * 0.996 / k, 6),
            "t": self._ms[day],
            "n": 1000 + i,
        }

    def aggs(self, request: Request) -> Response:
        ticker, start, end = AGGS.match(request.path).groups()
        days = [d for d in self.sessions if dt.date.fromisoformat(start) <= d <= dt.date.fromisoformat(end)]
        body = self.load("aggs_AAPL_day_ok.json")
        body["ticker"] = ticker
        results = [self.bar(ticker, d) for d in days] if ticker in self.close else []
        body["queryCount"] = body["resultsCount"] = body["count"] = len(results)
        if results:
            body["results"] = results
        else:  # as the API answers an empty range: no results key
            del body["results"]
        return Response(json.dumps(body), content_type="application/json")

    def grouped_body(self, day: dt.date) -> dict:
        body = self.load("grouped_daily_ok.json")
        own = copy.deepcopy(body["results"])  # the fixture's real bars, moved to the day asked
        for bar in own:
            bar["t"] = self._ms[day]
        ours = [{"T": t, **self.bar(t, day)} for t in self.tickers if t not in self.absent.get(day, set())]
        if day in self.twice:
            ours.append({"T": self.twice[day], **self.bar(self.twice[day], day)})
        body["results"] = own + ours
        body["queryCount"] = body["resultsCount"] = len(body["results"])
        return body

    def grouped(self, request: Request) -> Response:
        day = dt.date.fromisoformat(GROUPED.match(request.path).group(1))
        return Response(json.dumps(self.grouped_body(day)), content_type="application/json")

    def serve(self, httpserver, splits: dict | None = None) -> None:
        """Aggregates and grouped answers from this market; ``splits`` answers ``/v3/reference/splits``."""
        httpserver.expect_request(AGGS).respond_with_handler(self.aggs)
        httpserver.expect_request(GROUPED).respond_with_handler(self.grouped)
        if splits is not None:
            httpserver.expect_request("/v3/reference/splits").respond_with_json(splits)

    def no_splits(self) -> dict:
        """``splits_ok.json`` with no splits in it: one page."""
        body = self.load("splits_ok.json")
        body["results"] = []
        del body["next_url"]
        return body
