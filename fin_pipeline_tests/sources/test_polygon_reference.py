"""Polygon's reference tickers against a real local HTTP server (pytest-httpserver): pages, hosts, listings."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest

from fin_pipeline.core.listings import Listing, read_membership_csv
from fin_pipeline.sources.base import SourceError
from fin_pipeline.sources.polygon_reference import (
    TICKERS_PATH,
    PolygonReference,
    reference_listings,
    write_membership_csv,
)

KEY = "test-key-0001"


def fixture(polygon_fixtures) -> dict:
    return json.loads((polygon_fixtures / "tickers_ok.json").read_text())


def client(httpserver) -> PolygonReference:
    return PolygonReference(KEY, base_url=httpserver.url_for("/").rstrip("/"), max_retries=0, requests_per_minute=0)


def test_pages_followed_on_the_apis_own_host(httpserver, polygon_fixtures):
    first = fixture(polygon_fixtures)  # its next_url points at api.massive.com: Polygon's own host, asked here
    cursor = first["next_url"].split("cursor=", 1)[1]
    second = copy.deepcopy(first)
    second["results"] = [{**second["results"][0], "ticker": "AA", "name": "Alcoa"}]
    second["next_url"] = httpserver.url_for(TICKERS_PATH) + "?cursor=page3"  # the configured host itself
    third = {**copy.deepcopy(first), "results": [{**first["results"][0], "ticker": "AAL"}]}
    del third["next_url"]
    httpserver.expect_ordered_request(
        TICKERS_PATH,
        query_string={"type": "CS", "market": "stocks", "active": "true", "limit": "1000", "date": "2021-04-25"},
    ).respond_with_json(first)
    httpserver.expect_ordered_request(TICKERS_PATH, query_string={"cursor": cursor}).respond_with_json(second)
    httpserver.expect_ordered_request(TICKERS_PATH, query_string={"cursor": "page3"}).respond_with_json(third)
    rows = client(httpserver).tickers(True, dt.date(2021, 4, 25))
    assert [r["ticker"] for r in rows] == ["A", "AA", "AAL"]
    assert [r["type"] for r in rows] == ["CS"] * 3
    seen = [req for req, _ in httpserver.log]
    assert len(seen) == 3 and all(req.headers["Authorization"] == f"Bearer {KEY}" for req in seen)
    assert all(KEY not in req.url for req in seen)


def test_pages_keep_to_the_accounts_request_budget(httpserver, polygon_fixtures):
    """At 5 requests a minute (the free tier) the second page starts 60/5 = 12 s after the first: a fake clock that
    advances only when the client sleeps sees exactly one sleep of 12 s for two pages."""
    first = fixture(polygon_fixtures)
    first["next_url"] = httpserver.url_for(TICKERS_PATH) + "?cursor=two"
    last = {**copy.deepcopy(first), "results": [{**first["results"][0], "ticker": "AA"}]}
    del last["next_url"]
    httpserver.expect_ordered_request(
        TICKERS_PATH, query_string={"type": "CS", "market": "stocks", "active": "true", "limit": "1000"}
    ).respond_with_json(first)
    httpserver.expect_ordered_request(TICKERS_PATH, query_string={"cursor": "two"}).respond_with_json(last)
    now, slept = [1000.0], []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    reference = PolygonReference(
        KEY,
        base_url=httpserver.url_for("/").rstrip("/"),
        max_retries=0,
        requests_per_minute=5,
        _clock=lambda: now[0],
        _sleep=sleep,
    )
    assert [r["ticker"] for r in reference.tickers(True)] == ["A", "AA"]
    assert slept == [pytest.approx(12.0)]


@pytest.mark.parametrize("host", ["evil.example.com", "api.polygon.io.evil.example.com"])
def test_next_url_to_another_host_refused_naming_it(httpserver, polygon_fixtures, host):
    body = fixture(polygon_fixtures)
    body["next_url"] = f"https://{host}/v3/reference/tickers?cursor=abc"
    httpserver.expect_request(TICKERS_PATH).respond_with_json(body)
    with pytest.raises(SourceError) as err:
        client(httpserver).tickers(False)
    assert f"refusing next_url to foreign host {host}" in str(err.value) and KEY not in str(err.value)
    assert len(httpserver.log) == 1  # nothing was sent there


def test_bad_status_is_an_error(httpserver):
    httpserver.expect_request(TICKERS_PATH).respond_with_json({"status": "ERROR", "error": "bad"}, status=400)
    with pytest.raises(SourceError, match="HTTP 400"):
        client(httpserver).tickers(True)


def test_listings_from_reference_rows(tmp_path):
    active = [{"ticker": "A"}, {"ticker": "META"}]
    delisted = [
        {"ticker": "META", "delisted_utc": "2012-05-01T00:00:00Z"},  # a symbol used before by another company
        {"ticker": "TWTR", "delisted_utc": "2022-11-08T00:00:00Z"},
        {"ticker": "OLD", "delisted_utc": "2003-01-10T00:00:00Z"},  # before the history: left out
        {"ticker": "NODATE"},
    ]
    pool = reference_listings(active, delisted, since=dt.date(2010, 1, 4))
    assert sorted(pool, key=lambda x: (x.ticker, x.first or dt.date.min)) == [
        Listing("A"),
        Listing("META", None, dt.date(2012, 5, 1)),
        Listing("META", dt.date(2012, 5, 2), None),
        Listing("TWTR", None, dt.date(2022, 11, 8)),
    ]
    path = write_membership_csv(pool, tmp_path / "pool.csv")
    assert sorted(read_membership_csv(path), key=lambda x: (x.ticker, x.first or dt.date.min)) == sorted(
        pool, key=lambda x: (x.ticker, x.first or dt.date.min)
    )
    assert not list(tmp_path.glob(".*tmp"))
