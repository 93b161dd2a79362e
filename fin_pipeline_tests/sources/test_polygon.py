"""PolygonSource against a real local HTTP server (pytest-httpserver) serving real Polygon response bodies."""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import socket
import time

import numpy as np
import pandas as pd
import pytest
from werkzeug import Request, Response

from fin_pipeline.sources.base import RAW_COLUMNS, CandleError, SourceError, empty_candles, session_timestamps
from fin_pipeline.sources.polygon import PolygonSource

KEY = "test-key-0001"
SECRET = "sk-TEST-SECRET-1234567890"
AAPL_OK_PATH = "/v2/aggs/ticker/AAPL/range/1/day/2005-04-01/2005-04-04"
D0, D1 = dt.date(2005, 4, 1), dt.date(2005, 4, 4)
# aggs_AAPL_day_page_with_next_url.json: bars of 2020-01-02 and 2020-01-03, next_url on api.massive.com.
PAGE1_PATH = "/v2/aggs/ticker/AAPL/range/1/day/2020-01-02/2020-01-10"
PAGE2_PATH = "/v2/aggs/ticker/AAPL/range/1/day/1578114000000/2020-01-10"
PAGE2_QUERY = "cursor=bGltaXQ9MiZzb3J0PWFzYw"
P0, P1 = dt.date(2020, 1, 2), dt.date(2020, 1, 10)


def load(polygon_fixtures, name: str) -> dict:
    return json.loads((polygon_fixtures / name).read_text())


def error_body(polygon_fixtures, name: str) -> dict:
    return load(polygon_fixtures, "error_bodies.json")[name]["body"]


def make_source(httpserver, **kw) -> PolygonSource:
    opts = dict(
        api_key=KEY,
        base_url=httpserver.url_for("/").rstrip("/"),
        requests_per_minute=0,
        connect_timeout=2.0,
        read_timeout=5.0,
        max_retries=3,
        backoff_factor=0,
    )
    return PolygonSource(**(opts | kw))


def page2_body(polygon_fixtures) -> dict:
    """Page 2 of the paginated query: the OK fixture's bars moved to 2020-01-06/07, served newest first."""
    body = load(polygon_fixtures, "aggs_AAPL_day_ok.json")
    ms = session_timestamps([dt.date(2020, 1, 6), dt.date(2020, 1, 7)]).asi8 // 10**6
    for bar, t in zip(body["results"], ms, strict=True):
        bar["t"] = int(t)
    body["results"].reverse()
    return body


def requests_seen(httpserver) -> list[Request]:
    return [req for req, _ in httpserver.log]


