import datetime as dt
import json
import logging

import pandas as pd
import pytest
from dagster import DagsterEventType, DagsterInstance, instance_for_test, materialize

from fin_pipeline.core.calendar import nyse_sessions
from fin_pipeline.defs.assets.candles import RAW_CANDLE_CHECKS, raw_candles
from fin_pipeline.defs.partitions import ticker_partitions
from fin_pipeline.defs.resources import CsvDirectoryResource, DataStore, PolygonResource, SyntheticMarketResource
from fin_pipeline.sources.update import update_candles
from fin_pipeline.store.parquet import read_parquet
from fin_pipeline_tests.sources.polygon_emulator import PolygonMarket


def run(tmp_path, source, start="2020-01-01", end="2020-12-31", ticker="AAPL", instance=None):
    return materialize(
        [raw_candles],
        partition_key=ticker,
        resources={"candle_source": source, "store": DataStore(root=str(tmp_path / "data"))},
        run_config={"ops": {"raw_candles": {"config": {"start": start, "end": end}}}},
        instance=instance or DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def meta_of(result):
    (mat,) = result.asset_materializations_for_node("raw_candles")
    return {k: v.value for k, v in mat.metadata.items()}


def test_materializes_a_ticker_with_metadata_and_passing_checks(tmp_path):
    result = run(tmp_path, SyntheticMarketResource(seed=3))
    assert result.success
    sessions = nyse_sessions(dt.date(2020, 1, 1), dt.date(2020, 12, 31))
    meta = meta_of(result)
    assert meta["rows"] == meta["rows_added"] == len(sessions) == 253
    assert (meta["first_date"], meta["last_date"]) == ("2020-01-02", "2020-12-31")
    assert meta["source"].startswith("synthetic") and meta["mode"] == "full"
    stored, file_meta = read_parquet(tmp_path / "data" / "raw_candles" / "AAPL.parquet")
    assert len(stored) == 253 and file_meta["source"] == "synthetic"
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == dict.fromkeys(RAW_CANDLE_CHECKS, True)


def test_second_run_fetches_only_the_new_days(tmp_path):
    instance = DagsterInstance.ephemeral()
    first = run(tmp_path, SyntheticMarketResource(seed=3), instance=instance)
    second = run(tmp_path, SyntheticMarketResource(seed=3), end="2021-01-08", instance=instance)
    assert first.success and second.success
    meta = meta_of(second)
    assert meta["mode"] == "incremental"
    assert meta["rows_added"] == 5 and meta["rows"] == 258  # 2021-01-04 … 2021-01-08
    assert meta["fetched"] == "2020-12-31 … 2021-01-08"


def test_bad_csv_fails_the_run_naming_file_and_line_and_keeps_the_stored_file(tmp_path):
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    good = "Date,Open,High,Low,Close,Volume\n2020-01-02,10,11,9,10.5,1000\n2020-01-03,10.5,11,10,10.8,1200\n"
    (csv_dir / "AAPL.csv").write_text(good)
    assert run(tmp_path, CsvDirectoryResource(directory=str(csv_dir))).success
    stored = tmp_path / "data" / "raw_candles" / "AAPL.parquet"
    before = stored.read_bytes()

    (csv_dir / "AAPL.csv").write_text(good + "2020-01-06,10.8,10,11,10.9,900\n")  # high < low on line 4
    result = run(tmp_path, CsvDirectoryResource(directory=str(csv_dir)), start="2020-01-01", end="2020-01-10")
    assert not result.success
    (failure,) = result.get_step_failure_events()
    message = failure.step_failure_data.error.message
    assert "AAPL.csv" in message and "line 4" in message
    # Bad data is not retried: the RetryPolicy is for network trouble.
    assert not [e for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]
    assert stored.read_bytes() == before


def test_config_with_end_before_start_is_rejected(tmp_path):
    result = run(tmp_path, SyntheticMarketResource(), start="2020-06-01", end="2020-01-01")
    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert "end 2020-01-01 is before start 2020-06-01" in failure.step_failure_data.error.message
    assert not (tmp_path / "data" / "raw_candles").exists()


SECRET = "sk-TEST-do-not-leak-7f3a9c"


@pytest.mark.parametrize("outcome", ["ok", "forbidden"])
def test_polygon_key_appears_in_no_log_metadata_event_or_file(tmp_path, httpserver, polygon_fixtures, caplog, outcome):
    caplog.set_level(logging.DEBUG)
    path = "/v2/aggs/ticker/AAPL/range/1/day/2005-04-01/2005-04-04"
    if outcome == "ok":
        httpserver.expect_request(path).respond_with_data(
            (polygon_fixtures / "aggs_AAPL_day_ok.json").read_text(), content_type="application/json"
        )
    else:
        body = json.loads((polygon_fixtures / "error_bodies.json").read_text())["plan_timeframe_403"]["body"]
        httpserver.expect_request(path).respond_with_json(body, status=403)
    source = PolygonResource(
        api_key=SECRET, base_url=httpserver.url_for("/").rstrip("/"), requests_per_minute=0, max_retries=0
    )
    (tmp_path / "dagster").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        result = run(tmp_path, source, start="2005-04-01", end="2005-04-04", instance=instance)
        assert result.success == (outcome == "ok")
        # A refusal is final: no Dagster retry of the step (only transient errors are retried).
        assert not [e for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]
        events = "\n".join(json.dumps(repr(e)) for e in instance.all_logs(result.run_id))
    assert ("not authorized" in events.lower()) == (outcome == "forbidden")
    assert SECRET not in events
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    assert all(SECRET not in req.url for req, _ in httpserver.log)
    assert all(req.headers["Authorization"] == f"Bearer {SECRET}" for req, _ in httpserver.log)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written  # the instance's storage at least
    assert all(SECRET.encode() not in p.read_bytes() for p in written)
    if outcome == "ok":
        assert pd.read_parquet(tmp_path / "data" / "raw_candles" / "AAPL.parquet")["close"].tolist() == [1.4604, 1.4675]


def test_polygon_nightly_refresh_shares_one_grouped_request_across_ticker_runs(tmp_path, httpserver, polygon_fixtures):
    # The universe of the tests is AAPL, MSFT, XOM: one new session costs 2 requests grouped, 3 per ticker.
    tickers = ticker_partitions.get_partition_keys()
    market = PolygonMarket(polygon_fixtures, tickers)
    splits = market.load("splits_ok.json")  # AAPL's splits of 2020-08-31 and 2005-02-28: none in the range
    del splits["next_url"]
    market.serve(httpserver, splits=splits)
    source = PolygonResource(api_key="k", base_url=httpserver.url_for("/").rstrip("/"), requests_per_minute=0)
    for ticker in tickers:  # the first backfill, per ticker (the library call the asset makes)
        path = tmp_path / "data" / "raw_candles" / f"{ticker}.parquet"
        update_candles(source.build(), ticker, path, dt.date(2020, 8, 3), dt.date(2020, 8, 27))
    httpserver.clear_log()
    market.absent[dt.date(2020, 8, 28)] = {"MSFT"}

    instance = DagsterInstance.ephemeral()
    metas = {}
    for ticker in tickers:  # the nightly schedule's runs: one per ticker
        result = run(tmp_path, source, start="2020-08-03", end="2020-08-28", ticker=ticker, instance=instance)
        assert result.success
        metas[ticker] = meta_of(result)

    assert sorted(req.path for req, _ in httpserver.log) == [
        "/v2/aggs/grouped/locale/us/market/stocks/2020-08-28",  # once, for the three runs
        "/v2/aggs/ticker/MSFT/range/1/day/2020-08-27/2020-08-28",  # absent from it: fetched alone
        "/v3/reference/splits",
    ]
    plan = "1 missing session(s) (2020-08-28 … 2020-08-28) for 3 ticker(s): grouped 2 request(s){}, per-ticker 3: "
    plan += "grouped"
    assert {t: m["refresh_plan"] for t, m in metas.items()} == {  # the first run fetches, the others read
        "AAPL": plan.format(""),
        "MSFT": plan.format(" (2 already in the store)"),
        "XOM": plan.format(" (2 already in the store)"),
    }
    assert {t: (m["grouped_absent"], m["grouped_absent_sessions"]) for t, m in metas.items()} == {
        "AAPL": (0, "none"),
        "MSFT": (1, "2020-08-28"),
        "XOM": (0, "none"),
    }
    assert metas["AAPL"]["mode"] == metas["XOM"]["mode"] == "incremental (grouped)"
    assert metas["MSFT"]["mode"].startswith("incremental (fetched alone: absent from the grouped bars of 2020-08-28")
    assert all(m["rows_added"] == 1 and m["last_date"] == "2020-08-28" for m in metas.values())
