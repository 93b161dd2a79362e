"""``fin-pipeline listings --out FILE``: a membership CSV of Polygon's common stocks, listed and delisted.

The file is the candidate pool of a point-in-time universe: set ``FIN_PIPELINE_MEMBERSHIP_CSV`` to it and
``FIN_PIPELINE_UNIVERSE_RULE`` (e.g. ``top:500:dollar_volume``). Delistings before ``FIN_PIPELINE_START`` are left
out (they cannot be in any fold).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os


def listings_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="the membership CSV to write (ticker,from,to)")
    parser.add_argument("--date", help="the reference day YYYY-MM-DD of the listed stocks (default: today)")


def listings(args: argparse.Namespace) -> int:
    from fin_pipeline.core.settings import load_settings
    from fin_pipeline.sources.base import SourceError
    from fin_pipeline.sources.polygon_reference import PolygonReference, reference_listings, write_membership_csv

    settings = load_settings()
    day = dt.date.fromisoformat(args.date) if args.date else None
    try:
        client = PolygonReference(
            os.environ.get("POLYGON_API_KEY", ""),
            base_url=settings.polygon_base_url,
            requests_per_minute=settings.polygon_requests_per_minute,
        )
    except SourceError as exc:
        print(f"fin-pipeline listings: {exc}")
        return 2
    try:
        active, delisted = client.tickers(True, day), client.tickers(False, day)
    except SourceError as exc:
        print(f"fin-pipeline listings: {exc}")
        return 2
    finally:
        client.close()
    pool = reference_listings(active, delisted, since=settings.start)
    path = write_membership_csv(pool, args.out)
    print(f"{path}: {len({x.ticker for x in pool})} tickers ({len(active)} listed, {len(delisted)} delisted rows)")
    return 0