# 1 -------------------------------------------------------------------------------------------------------------
def test_ok_body_parsed_exactly(httpserver, polygon_fixtures):
    httpserver.expect_request(AAPL_OK_PATH).respond_with_json(load(polygon_fixtures, "aggs_AAPL_day_ok.json"))
    df = make_source(httpserver).fetch("AAPL", D0, D1)

    assert list(df.columns) == list(RAW_COLUMNS)
    assert df.dtypes.to_dict() == empty_candles().dtypes.to_dict()
    assert str(df["timestamp"].dtype) == "datetime64[ns, UTC]" and str(df["transactions"].dtype) == "Int64"
    assert (df["timestamp"].astype("int64") // 10**6).tolist() == [1112331600000, 1112587200000]
    assert df["timestamp"].tolist() == list(session_timestamps([D0, D1]))  # midnight New York
    assert df["open"].tolist() == [1.5032, 1.4639]
    assert df["high"].tolist() == [1.5064, 1.4754]
    assert df["low"].tolist() == [1.4489, 1.4343]
    assert df["close"].tolist() == [1.4604, 1.4675]
    assert df["volume"].tolist() == [642646396.0, 578172308.0]
    assert df["vwap"].tolist() == [1.469, 1.4589]
    assert df["transactions"].tolist() == [82132, 65543]

    (req,) = requests_seen(httpserver)
    assert req.headers["Authorization"] == f"Bearer {KEY}"
    assert "apiKey" not in req.args and KEY not in req.url
    assert req.args.to_dict() == {"adjusted": "true", "sort": "asc", "limit": "50000"}


def test_missing_optional_fields_and_delayed_status(httpserver, polygon_fixtures):
    body = load(polygon_fixtures, "aggs_AAPL_day_ok.json")
    body["status"] = "DELAYED"
    for bar in body["results"]:
        del bar["vw"], bar["n"]
    httpserver.expect_request(AAPL_OK_PATH).respond_with_json(body)
    df = make_source(httpserver, adjusted=False).fetch("AAPL", D0, D1)
    assert df["vwap"].isna().all() and df["transactions"].isna().all() and len(df) == 2
    assert requests_seen(httpserver)[0].args["adjusted"] == "false"


def test_a_bar_with_an_open_of_zero_has_a_missing_open(httpserver, polygon_fixtures):
    body = load(polygon_fixtures, "aggs_AAPL_day_ok.json")
    body["results"][1]["o"] = 0  # not traded at the open under next_open (sources/execution.py), counted
    httpserver.expect_request(AAPL_OK_PATH).respond_with_json(body)
    df = make_source(httpserver).fetch("AAPL", D0, D1)
    assert df["open"].isna().tolist() == [False, True] and df["close"].notna().all()


# 2 -------------------------------------------------------------------------------------------------------------
def test_pagination_follows_next_url_on_configured_host(httpserver, polygon_fixtures):
    page1 = load(polygon_fixtures, "aggs_AAPL_day_page_with_next_url.json")
    assert page1["next_url"].startswith("https://api.massive.com/")
    httpserver.expect_ordered_request(PAGE1_PATH).respond_with_json(page1)
    httpserver.expect_ordered_request(PAGE2_PATH, query_string=PAGE2_QUERY).respond_with_json(
        page2_body(polygon_fixtures)
    )

    df = make_source(httpserver).fetch("AAPL", P0, P1)

    httpserver.check_assertions()
    assert [str(d.date()) for d in df["timestamp"].dt.tz_convert("America/New_York")] == [
        "2020-01-02",
        "2020-01-03",
        "2020-01-06",
        "2020-01-07",
    ]
    assert df["close"].tolist() == [75.0875, 74.3575, 1.4604, 1.4675]
    assert df["timestamp"].is_monotonic_increasing
    page2_req = requests_seen(httpserver)[1]
    assert page2_req.headers["Authorization"] == f"Bearer {KEY}"
    assert page2_req.query_string.decode() == PAGE2_QUERY


def test_bars_outside_the_range_are_dropped(httpserver, polygon_fixtures):
    httpserver.expect_request("/v2/aggs/ticker/AAPL/range/1/day/2005-04-04/2005-04-04").respond_with_json(
        load(polygon_fixtures, "aggs_AAPL_day_ok.json")
    )
    df = make_source(httpserver).fetch("AAPL", D1, D1)
    assert df["timestamp"].tolist() == list(session_timestamps([D1]))


# 3 -------------------------------------------------------------------------------------------------------------
def test_429_with_retry_after_then_success(httpserver, polygon_fixtures):
    httpserver.expect_ordered_request(AAPL_OK_PATH).respond_with_data(
        '{"status":"ERROR","error":"too many requests"}', status=429, headers={"Retry-After": "0"}
    )
    httpserver.expect_ordered_request(AAPL_OK_PATH).respond_with_json(load(polygon_fixtures, "aggs_AAPL_day_ok.json"))
    df = make_source(httpserver).fetch("AAPL", D0, D1)
    assert len(df) == 2 and len(httpserver.log) == 2
    httpserver.check_assertions()


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_then_success(httpserver, polygon_fixtures, status):
    httpserver.expect_ordered_request(AAPL_OK_PATH).respond_with_data("upstream trouble", status=status)
    httpserver.expect_ordered_request(AAPL_OK_PATH).respond_with_json(load(polygon_fixtures, "aggs_AAPL_day_ok.json"))
    df = make_source(httpserver).fetch("AAPL", D0, D1)
    assert len(df) == 2 and len(httpserver.log) == 2


# 4 -------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("max_retries", [0, 2])
def test_retries_exhausted(httpserver, max_retries):
    httpserver.expect_request(AAPL_OK_PATH).respond_with_data("<html>Service Unavailable</html>", status=503)
    with pytest.raises(SourceError) as info:
        make_source(httpserver, max_retries=max_retries).fetch("AAPL", D0, D1)
    msg = str(info.value)
    assert "AAPL" in msg and "HTTP 503" in msg and f"after {max_retries + 1} attempts" in msg
    assert "Service Unavailable" in msg
    assert len(httpserver.log) == max_retries + 1
    assert info.value.transient  # worth another try later


# 5 -------------------------------------------------------------------------------------------------------------
def test_read_timeout(httpserver, polygon_fixtures):
    body = json.dumps(load(polygon_fixtures, "aggs_AAPL_day_ok.json"))

    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return Response(body, content_type="application/json")

    httpserver.expect_request(AAPL_OK_PATH).respond_with_handler(slow)
    t0 = time.monotonic()
    with pytest.raises(SourceError, match=r"AAPL: read timed out after 0\.3 s") as info:
        make_source(httpserver, read_timeout=0.3, max_retries=0).fetch("AAPL", D0, D1)
    assert time.monotonic() - t0 < 0.9
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert len(httpserver.log) <= 1
    assert info.value.transient


# 6 -------------------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused():
    port = free_port()
    src = PolygonSource(
        api_key=KEY,
        base_url=f"http://127.0.0.1:{port}",
        requests_per_minute=0,
        connect_timeout=1,
        max_retries=1,
        backoff_factor=0,
    )
    with pytest.raises(SourceError, match=rf"AAPL: connection refused to 127\.0\.0\.1:{port}") as info:
        src.fetch("AAPL", D0, D1)
    assert info.value.__cause__ is None and info.value.__context__ is None


# 7 -------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body, expected",
    [
        ("{not json", "body is not JSON"),
        ("[]", "unexpected status"),
        ('{"results": []}', "unexpected status"),
        ('{"status": "OK", "results": {"o": 1}}', "'results' is dict"),
        ('{"status": "OK", "results": [{"o": 1, "h": 1, "l": 1, "c": 1, "t": 1112331600000}]}', "lacks numeric 'v'"),
        ('{"status": "OK", "results": [{"o": "1", "h": 1, "l": 1, "c": 1, "v": 1, "t": 1}]}', "lacks numeric 'o'"),
    ],
)
def test_malformed_response(httpserver, body, expected):
    httpserver.expect_request(AAPL_OK_PATH).respond_with_data(body, content_type="application/json")
    with pytest.raises(SourceError, match=r"Polygon: AAPL: malformed response \(page 1\)") as info:
        make_source(httpserver).fetch("AAPL", D0, D1)
    assert expected in str(info.value)


