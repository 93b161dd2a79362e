"""Market-wide Polygon requests: one session's bars of every US stock, and the splits of a date range.

``GET /v2/aggs/grouped/locale/us/market/stocks/{date}`` answers one session for the whole market in one request
(each bar carries its ticker in ``T``); ``GET /v3/reference/splits`` lists splits by execution date, paged by
``next_url``. Both go through the :class:`~fin_pipeline.sources.polygon.PolygonSource`'s own request path, so the
same rate limiter, urllib3 retries, deadlines (the request's, and the per-ticker one for all pages of one call),
Bearer key handling and error texts (scrubbed of the key) apply; ``next_url`` is followed only on the configured
host or the API's own (:data:`~fin_pipeline.sources.polygon.OFFICIAL_HOSTS`), anything else is refused naming the
host. Bars get the aggregates' checks (numeric ``o h l c v t``, a timestamp within bounds) and, per ticker, the
plausibility checks when they are merged into its history (:func:`~fin_pipeline.sources.update.update_candles`).
"""

from __future__ import annotations

import datetime as dt
import math
import time

import pandas as pd

from fin_pipeline.sources.base import empty_candles, session_dates, to_raw_schema
from fin_pipeline.sources.polygon import _FIELDS, _TICKER_RE, PolygonSource

GROUPED_PATH = "/v2/aggs/grouped/locale/us/market/stocks/"
SPLITS_PATH = "/v3/reference/splits"
# Real next_url values of the reference endpoints do not keep the request's path (the API's own example pages
# splits through /v3/splits/AAPL); any page under /v3/ on the API's host is accepted, nothing else.
SPLITS_PAGES = "/v3/"
SPLITS_PAGE_LIMIT = 1000  # the endpoint's largest page
SPLIT_COLUMNS = ("ticker", "execution_date", "split_from", "split_to")


def _start(source: PolygonSource) -> None:
    # All pages of one market-wide call share the per-ticker deadline, as all pages of one ticker do.
    source._ticker_deadline_at = time.monotonic() + source.ticker_deadline


def fetch_grouped(source: PolygonSource, day: dt.date) -> pd.DataFrame:
    """Every ticker's bar of session ``day``: a ``ticker`` column and the raw_candles columns, sorted by ticker.

    An answer without bars (a day without a session answers like an empty aggregates range) is an empty frame;
    the caller decides what that means. A ticker twice in the answer, a bar of another day or an unusable ticker
    field is a :class:`SourceError` naming the date (and the ticker): nothing of such an answer is used.
    """
    label = f"grouped bars of {day}"
    _start(source)
    url = f"{source.base_url}{GROUPED_PATH}{day:%Y-%m-%d}"
    body = source._get(label, url, {"adjusted": str(source.adjusted).lower()}, 1)
    bars = source._bars(label, body, 1)
    if not bars:
        empty = empty_candles()
        empty.insert(0, "ticker", pd.Series([], dtype=object))
        return empty
    seen: set[str] = set()
    for i, bar in enumerate(bars):
        ticker = bar.get("T")
        if not isinstance(ticker, str) or not _TICKER_RE.fullmatch(ticker):
            raise source._fail(label, f"malformed response: bar {i} has ticker T={str(ticker)[:40]!r}")
        if ticker in seen:
            raise source._fail(label, f"ticker {ticker} appears twice; refusing the whole answer")
        seen.add(ticker)
    df = to_raw_schema(pd.DataFrame(_columns(bars)))
    days = session_dates(df["timestamp"])
    wrong = (days != day).to_numpy()
    if wrong.any():
        i = int(wrong.argmax())
        raise source._fail(label, f"the bar of {bars[i]['T']} is dated {days.iloc[i]}, not {day}")
    df.insert(0, "ticker", [b["T"] for b in bars])
    return df.sort_values("ticker", ignore_index=True)


def fetch_splits(source: PolygonSource, after: dt.date, through: dt.date) -> pd.DataFrame:
    """Splits executed in ``(after, through]``, all pages: columns :data:`SPLIT_COLUMNS` (dates as ISO text).

    The range is sent as ``execution_date.gt``/``.lte`` and applied again to the answer (a server that ignores a
    filter must not make an old split look new).
    """
    label = f"splits {after} … {through}"
    _start(source)
    url = f"{source.base_url}{SPLITS_PATH}"
    params: dict[str, str] | None = {
        "execution_date.gt": f"{after:%Y-%m-%d}",
        "execution_date.lte": f"{through:%Y-%m-%d}",
        "limit": str(SPLITS_PAGE_LIMIT),
    }
    rows: list[tuple] = []
    for page in range(1, source.max_pages + 1):
        body = source._get(label, url, params, page)
        results = body.get("results") or []
        if not isinstance(results, list):
            raise source._fail(label, f"malformed response (page {page}): 'results' is {type(results).__name__}")
        for i, split in enumerate(results):
            rows.append(_split_row(source, label, page, i, split))
        next_url = body.get("next_url")
        if not next_url:
            break
        url, params = source._follow(label, next_url, SPLITS_PAGES, page + 1), None
    else:
        raise source._fail(label, f"more than {source.max_pages} pages; refusing to continue")
    df = pd.DataFrame(rows, columns=list(SPLIT_COLUMNS))
    executed = pd.to_datetime(df["execution_date"]).dt.date
    return df[((executed > after) & (executed <= through)).to_numpy()].reset_index(drop=True)


def _split_row(source: PolygonSource, label: str, page: int, i: int, split) -> tuple:
    where = f"malformed response (page {page}): split {i}"
    if not isinstance(split, dict):
        raise source._fail(label, f"{where} is not an object")
    ticker, executed = split.get("ticker"), split.get("execution_date")
    if not isinstance(ticker, str) or not _TICKER_RE.fullmatch(ticker):
        raise source._fail(label, f"{where} has ticker {str(ticker)[:40]!r}")
    try:
        day = dt.date.fromisoformat(str(executed))
    except ValueError:
        raise source._fail(label, f"{where} ({ticker}) has execution_date {str(executed)[:40]!r}") from None
    ratio = [split.get(k) for k in ("split_from", "split_to")]
    if not all(isinstance(r, int | float) and not isinstance(r, bool) and math.isfinite(r) and r > 0 for r in ratio):
        raise source._fail(label, f"{where} ({ticker}, {day}) has split_from/split_to {ratio!r}")
    return ticker, day.isoformat(), float(ratio[0]), float(ratio[1])


def _columns(bars: list[dict]) -> dict:
    return {
        "timestamp": pd.to_datetime([b["t"] for b in bars], unit="ms", utc=True),
        **{col: [b[k] for b in bars] for k, col in _FIELDS.items()},
        "vwap": [math.nan if b.get("vw") is None else b["vw"] for b in bars],
        "transactions": [b.get("n") for b in bars],
    }
