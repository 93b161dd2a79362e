"""The HTTP side of the Polygon source: the key's header, the request budget, retries, deadline reads, and errors.

The key travels only in the ``Authorization: Bearer`` header (never in a URL, so it cannot leak through urllib3's
debug log or a requests exception, which quote URLs). Network errors are described from the urllib3 exception
inside them, keeping neither the exception (it holds the request and its headers) nor the URLs in its text.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError as _U3ConnectTimeout
from urllib3.exceptions import NewConnectionError, ProtocolError, ReadTimeoutError
from urllib3.util.retry import Retry

from fin_pipeline.sources.base import SourceError

RETRY_STATUSES = (413, 429, 499, 500, 502, 503, 504)  # what the official client retries
_CHUNK = 65536


class BearerAuth(requests.auth.AuthBase):
    """Adds the key per request (a session-level ``auth`` also stops requests from consulting ~/.netrc)."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.key}"
        return r

    def __repr__(self) -> str:
        return "BearerAuth(<redacted>)"


class RateLimiter:
    """At most ``per_minute`` request starts per rolling minute: consecutive starts ≥ 60/per_minute s apart."""

    def __init__(self, per_minute: float | None, clock: Callable[[], float], sleep: Callable[[float], None]):
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self._clock, self._sleep = clock, sleep
        self._next: float | None = None
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:  # reserve a start time; sleep outside the lock
            now = self._clock()
            start = now if self._next is None else max(now, self._next)
            self._next = start + self.interval
        if start > now:
            self._sleep(start - now)


_LIMITERS: dict[tuple, RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def api_base(base_url: str, what: str) -> tuple[str, str, str]:
    """``base_url`` as ``(scheme://netloc/path without a trailing slash, host in lower case, host:port)``; a
    SourceError naming ``what`` unless it is ``http(s)://host[:port]`` without credentials or a query (a key in a
    URL would be logged; a query would be sent with every page)."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.query:
        raise SourceError(f"{what}: base_url must be http(s)://host[:port] (no credentials, no query)")
    hostport = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}", parts.hostname.lower(), hostport


def shared_limiter(host: str, per_minute: float | None, clock: Callable, sleep: Callable) -> RateLimiter:
    """One limiter per API host and budget in this process. The budget is the account's, not a source
    object's: the CLI runs one ticker after another in one process, each run building a new source."""
    with _LIMITERS_LOCK:
        return _LIMITERS.setdefault((host, per_minute, clock, sleep), RateLimiter(per_minute, clock, sleep))


def retrying_session(auth: BearerAuth, max_retries: int, backoff_factor: float) -> requests.Session:
    """A session that retries GETs ``max_retries`` times (connect and read errors, :data:`RETRY_STATUSES`) with
    exponential backoff, honouring ``Retry-After``, and hands the last response back instead of raising."""
    retry = Retry(
        total=max_retries,  # one budget for connect, read and status retries alike
        backoff_factor=backoff_factor,
        status_forcelist=RETRY_STATUSES,
        allowed_methods={"GET"},
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = requests.Session()
    session.auth = auth
    for prefix in ("http://", "https://"):
        session.mount(prefix, HTTPAdapter(max_retries=retry))
    return session


def read_body(resp: requests.Response, deadline: float) -> str | None:
    """Read the streamed body into ``resp`` chunk by chunk, checking the deadline between reads: ``"deadline"``
    when it passed first, else None."""
    if resp._content_consumed:  # requests already read a redirect's body (allow_redirects=False does that)
        return None
    chunks = []
    while True:
        if time.monotonic() >= deadline:
            resp.close()
            return "deadline"
        chunk = resp.raw.read1(_CHUNK, decode_content=True)
        if not chunk:
            break
        chunks.append(chunk)
    resp._content = b"".join(chunks)
    resp._content_consumed = True
    return None


def network_error(exc: requests.RequestException, hostport: str, connect_timeout: float, read_timeout: float) -> str:
    """A short cause from the urllib3 exception inside ``exc`` (its text holds URLs only; we keep neither)."""
    seen, todo = [], [exc]
    while todo:
        e = todo.pop()
        if isinstance(e, BaseException) and all(e is not s for s in seen):
            seen.append(e)
            todo += [getattr(e, "reason", None), e.__cause__, e.__context__, *e.args[:1]]
    if any(isinstance(e, ConnectionRefusedError) for e in seen):
        return f"connection refused to {hostport}"
    if any(isinstance(e, ReadTimeoutError | requests.ReadTimeout) for e in seen):
        return f"read timed out after {read_timeout:g} s"
    if any(isinstance(e, NewConnectionError) for e in seen):
        return f"cannot connect to {hostport} (DNS or network failure)"
    if any(isinstance(e, _U3ConnectTimeout | requests.ConnectTimeout) for e in seen):
        return f"connect to {hostport} timed out after {connect_timeout:g} s"
    if any(isinstance(e, ProtocolError) for e in seen):
        return f"connection to {hostport} broken before a full response"
    return f"request failed ({type(exc).__name__})"