# 8 -------------------------------------------------------------------------------------------------------------
def test_page2_failure_returns_nothing(httpserver, polygon_fixtures):
    httpserver.expect_request(PAGE1_PATH).respond_with_json(
        load(polygon_fixtures, "aggs_AAPL_day_page_with_next_url.json")
    )
    httpserver.expect_request(PAGE2_PATH).respond_with_data("boom", status=500)
    with pytest.raises(SourceError, match=r"AAPL: HTTP 500 after 3 attempts"):
        make_source(httpserver, max_retries=2).fetch("AAPL", P0, P1)
    paths = [req.path for req in requests_seen(httpserver)]
    assert paths == [PAGE1_PATH] + [PAGE2_PATH] * 3


# 9 -------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "status, name, expected",
    [
        (401, "no_api_key", "not authorized (HTTP 401): API Key was not provided"),
        (403, "plan_timeframe_403", "not authorized (HTTP 403): Your plan doesn't include this data timeframe"),
        (403, "not_entitled_403", "not authorized (HTTP 403): You are not entitled to this data"),
        (200, "plan_timeframe_403", "not authorized (HTTP 200): Your plan doesn't include this data timeframe"),
        (400, "bad_params_4xx", "API error (HTTP 400): The parameter 'to' cannot be a time that occurs before 'from'"),
        (200, "bad_params_4xx", "API error (HTTP 200): The parameter 'to' cannot be a time"),
    ],
)
def test_error_bodies(httpserver, polygon_fixtures, status, name, expected):
    httpserver.expect_request(AAPL_OK_PATH).respond_with_json(error_body(polygon_fixtures, name), status=status)
    with pytest.raises(SourceError) as info:
        make_source(httpserver).fetch("AAPL", D0, D1)
    assert str(info.value).startswith("Polygon: AAPL: ") and expected in str(info.value)
    assert len(httpserver.log) == 1  # not retried
    assert not info.value.transient  # nor worth retrying later


