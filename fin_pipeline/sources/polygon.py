"""Daily candles from the Polygon.io (now "Massive") aggregates REST API, with ``requests`` + urllib3 ``Retry``.

Why not the official ``polygon-api-client``: it sets no timeout (a dead connection hangs forever), and we need
a rate limiter and error messages that name the ticker and never the key.

The API key travels only in the ``Authorization: Bearer`` header (:mod:`fin_pipeline.sources.polygon_transport`
holds the HTTP side: the header, the request budget, retries and deadline reads). Every error is raised as
:class:`SourceError` *outside* the ``except`` block that caught the requests exception, so nothing (no
``PreparedRequest`` with its headers) hangs off ``__cause__``/``__context__``; message texts are also scrubbed of
the key.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pandas as pd
import requests

from fin_pipeline.core.polygon import POLYGON
from fin_pipeline.sources.base import (
    CandleSource,
    SourceError,
    empty_candles,
    session_dates,
    to_raw_schema,
    validate_candles,
)
from fin_pipeline.sources.polygon_transport import (
    RETRY_STATUSES,
    BearerAuth,
    api_base,
    network_error,
    read_body,
    retrying_session,
    shared_limiter,
)

# Polygon rebranded as Massive; real next_url values point at api.massive.com even when asked via api.polygon.io.
OFFICIAL_HOSTS = frozenset({"api.polygon.io", "api.massive.com"})
_FIELDS = {"o": "open", "h": "high", "l": "low", "c": "close", "v": "volume"}
# Bar timestamps (ms since the epoch) outside these bounds are garbage, refused before pandas sees them.
MIN_BAR_MS = 631_152_000_000  # 1990-01-01T00:00Z: where the NYSE calendar of the checks starts
MAX_BAR_MS = 4_102_444_800_000  # 2100-01-01T00:00Z
_TICKER_RE = re.compile(r"^[A-Za-z0-9.:_\-]+$")  # AAPL, BRK.A, X:BTCUSD, I:SPX, O:SPY251219C00650000
_KEY_RE = re.compile(r"^[\x21-\x7e]+$")  # anything else makes requests/http.client raise *with the key in the text*


class PolygonSource(CandleSource):
    """``GET /v2/aggs/ticker/{T}/range/1/day/{start}/{end}``, following ``next_url``; all pages or an error.

    ``requests_per_minute`` throttles page requests of this instance (free tier: 5/min); urllib3's retries
    (on 413/429/499/5xx, connect and read errors) are not throttled but honour ``Retry-After`` and back off.
    Timeouts are per socket operation: ``connect_timeout`` to connect, ``read_timeout`` between bytes. On top of
    them two overall deadlines: ``request_deadline`` seconds for one page (its retries and every byte of the
    body: a server trickling a byte every few seconds is cut off) and ``ticker_deadline`` for all pages of one
    ticker. A deadline that passes is a non-transient :class:`SourceError` (the ticker's time budget is spent;
    orchestration does not multiply it by retrying).
    """

    name = "polygon"

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = POLYGON.base_url,
        requests_per_minute: float | None = POLYGON.requests_per_minute,
        connect_timeout: float = POLYGON.connect_timeout,
        read_timeout: float = POLYGON.read_timeout,
        max_retries: int = POLYGON.max_retries,
        backoff_factor: float = POLYGON.backoff_factor,
        adjusted: bool = True,
        max_pages: int = POLYGON.max_pages,
        request_deadline: float = POLYGON.request_deadline,
        ticker_deadline: float = POLYGON.ticker_deadline,
        _clock: Callable[[], float] = time.monotonic,
        _sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        key = (api_key or "").strip()
        if not key:
            raise SourceError("Polygon: no API key: set POLYGON_API_KEY")
        if not _KEY_RE.fullmatch(key):
            raise SourceError("Polygon: the API key contains whitespace or non-ASCII characters; check POLYGON_API_KEY")
        self.base_url, self._host, self._hostport = api_base(base_url, "Polygon")
        self.requests_per_minute, self.adjusted, self.max_pages = requests_per_minute, adjusted, max_pages
        self.connect_timeout, self.read_timeout, self.max_retries = connect_timeout, read_timeout, max_retries
        self.request_deadline, self.ticker_deadline = float(request_deadline), float(ticker_deadline)
        self._ticker_deadline_at = math.inf
        self._limiter = shared_limiter(self._hostport, requests_per_minute, _clock, _sleep)
        self._auth = BearerAuth(key)
        self._session = retrying_session(self._auth, max_retries, backoff_factor)

    def __repr__(self) -> str:
        return (
            f"PolygonSource(base_url={self.base_url!r}, requests_per_minute={self.requests_per_minute}, "
            f"adjusted={self.adjusted})"
        )

    def describe(self) -> str:
        limit = f"{self.requests_per_minute:g}/min" if self.requests_per_minute else "unlimited"
        return f"polygon ({self._host}, adjusted={str(self.adjusted).lower()}, {limit})"

    def close(self) -> None:
        self._session.close()

    def fetch(self, ticker: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        if not _TICKER_RE.fullmatch(ticker or ""):
            raise SourceError(f"Polygon: invalid ticker {ticker!r}")
        start, end = pd.Timestamp(start).date(), pd.Timestamp(end).date()  # also accepts datetime/Timestamp
        if start > end:
            return empty_candles()
        prefix = f"/v2/aggs/ticker/{ticker}/"
        url = f"{self.base_url}{prefix}range/1/day/{start:%Y-%m-%d}/{end:%Y-%m-%d}"
        params: dict[str, str] | None = {
            "adjusted": str(self.adjusted).lower(),
            "sort": "asc",
            "limit": str(POLYGON.page_limit),
        }
        bars: list[dict] = []
        self._ticker_deadline_at = time.monotonic() + self.ticker_deadline
        for page in range(1, self.max_pages + 1):
            body = self._get(ticker, url, params, page)
            bars.extend(self._bars(ticker, body, page))
            next_url = body.get("next_url")
            if not next_url:
                break
            url, params = self._follow(ticker, next_url, prefix, page + 1), None
        else:
            raise SourceError(f"Polygon: {ticker}: more than {self.max_pages} pages; refusing to continue")
        if not bars:
            return empty_candles()
        df = to_raw_schema(
            pd.DataFrame(
                {
                    "timestamp": pd.to_datetime([b["t"] for b in bars], unit="ms", utc=True),
                    **{col: [b[k] for b in bars] for k, col in _FIELDS.items()},
                    "vwap": [math.nan if b.get("vw") is None else b["vw"] for b in bars],
                    "transactions": [b.get("n") for b in bars],
                }
            )
        )
        days = session_dates(df["timestamp"])
        df = df[((days >= start) & (days <= end)).to_numpy()]  # defensive: the API may round the range outward
        df = df.sort_values("timestamp", kind="stable").reset_index(drop=True)
        validate_candles(df, f"Polygon {ticker}")
        return df

    def _fail(self, ticker: str, what: str, transient: bool = False) -> SourceError:
        """SourceError with every occurrence of the key replaced by ``<redacted>``, whatever the key's length (a
        hostile server could echo it). A short key may also scrub a word of the message that happens to contain
        it: a garbled message is better than a leaked key."""
        text = f"Polygon: {ticker}: {what}".replace(self._auth.key, "<redacted>")
        return SourceError(text, transient=transient)

    def _follow(self, ticker: str, next_url: str, prefix: str, page: int) -> str:
        """The configured base URL + next_url's path and query, if next_url is one we may send the key to."""
        parts = urlsplit(str(next_url))
        host = (parts.hostname or "").lower()
        if host != self._host and host not in OFFICIAL_HOSTS:
            raise self._fail(ticker, f"refusing next_url to foreign host {host or '?'} (page {page})")
        if not parts.path.startswith(prefix) or ".." in parts.path.split("/"):
            raise self._fail(ticker, f"refusing next_url with unexpected path {parts.path[:100]!r} (page {page})")
        return f"{self.base_url}{parts.path}" + (f"?{parts.query}" if parts.query else "")

    def _get(self, ticker: str, url: str, params: dict[str, str] | None, page: int) -> dict:
        self._limiter.wait()
        attempts = self.max_retries + 1
        now = time.monotonic()
        deadline = min(now + self.request_deadline, self._ticker_deadline_at)
        which = "request" if now + self.request_deadline <= self._ticker_deadline_at else "ticker"
        budget = f"{self.request_deadline:g} s" if which == "request" else f"{self.ticker_deadline:g} s"
        if deadline - now <= 0:
            raise self._fail(ticker, f"deadline of {budget} per ticker passed before page {page}")
        error = None
        try:
            left = deadline - now
            resp = self._session.get(
                url,
                params=params,
                stream=True,
                timeout=(min(self.connect_timeout, left), min(self.read_timeout, left)),
                allow_redirects=False,
            )  # a redirect must not carry the key elsewhere
            error = read_body(resp, deadline)
        except requests.RequestException as exc:
            error = network_error(exc, self._hostport, self.connect_timeout, self.read_timeout)
        if error == "deadline":
            raise self._fail(
                ticker,
                f"overall deadline of {budget} per {which} passed (page {page}); the server "
                "is too slow (FIN_PIPELINE_POLYGON_REQUEST_DEADLINE / _TICKER_DEADLINE)",
            )
        if error is not None:  # raised here, not in the except block: no chained exception holding the request
            if time.monotonic() >= deadline:
                raise self._fail(ticker, f"{error}; overall deadline of {budget} per {which} passed (page {page})")
            raise self._fail(ticker, f"{error} (page {page}, {attempts} attempt(s))", transient=True)
        try:
            body = resp.json()
        except ValueError:
            body = None
        snippet = " ".join(resp.text[:200].split())
        info = body if isinstance(body, dict) else {}
        message = str(info.get("message") or info.get("error") or snippet)[:300]
        code = resp.status_code
        if code in (401, 403) or info.get("status") == "NOT_AUTHORIZED":
            raise self._fail(ticker, f"not authorized (HTTP {code}): {message}")
        if info.get("status") == "ERROR":
            raise self._fail(ticker, f"API error (HTTP {code}): {info.get('error') or message}")
        if code in RETRY_STATUSES:
            history = getattr(getattr(resp.raw, "retries", None), "history", None)
            n = len(history) + 1 if history is not None else attempts
            raise self._fail(ticker, f"HTTP {code} after {n} attempts (retries exhausted): {message}", transient=True)
        if not 200 <= code < 300:
            raise self._fail(ticker, f"HTTP {code}: {snippet}")
        if body is None:
            raise self._fail(ticker, f"malformed response (page {page}): body is not JSON: {snippet[:80]}")
        if not isinstance(body, dict) or body.get("status") not in ("OK", "DELAYED"):
            status = info.get("status", type(body).__name__)
            raise self._fail(ticker, f"malformed response (page {page}): unexpected status {status!r}")
        return body

    def _bars(self, ticker: str, body: dict, page: int) -> list[dict]:
        results = body.get("results")
        if results is None or body.get("resultsCount") == 0:
            return []
        if not isinstance(results, list):
            raise self._fail(ticker, f"malformed response (page {page}): 'results' is {type(results).__name__}")
        for i, bar in enumerate(results):
            if not isinstance(bar, dict):
                raise self._fail(ticker, f"malformed response (page {page}): bar {i} is not an object")
            for k in "ohlcvt":
                if isinstance(bar.get(k), bool) or not isinstance(bar.get(k), int | float):
                    raise self._fail(ticker, f"malformed response (page {page}): bar {i} lacks numeric {k!r}")
            t = bar["t"]
            if not (isinstance(t, int) or math.isfinite(t)) or not MIN_BAR_MS <= t <= MAX_BAR_MS:
                raise self._fail(
                    ticker,
                    f"malformed response (page {page}): bar {i} has timestamp t={t!r} ms, outside "
                    f"{MIN_BAR_MS} ({pd.Timestamp(MIN_BAR_MS, unit='ms').date()}) … "
                    f"{MAX_BAR_MS} ({pd.Timestamp(MAX_BAR_MS, unit='ms').date()})",
                )
        return results
