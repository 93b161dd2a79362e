"""The nightly Polygon refresh by day (sources/grouped.py) against a real local HTTP server that counts requests."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from fin_pipeline.core.calendar import nyse_sessions
from fin_pipeline.sources.base import SourceError, session_dates
from fin_pipeline.sources.grouped import GROUPED, PER_TICKER, MarketDays, RefreshPlan
from fin_pipeline.sources.polygon import PolygonSource
from fin_pipeline.sources.update import update_candles
from fin_pipeline.store import layout
from fin_pipeline.store.location import LocalStore
from fin_pipeline.store.parquet import read_parquet
from fin_pipeline_tests.sources.polygon_emulator import PolygonMarket

KEY = "test-key-grouped"
START = dt.date(2020, 8, 3)  # a short history: the first backfill is per ticker, 200 of them
THU, FRI, MON = dt.date(2020, 8, 27), dt.date(2020, 8, 28), dt.date(2020, 8, 31)  # splits_ok.json: AAPL 2020-08-31


def source_of(httpserver) -> PolygonSource:
    return PolygonSource(
        KEY, base_url=httpserver.url_for("/").rstrip("/"), requests_per_minute=0, max_retries=0, backoff_factor=0
    )


def one_page_splits(market: PolygonMarket) -> dict:
    body = market.load("splits_ok.json")  # AAPL 2020-08-31 and 2005-02-28, one page
    del body["next_url"]
    return body


def backfill(httpserver, market: PolygonMarket, root, end: dt.date) -> None:
    source = source_of(httpserver)
    for ticker in market.tickers:
        update = update_candles(source, ticker, root / f"{ticker}.parquet", START, end)
        assert update.mode == "full"
    assert len(httpserver.log) == len(market.tickers)  # the first backfill asks per ticker
    httpserver.clear_log()


def refresh(httpserver, market, root, end, tickers, one_run_per_ticker=True):
    """Every ticker brought to ``end``; each with its own MarketDays, as each Dagster run builds its own (they share
    the market-wide answers through the store only), or all with one (one process: faster)."""
    source, shared = source_of(httpserver), None
    updates = {}
    for ticker in market.tickers:
        days = shared if shared and not one_run_per_ticker else MarketDays(source, root, LocalStore(root), tickers)
        shared = days
        updates[ticker] = update_candles(source, ticker, root / f"{ticker}.parquet", START, end, days)
    return updates


def paths(httpserver) -> list[str]:
    return [req.path for req, _ in httpserver.log]


def expected_bar(market, ticker, day) -> list[float]:
    bar = market.bar(ticker, day)
    return [bar["o"], bar["h"], bar["l"], bar["c"], bar["v"], bar["vw"]]


def stored_bar(root, ticker, day) -> list[float]:
    df, _ = read_parquet(root / f"{ticker}.parquet")
    row = df[(session_dates(df["timestamp"]) == day).to_numpy()]
    assert len(row) == 1
    return row[["open", "high", "low", "close", "volume", "vwap"]].iloc[0].tolist()


@pytest.mark.parametrize(
    ("tickers", "sessions", "grouped", "per_ticker", "method"),
    [
        (500, 1, 2, 500, GROUPED),  # one grouped request and the splits, against one request per ticker
        (500, 3, 4, 500, GROUPED),
        (1, 1, 2, 1, PER_TICKER),  # one ticker: its own request is cheaper
        (3, 2, 3, 3, PER_TICKER),  # a tie is not fewer requests: per ticker (with its sentinel check)
        (4, 2, 3, 4, GROUPED),
        (500, 0, 1, 500, PER_TICKER),  # nothing missing: no grouped request at all
    ],
)
def test_plan_counts_requests_of_each_method(tickers, sessions, grouped, per_ticker, method):
    days = tuple(d.date() for d in nyse_sessions(dt.date(2020, 8, 3), dt.date(2020, 8, 31))[:sessions])
    plan = RefreshPlan(tickers, days)
    assert (plan.grouped_requests, plan.per_ticker_requests, plan.method) == (grouped, per_ticker, method)
    assert f"grouped {grouped} request(s), per-ticker {per_ticker}: {method}" in plan.describe()


def test_answers_already_stored_cost_no_request():
    days = tuple(d.date() for d in nyse_sessions(dt.date(2020, 8, 3), dt.date(2020, 8, 7)))  # 5 sessions
    assert RefreshPlan(4, days).method == PER_TICKER  # 6 requests grouped against 4
    lagging = RefreshPlan(4, days, stored=5)  # four sessions' answers stored by other runs, and the splits
    assert lagging.method == GROUPED and "grouped 6 request(s) (5 already in the store)" in lagging.describe()


def test_200_tickers_one_new_session_in_two_requests(httpserver, polygon_fixtures, tmp_path):
    market = PolygonMarket(polygon_fixtures, ["AAPL", *(f"T{i:03d}" for i in range(199))])
    market.serve(httpserver, splits=one_page_splits(market))
    backfill(httpserver, market, tmp_path, THU)

    updates = refresh(httpserver, market, tmp_path, FRI, tickers=200, one_run_per_ticker=False)

    # one grouped answer for the new session and one splits page, for 200 tickers
    assert sorted(paths(httpserver)) == ["/v2/aggs/grouped/locale/us/market/stocks/2020-08-28", "/v3/reference/splits"]
    grouped_req, splits_req = sorted((req for req, _ in httpserver.log), key=lambda r: r.path)
    assert dict(grouped_req.args) == {"adjusted": "true"}
    assert (splits_req.args["execution_date.gt"], splits_req.args["execution_date.lte"]) == (str(THU), str(FRI))
    assert all(req.headers["Authorization"] == f"Bearer {KEY}" and KEY not in req.url for req, _ in httpserver.log)
    assert {u.mode for u in updates.values()} == {"incremental (grouped)"}
    assert all(u.rows_added == 1 and u.last_date == FRI and u.fetched == (FRI, FRI) for u in updates.values())
    assert updates["AAPL"].plan.endswith("grouped 2 request(s), per-ticker 200: grouped")
    for ticker in ("AAPL", "T000", "T198"):  # the stored bar is the market's bar of that day
        assert stored_bar(tmp_path, ticker, FRI) == pytest.approx(expected_bar(market, ticker, FRI), rel=1e-12)
    # the fixture's own bars (KIMpL, TANH, VSAT) are in the shared file, ours too
    day, meta = read_parquet(tmp_path / layout.market_day(FRI))
    assert len(day) == 203 and meta["bars"] == 203 and {"KIMpL", "TANH", "VSAT"} <= set(day["ticker"])


def test_a_ticker_missing_from_the_grouped_answer_is_fetched_alone(httpserver, polygon_fixtures, tmp_path):
    market = PolygonMarket(polygon_fixtures, ["AAPL", "T000", "T001", "T002", "T003"])
    market.serve(httpserver, splits=one_page_splits(market))
    backfill(httpserver, market, tmp_path, THU)
    market.absent[FRI] = {"T002"}

    updates = refresh(httpserver, market, tmp_path, FRI, tickers=200)

    assert sorted(paths(httpserver)) == [
        "/v2/aggs/grouped/locale/us/market/stocks/2020-08-28",
        f"/v2/aggs/ticker/T002/range/1/day/{THU}/{FRI}",  # alone, with its sentinel bar
        "/v3/reference/splits",
    ]
    assert updates["T002"].absent == (FRI,) and "absent from the grouped bars of 2020-08-28" in updates["T002"].mode
    assert [t for t, u in updates.items() if u.absent] == ["T002"]
    assert stored_bar(tmp_path, "T002", FRI) == pytest.approx(expected_bar(market, "T002", FRI), rel=1e-12)


def test_a_split_since_the_last_refresh_rebackfills_that_ticker_only(httpserver, polygon_fixtures, tmp_path):
    market = PolygonMarket(polygon_fixtures, ["AAPL", "T000", "T001", "T002"])
    splits = market.load("splits_ok.json")  # page 1: AAPL's 4:1 of 2020-08-31, next_url on api.massive.com
    market.serve(httpserver, splits=splits)
    page2 = "/v3/splits/AAPL"
    httpserver.expect_request(page2).respond_with_json({"results": [], "status": "OK"})
    backfill(httpserver, market, tmp_path, FRI)
    before, _ = read_parquet(tmp_path / "AAPL.parquet")
    market.split("AAPL", MON, 1, 4)  # from now on Polygon's adjusted AAPL history is a quarter of what was stored

    updates = refresh(httpserver, market, tmp_path, MON, tickers=200)

    assert sorted(paths(httpserver)) == [
        "/v2/aggs/grouped/locale/us/market/stocks/2020-08-31",
        f"/v2/aggs/ticker/AAPL/range/1/day/{START}/{MON}",  # the whole history again, AAPL only
        "/v3/reference/splits",
        page2,  # next_url followed on the configured host, with the cursor and the key in the header only
    ]
    (follow,) = [req for req, _ in httpserver.log if req.path == page2]
    assert follow.args["cursor"].startswith("YWN0aXZl") and follow.headers["Authorization"] == f"Bearer {KEY}"
    assert updates["AAPL"].mode.startswith("refetch: split 1:4 executed 2020-08-31, after the last stored session")
    assert {t: u.mode for t, u in updates.items() if t != "AAPL"} == dict.fromkeys(
        ["T000", "T001", "T002"], "incremental (grouped)"
    )
    after, meta = read_parquet(tmp_path / "AAPL.parquet")
    # every stored bar restated (the nightly rules read this record) and now a quarter of the stored price
    assert meta["restatements"] == [{"first": str(START), "last": str(FRI), "bars": len(before), "seen": str(FRI)}]
    np.testing.assert_allclose(after["close"].to_numpy()[:-1], before["close"].to_numpy() / 4, rtol=1e-6)
    assert stored_bar(tmp_path, "AAPL", MON) == pytest.approx(expected_bar(market, "AAPL", MON), rel=1e-12)


def test_a_duplicate_ticker_in_a_grouped_answer_is_refused_and_nothing_is_stored(
    httpserver, polygon_fixtures, tmp_path
):
    market = PolygonMarket(polygon_fixtures, ["AAPL", "T000", "T001"])
    market.serve(httpserver, splits=one_page_splits(market))
    backfill(httpserver, market, tmp_path, THU)
    market.twice[FRI] = "T001"
    files = {t: (tmp_path / f"{t}.parquet").read_bytes() for t in market.tickers}

    with pytest.raises(SourceError, match="grouped bars of 2020-08-28: ticker T001 appears twice") as err:
        refresh(httpserver, market, tmp_path, FRI, tickers=200)

    assert not err.value.transient
    assert not (tmp_path / layout.market_day(FRI)).exists()
    assert {t: (tmp_path / f"{t}.parquet").read_bytes() for t in market.tickers} == files


def test_a_next_url_to_another_host_is_refused_naming_it(httpserver, polygon_fixtures, tmp_path):
    market = PolygonMarket(polygon_fixtures, ["AAPL", "T000", "T001"])
    splits = market.load("splits_ok.json")
    splits["next_url"] = "https://api.evil.example/v3/reference/splits?cursor=abc"
    market.serve(httpserver, splits=splits)
    backfill(httpserver, market, tmp_path, THU)
    files = {t: (tmp_path / f"{t}.parquet").read_bytes() for t in market.tickers}

    with pytest.raises(SourceError, match="refusing next_url to foreign host api.evil.example"):
        refresh(httpserver, market, tmp_path, FRI, tickers=200)

    assert paths(httpserver) == ["/v3/reference/splits"]  # nothing asked of the other host, nor the grouped bars
    assert not (tmp_path / layout.market_splits(THU, FRI)).exists()
    assert {t: (tmp_path / f"{t}.parquet").read_bytes() for t in market.tickers} == files


def test_an_open_session_without_grouped_bars_is_a_transient_error(httpserver, polygon_fixtures, tmp_path):
    market = PolygonMarket(polygon_fixtures, ["AAPL", "T000"])
    market.serve(httpserver, splits=one_page_splits(market))
    backfill(httpserver, market, tmp_path, THU)
    httpserver.clear()  # now the grouped answer is the API's empty one (no results key)
    empty = market.load("error_bodies.json")["empty_range_200"]["body"]
    httpserver.expect_request("/v2/aggs/grouped/locale/us/market/stocks/2020-08-28").respond_with_json(empty)
    httpserver.expect_request("/v3/reference/splits").respond_with_json(one_page_splits(market))

    with pytest.raises(SourceError, match="grouped bars of 2020-08-28: no bars at all for an open") as err:
        refresh(httpserver, market, tmp_path, FRI, tickers=200)

    assert err.value.transient and not (tmp_path / layout.market_day(FRI)).exists()


def test_few_tickers_refresh_per_ticker_and_no_session_asks_nothing(httpserver, polygon_fixtures, tmp_path):
    market = PolygonMarket(polygon_fixtures, ["AAPL"])
    market.serve(httpserver, splits=one_page_splits(market))
    backfill(httpserver, market, tmp_path, FRI)

    sunday = refresh(httpserver, market, tmp_path, dt.date(2020, 8, 30), tickers=1)["AAPL"]
    assert sunday.mode == "up to date" and paths(httpserver) == []  # no session since Friday: no request
    monday = refresh(httpserver, market, tmp_path, MON, tickers=1)["AAPL"]
    assert paths(httpserver) == [f"/v2/aggs/ticker/AAPL/range/1/day/{FRI}/{MON}"]  # 1 ticker: its own request
    assert monday.mode == "incremental" and monday.plan.endswith("per-ticker 1: per-ticker")


def test_an_error_answer_to_the_grouped_request_fails_with_the_apis_message(httpserver, polygon_fixtures, tmp_path):
    market = PolygonMarket(polygon_fixtures, ["AAPL", "T000"])
    market.serve(httpserver, splits=one_page_splits(market))
    backfill(httpserver, market, tmp_path, THU)
    httpserver.clear()
    forbidden = market.load("error_bodies.json")["plan_timeframe_403"]["body"]
    httpserver.expect_request("/v2/aggs/grouped/locale/us/market/stocks/2020-08-28").respond_with_json(
        forbidden, status=403
    )
    httpserver.expect_request("/v3/reference/splits").respond_with_json(one_page_splits(market))

    with pytest.raises(SourceError, match="grouped bars of 2020-08-28: not authorized .HTTP 403.: Your plan") as err:
        refresh(httpserver, market, tmp_path, FRI, tickers=200)

    assert not err.value.transient and KEY not in str(err.value)
    assert not (tmp_path / layout.market_day(FRI)).exists()