@pytest.mark.parametrize("status, headers", [(404, {}), (302, {"Location": "https://evil.example.com/steal"})])
def test_other_non_2xx_not_followed(httpserver, status, headers):
    httpserver.expect_request(AAPL_OK_PATH).respond_with_data("x" * 500, status=status, headers=headers)
    with pytest.raises(SourceError, match=rf"AAPL: HTTP {status}: x+$") as info:
        make_source(httpserver).fetch("AAPL", D0, D1)
    assert len(str(info.value)) < 250 and len(httpserver.log) == 1


# 10 ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["empty_range_200", "results_null", "results_count_0"])
def test_empty_range(httpserver, polygon_fixtures, variant):
    body = error_body(polygon_fixtures, "empty_range_200")
    assert "results" not in body
    if variant == "results_null":
        body["results"] = None
    elif variant == "results_count_0":
        body["results"] = []
    httpserver.expect_request(AAPL_OK_PATH).respond_with_json(body)
    df = make_source(httpserver).fetch("AAPL", D0, D1)
    assert df.empty and list(df.columns) == list(RAW_COLUMNS)
    assert df.dtypes.to_dict() == empty_candles().dtypes.to_dict()


def test_start_after_end_is_empty_without_a_request(httpserver):
    assert make_source(httpserver).fetch("AAPL", D1, D0).empty and not httpserver.log


# 11 ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "next_url, expected",
    [
        (
            "https://evil.example.com/v2/aggs/ticker/AAPL/range/1/day/1578114000000/2020-01-10?cursor=x",
            "refusing next_url to foreign host evil.example.com",
        ),
        (
            "https://api.polygon.io.evil.example.com/v2/aggs/ticker/AAPL/range/1/day/1/2?cursor=x",
            "refusing next_url to foreign host api.polygon.io.evil.example.com",
        ),
        (
            "https://api.massive.com/v2/aggs/ticker/MSFT/range/1/day/1/2?cursor=x",
            "refusing next_url with unexpected path",
        ),
        (
            "https://api.massive.com/v2/aggs/ticker/AAPL/../../../v1/x?cursor=x",
            "refusing next_url with unexpected path",
        ),
        ("https://api.massive.com/v3/reference/tickers?cursor=x", "refusing next_url with unexpected path"),
    ],
)
def test_next_url_to_foreign_host_or_path_refused(httpserver, polygon_fixtures, next_url, expected):
    page1 = load(polygon_fixtures, "aggs_AAPL_day_page_with_next_url.json")
    page1["next_url"] = next_url
    httpserver.expect_request(PAGE1_PATH).respond_with_json(page1)
    with pytest.raises(SourceError, match=r"^Polygon: AAPL: ") as info:
        make_source(httpserver).fetch("AAPL", P0, P1)
    assert expected in str(info.value)
    assert len(httpserver.log) == 1


