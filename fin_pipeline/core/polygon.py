"""The Polygon client's defaults, in one place: the source, its Dagster resource and the settings read them here."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class PolygonDefaults:
    """The Polygon client's defaults; the source, its Dagster resource and :class:`Settings` all read them here."""

    base_url: str = "https://api.polygon.io"
    requests_per_minute: float = 5.0  # the free tier's budget; 0 = unlimited
    connect_timeout: float = 5.0  # seconds to connect
    read_timeout: float = 30.0  # seconds between two bytes of a response
    max_retries: int = 3  # retries on 413/429/499/5xx and connection errors, with backoff
    backoff_factor: float = 1.0  # urllib3 Retry backoff factor, in seconds
    request_deadline: float = 60.0  # seconds for one request, all bytes and retries included
    ticker_deadline: float = 180.0  # seconds for all pages of one ticker
    page_limit: int = 50_000  # bars asked for per page (the API's largest page)
    max_pages: int = 1000  # a cursor that never ends must not loop forever


POLYGON = PolygonDefaults()
