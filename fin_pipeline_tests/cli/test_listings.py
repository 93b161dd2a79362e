"""``fin-pipeline listings``: Polygon's listed and delisted stocks into a membership CSV, in process."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from fin_pipeline.cli.main import main
from fin_pipeline.core.listings import Listing, read_membership_csv
from fin_pipeline.core.settings import load_settings
from fin_pipeline.sources.polygon_reference import TICKERS_PATH


@pytest.fixture
def polygon_env(httpserver, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("POLYGON_API_KEY", "test-key-0001")
    monkeypatch.setenv("FIN_PIPELINE_POLYGON_BASE_URL", httpserver.url_for("/").rstrip("/"))
    load_settings.cache_clear()
    yield
    monkeypatch.undo()
    load_settings.cache_clear()


def test_listings_writes_the_pool(httpserver, polygon_fixtures, tmp_path, polygon_env, capsys):
    listed = json.loads((polygon_fixtures / "tickers_ok.json").read_text())
    del listed["next_url"]
    delisted = {
        **listed,
        "results": [{**listed["results"][0], "ticker": "XYZ", "delisted_utc": "2019-03-29T00:00:00Z"}],
    }
    httpserver.expect_request(
        TICKERS_PATH, query_string={"type": "CS", "market": "stocks", "active": "true", "limit": "1000"}
    ).respond_with_json(listed)
    httpserver.expect_request(
        TICKERS_PATH, query_string={"type": "CS", "market": "stocks", "active": "false", "limit": "1000"}
    ).respond_with_json(delisted)
    out = tmp_path / "pool.csv"
    assert main(["listings", "--out", str(out)]) == 0
    assert read_membership_csv(out) == [Listing("A"), Listing("XYZ", None, dt.date(2019, 3, 29))]
    assert "2 tickers (1 listed, 1 delisted rows)" in capsys.readouterr().out


def test_a_foreign_next_url_fails_the_command(httpserver, polygon_fixtures, tmp_path, polygon_env, capsys):
    body = json.loads((polygon_fixtures / "tickers_ok.json").read_text())
    body["next_url"] = "https://elsewhere.example.org/v3/reference/tickers?cursor=x"
    httpserver.expect_request(TICKERS_PATH).respond_with_json(body)
    assert main(["listings", "--out", str(tmp_path / "pool.csv")]) == 2
    assert "foreign host elsewhere.example.org" in capsys.readouterr().out
    assert not (tmp_path / "pool.csv").exists()