# 12 ------------------------------------------------------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now, self.sleeps = 1000.0, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.mark.parametrize("rpm", [5, 0, None])
def test_rate_limiter_spaces_page_requests(httpserver, polygon_fixtures, rpm):
    clock, starts = FakeClock(), []
    page1 = load(polygon_fixtures, "aggs_AAPL_day_page_with_next_url.json")
    page2 = page2_body(polygon_fixtures)
    page2["next_url"] = "https://api.massive.com/v2/aggs/ticker/AAPL/range/1/day/1578459600000/2020-01-10?cursor=p3"
    page3 = copy.deepcopy(page2)
    del page3["next_url"]
    page3["results"] = []
    bodies = iter([page1, page2, page3])

    def handler(request: Request) -> Response:
        starts.append(clock.now)
        clock.now += 3.0  # each request "takes" 3 s of fake time
        return Response(json.dumps(next(bodies)), content_type="application/json")

    for path in (PAGE1_PATH, PAGE2_PATH, "/v2/aggs/ticker/AAPL/range/1/day/1578459600000/2020-01-10"):
        httpserver.expect_ordered_request(path).respond_with_handler(handler)
    src = make_source(httpserver, requests_per_minute=rpm, _clock=clock, _sleep=clock.sleep)
    df = src.fetch("AAPL", P0, P1)

    assert len(df) == 4 and len(starts) == 3
    if rpm:
        assert clock.sleeps == pytest.approx([9.0, 9.0])
        assert np.all(np.diff(starts) >= 12.0 - 1e-9)
    else:
        assert clock.sleeps == []


def test_rate_limit_is_shared_by_sources_of_one_process(httpserver, polygon_fixtures):
    """Sequential runs in one process (the CLI) each build a source; the budget is the account's."""
    clock = FakeClock()
    httpserver.expect_request(AAPL_OK_PATH).respond_with_json(load(polygon_fixtures, "aggs_AAPL_day_ok.json"))
    for _ in range(2):
        make_source(httpserver, requests_per_minute=5, _clock=clock, _sleep=clock.sleep).fetch("AAPL", D0, D1)
    assert clock.sleeps == pytest.approx([12.0])


# 13 ------------------------------------------------------------------------------------------------------------
def exception_texts(exc: BaseException | None) -> list[str]:
    texts, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        texts += [str(exc), repr(exc), repr(exc.args), repr(vars(exc))]
        exc = exc.__cause__ or exc.__context__
    return texts


