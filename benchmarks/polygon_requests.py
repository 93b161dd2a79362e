"""Requests of a nightly Polygon refresh after one new session: per ticker (before) against by day (after).

A local HTTP server (pytest-httpserver) emulates the API in the shapes of the real bodies of
``shared/fixtures/polygon`` (``fin_pipeline_tests/sources/polygon_emulator.py``) and counts every request it
answers. ``N`` tickers are backfilled per ticker through 2020-08-27; then the same stored files are refreshed to
2020-08-28 twice: as before (``update_candles`` without ``market``: one aggregates request per ticker) and by day
(a ``MarketDays`` per ticker, as each Dagster run builds its own, sharing the answers through the store). The
minutes are what the free tier's 5 requests a minute make of the counts.

    PYTHONPATH=$PWD FIN_PIPELINE_SHARED_DIR=/work/shared python benchmarks/polygon_requests.py [--tickers 500]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path

from pytest_httpserver import HTTPServer

from fin_pipeline.core.polygon import POLYGON
from fin_pipeline.sources.grouped import MarketDays
from fin_pipeline.sources.polygon import PolygonSource
from fin_pipeline.sources.update import update_candles
from fin_pipeline.store.location import LocalStore
from fin_pipeline_tests.sources.polygon_emulator import PolygonMarket

START, STORED, NEW = dt.date(2020, 8, 3), dt.date(2020, 8, 27), dt.date(2020, 8, 28)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=500)
    args = parser.parse_args()
    fixtures = Path(os.environ.get("FIN_PIPELINE_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))
    market = PolygonMarket(fixtures / "fixtures" / "polygon", [f"T{i:04d}" for i in range(args.tickers)])
    server = HTTPServer()
    server.start()
    splits = market.load("splits_ok.json")  # AAPL's two splits, both outside the night's range
    del splits["next_url"]
    market.serve(server, splits=splits)
    source = PolygonSource("bench-key", base_url=server.url_for("/").rstrip("/"), requests_per_minute=0)
    work = Path(tempfile.mkdtemp(prefix="polygon_requests_"))
    try:
        stored = work / "stored"
        for ticker in market.tickers:
            update_candles(source, ticker, stored / f"{ticker}.parquet", START, STORED)
        backfill = len(server.log)
        counts = {}
        for method in ("per ticker (before)", "by day (after)"):
            root = work / method.split()[0]
            shutil.copytree(stored, root)
            server.clear_log()
            for ticker in market.tickers:
                days = MarketDays(source, root, LocalStore(root), args.tickers) if "day" in method else None
                update = update_candles(source, ticker, root / f"{ticker}.parquet", START, NEW, days)
                assert update.last_date == NEW, update
            counts[method] = len(server.log)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    rpm = POLYGON.requests_per_minute
    print(f"{args.tickers} tickers: first backfill (per ticker) {backfill} requests")
    print(f"refresh after one new session ({NEW}), requests counted by the server:")
    for method, n in counts.items():
        print(f"  {method:20s} {n:5d} requests = {n / rpm:6.1f} min at {rpm:g} requests/min (free tier)")
    before, after = counts.values()
    print(f"ratio before/after: {before / after:.0f}x fewer requests")


if __name__ == "__main__":
    main()
