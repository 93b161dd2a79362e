"""A candidate pool from Polygon's reference tickers: the common stocks listed, and those delisted, with the day
each was last traded, written as a membership CSV (:mod:`fin_pipeline.core.listings`).

``GET /v3/reference/tickers?type=CS&market=stocks&active=true|false[&date=YYYY-MM-DD]&limit=1000``, paged by
``next_url``. Like the aggregates client (:mod:`fin_pipeline.sources.polygon`) the key travels only in the
``Authorization: Bearer`` header, and a ``next_url`` is followed only on the API's own host (the configured one,
or Polygon's official hosts: it rebranded as Massive and its ``next_url`` values point at ``api.massive.com``):
its path and query are asked of the configured base URL, as the official client does. A ``next_url`` on another
host is refused, naming the host: the key must never go there.

The listings: an active stock is listed (``to`` empty); a delisted one was listed until its ``delisted_utc`` day.
The reference rows carry no listing day, so ``from`` is empty: the bars themselves start where trading did. A
symbol that was delisted and later reused by another company gets one range per use, each starting the day after
the previous one ended (non-overlapping, as a membership CSV must be).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

import requests

from fin_pipeline.core.listings import MEMBERSHIP_COLUMNS, Listing
from fin_pipeline.core.polygon import POLYGON
from fin_pipeline.sources.base import SourceError
from fin_pipeline.sources.polygon import OFFICIAL_HOSTS
from fin_pipeline.sources.polygon_transport import (
    BearerAuth,
    api_base,
    network_error,
    read_body,
    retrying_session,
    shared_limiter,
)
from fin_pipeline.store.parquet import atomic_path

TICKERS_PATH = "/v3/reference/tickers"
PAGE_LIMIT = 1000  # the endpoint's largest page


class PolygonReference:
    """Reference tickers of one API host; ``tickers(active, date)`` returns every page's rows or raises."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = POLYGON.base_url,
        connect_timeout: float = POLYGON.connect_timeout,
        read_timeout: float = POLYGON.read_timeout,
        max_retries: int = POLYGON.max_retries,
        backoff_factor: float = POLYGON.backoff_factor,
        request_deadline: float = POLYGON.request_deadline,
        max_pages: int = POLYGON.max_pages,
        requests_per_minute: float | None = POLYGON.requests_per_minute,
        _clock: Callable[[], float] = time.monotonic,
        _sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not (api_key or "").strip():
            raise SourceError("Polygon reference tickers: no API key: set POLYGON_API_KEY")
        self.base_url, self._host, self._hostport = api_base(base_url, "Polygon reference tickers")
        # the account's budget, shared with the candle requests of this process (one limiter per host and rate)
        self._limiter = shared_limiter(self._hostport, requests_per_minute, _clock, _sleep)
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.request_deadline, self.max_pages = float(request_deadline), max_pages
        self._session = retrying_session(BearerAuth(api_key.strip()), max_retries, backoff_factor)

    def close(self) -> None:
        self._session.close()

    def tickers(self, active: bool, date: dt.date | None = None) -> list[dict]:
        """Every common stock (type CS, market stocks) with ``active`` as given, as of ``date`` (None: today)."""
        params = {"type": "CS", "market": "stocks", "active": str(active).lower(), "limit": str(PAGE_LIMIT)}
        if date is not None:
            params["date"] = date.isoformat()
        url: str | None = self.base_url + TICKERS_PATH
        rows: list[dict] = []
        for page in range(1, self.max_pages + 1):
            body = self._get(url, params, page)
            results = body.get("results") or []
            if not isinstance(results, list):
                raise SourceError(f"Polygon reference tickers: malformed response (page {page}): results")
            rows += [r for r in results if isinstance(r, dict) and r.get("ticker")]
            next_url = body.get("next_url")
            if not next_url:
                return rows
            url, params = self._follow(str(next_url), page + 1), None
        raise SourceError(f"Polygon reference tickers: more than {self.max_pages} pages; refusing to go on")

    def _follow(self, next_url: str, page: int) -> str:
        """The configured base URL + next_url's path and query, when next_url is on the API's own host."""
        parts = urlsplit(next_url)
        host = (parts.hostname or "").lower()
        if host != self._host and host not in OFFICIAL_HOSTS:
            raise SourceError(
                f"Polygon reference tickers: refusing next_url to foreign host {host or '?'} (page {page}): "
                f"the API's host is {self._host}"
            )
        if parts.path != TICKERS_PATH:
            raise SourceError(f"Polygon reference tickers: refusing next_url with path {parts.path[:100]!r}")
        return f"{self.base_url}{parts.path}" + (f"?{parts.query}" if parts.query else "")

    def _get(self, url: str, params: dict[str, str] | None, page: int) -> dict:
        self._limiter.wait()
        deadline = time.monotonic() + self.request_deadline
        error = None
        try:
            resp = self._session.get(
                url,
                params=params,
                stream=True,
                timeout=(self.connect_timeout, self.read_timeout),
                allow_redirects=False,  # a redirect must not carry the key elsewhere
            )
            error = read_body(resp, deadline)
        except requests.RequestException as exc:
            error = network_error(exc, self._hostport, self.connect_timeout, self.read_timeout)
        if error is not None:  # raised outside the except block: no chained exception holding the request
            raise SourceError(f"Polygon reference tickers: {error} (page {page})", transient=True)
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not 200 <= resp.status_code < 300:
            raise SourceError(f"Polygon reference tickers: HTTP {resp.status_code} (page {page})")
        if not isinstance(body, dict) or body.get("status") not in ("OK", "DELAYED"):
            raise SourceError(f"Polygon reference tickers: malformed response (page {page})")
        return body


def reference_listings(active: Iterable[dict], delisted: Iterable[dict], since: dt.date | None = None) -> list[Listing]:
    """Listed ranges from the reference rows (the module docstring says how); delistings before ``since`` left out."""
    ends: dict[str, list[dt.date | None]] = {}
    for row in delisted:
        stamp = row.get("delisted_utc")
        if not stamp:
            continue
        day = dt.date.fromisoformat(str(stamp)[:10])
        if since is None or day >= since:
            ends.setdefault(str(row["ticker"]).upper(), []).append(day)
    for row in active:
        ends.setdefault(str(row["ticker"]).upper(), []).append(None)
    listings = []
    for ticker, lasts in ends.items():
        first = None
        for last in sorted(set(lasts), key=lambda d: d or dt.date.max):
            listings.append(Listing(ticker, first, last))
            if last is None:
                break
            first = last + dt.timedelta(days=1)
    return listings


def write_membership_csv(listings: Iterable[Listing], path: Path) -> Path:
    """``listings`` as a membership CSV (``ticker,from,to``), written to a temporary file and renamed."""
    lines = [",".join(MEMBERSHIP_COLUMNS)]
    for x in sorted(listings, key=lambda x: (x.ticker, x.first or dt.date.min)):
        row = x.to_row()
        lines.append(",".join(row[c] for c in MEMBERSHIP_COLUMNS))
    with atomic_path(Path(path)) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return Path(path)