def test_secret_never_leaks(httpserver, polygon_fixtures, caplog):
    caplog.set_level(logging.DEBUG)
    ok = load(polygon_fixtures, "aggs_AAPL_day_ok.json")
    page1 = load(polygon_fixtures, "aggs_AAPL_day_page_with_next_url.json")
    evil = dict(page1, next_url="https://evil.example.com/v2/aggs/ticker/EVIL/range/1/day/1/2")

    def slow(request: Request) -> Response:
        time.sleep(0.5)
        return Response(json.dumps(ok), content_type="application/json")

    def echo_auth(request: Request) -> Response:  # a hostile server echoing the key back in its error text
        return Response(json.dumps({"status": "ERROR", "error": request.headers["Authorization"]}), status=400)

    httpserver.expect_request("/v2/aggs/ticker/AAPL/range/1/day/2005-04-01/2005-04-04").respond_with_json(ok)
    httpserver.expect_request("/v2/aggs/ticker/NOAUTH/range/1/day/2005-04-01/2005-04-04").respond_with_json(
        error_body(polygon_fixtures, "plan_timeframe_403"), status=403
    )
    for ticker, status in (("DOWN", 503), ("LIMIT", 429)):
        httpserver.expect_request(f"/v2/aggs/ticker/{ticker}/range/1/day/2005-04-01/2005-04-04").respond_with_data(
            "unavailable", status=status
        )
    httpserver.expect_request("/v2/aggs/ticker/BADJSON/range/1/day/2005-04-01/2005-04-04").respond_with_data("{x")
    httpserver.expect_request("/v2/aggs/ticker/EVIL/range/1/day/2005-04-01/2005-04-04").respond_with_json(evil)
    httpserver.expect_request("/v2/aggs/ticker/SLOW/range/1/day/2005-04-01/2005-04-04").respond_with_handler(slow)
    httpserver.expect_request("/v2/aggs/ticker/ECHO/range/1/day/2005-04-01/2005-04-04").respond_with_handler(echo_auth)

    src = make_source(httpserver, api_key=SECRET, max_retries=1, read_timeout=0.2)
    assert len(src.fetch("AAPL", D0, D1)) == 2
    refused = PolygonSource(
        api_key=SECRET,
        base_url=f"http://127.0.0.1:{free_port()}",
        max_retries=1,
        backoff_factor=0,
        requests_per_minute=None,
    )
    errors = []
    for source, ticker in [(src, t) for t in ("NOAUTH", "DOWN", "LIMIT", "BADJSON", "EVIL", "ECHO", "SLOW")] + [
        (refused, "AAPL")
    ]:
        with pytest.raises(SourceError) as info:
            source.fetch(ticker, D0, D1)
        errors.append(info.value)
    for bad_key in ("", "   ", f"{SECRET}\nX-Injected: 1", f"{SECRET} x", f"{SECRET}é"):
        with pytest.raises(SourceError) as info:
            PolygonSource(api_key=bad_key)
        errors.append(info.value)

    assert "<redacted>" in str(errors[5])  # the echoing server's text was scrubbed
    for exc in errors:
        for text in exception_texts(exc):
            assert SECRET not in text, text
        assert exc.__cause__ is None and exc.__context__ is None
    assert any(r.name.startswith("urllib3") for r in caplog.records)  # the debug log was really captured
    for record in caplog.records:
        assert SECRET not in record.getMessage() and SECRET not in repr(record.args)
        assert SECRET not in str(record.msg) and SECRET not in (record.exc_text or "")
    assert SECRET not in caplog.text
    for source in (src, refused):
        assert SECRET not in repr(source) and SECRET not in source.describe() and SECRET not in str(source)
        assert SECRET not in repr(vars(source)) and SECRET not in repr(source._session.auth)
    seen = requests_seen(httpserver)
    assert len(seen) >= 9
    for req in seen:
        assert SECRET not in req.url and SECRET not in req.query_string.decode()
        assert req.headers["Authorization"] == f"Bearer {SECRET}"
        assert req.host.split(":")[0] == "localhost"


def test_empty_api_key_message():
    with pytest.raises(SourceError, match="set POLYGON_API_KEY"):
        PolygonSource(api_key="")


# 14 ------------------------------------------------------------------------------------------------------------
def test_bad_bar_raises_candle_error(httpserver, polygon_fixtures):
    body = load(polygon_fixtures, "aggs_AAPL_day_ok.json")
    body["results"][0]["h"] = body["results"][0]["l"] - 0.01  # high below low
    httpserver.expect_request(AAPL_OK_PATH).respond_with_json(body)
    with pytest.raises(CandleError, match=r"Polygon AAPL: 2005-04-01: OHLC inconsistent"):
        make_source(httpserver).fetch("AAPL", D0, D1)


def test_describe_and_repr(httpserver):
    src = make_source(httpserver, requests_per_minute=5)
    assert src.describe() == "polygon (localhost, adjusted=true, 5/min)"
    assert repr(src).startswith("PolygonSource(base_url='http://localhost:")
    assert isinstance(src.fetch("AAPL", D1, D0), pd.DataFrame)


@pytest.mark.parametrize("key", ["k", "abc", "sk-TEST-SECRET-1234567890", "x" * 200])
def test_an_echoed_key_is_redacted_whatever_its_length(httpserver, key):
    def echo_auth(request: Request) -> Response:  # a hostile server echoing the key back in its error text
        return Response(json.dumps({"status": "ERROR", "error": request.headers["Authorization"]}), status=400)

    httpserver.expect_request("/v2/aggs/ticker/ECHO/range/1/day/2005-04-01/2005-04-04").respond_with_handler(echo_auth)
    with pytest.raises(SourceError) as info:
        make_source(httpserver, api_key=key, max_retries=0).fetch("ECHO", D0, D1)
    assert "Bearer <redacted>" in str(info.value)
    for text in exception_texts(info.value):
        assert f"Bearer {key}" not in text and (len(key) < 3 or key not in text), text
