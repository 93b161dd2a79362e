"""A point-in-time universe at scale: top:500 over 20 years of the synthetic market (1,500 candidates).

Prints, from one run:

* the settings' load with the rule (the pool's listings drawn for every candidate);
* the listed-range clip (``ListedSource``) against the bare synthetic market, per ticker, alternating: ratio;
* the activity panel of every candidate (sessions x candidates) and the ranking of one fold (top 500), on
  candles of the candidates' listed ranges (random prices and volumes: the simulation's own cost is the
  market's, measured above per ticker, not the ranking's).

    python benchmarks/universe.py            # 40 tickers timed through the clip
    python benchmarks/universe.py --tickers 10
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np
import pandas as pd

from fin_pipeline.core.calendar import nyse_sessions, session_timestamps
from fin_pipeline.core.settings import Settings
from fin_pipeline.features.universe import activity_panel, members_as_of
from fin_pipeline.sources.listings import listed_source
from fin_pipeline.sources.synthetic import SyntheticMarket

ENV = {
    "FIN_PIPELINE_UNIVERSE_RULE": "top:500:dollar_volume",
    "FIN_PIPELINE_START": "2006-01-03",
    "FIN_PIPELINE_END": "2025-12-31",
    "FIN_PIPELINE_FIRST_TEST_DATE": "2010-01-01",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=40, help="tickers timed through the listed-range clip")
    args = parser.parse_args()

    t0 = time.perf_counter()
    settings = Settings.from_env(ENV)
    loaded = time.perf_counter() - t0
    print(
        f"settings with {ENV['FIN_PIPELINE_UNIVERSE_RULE']}: pool of {len(settings.universe)}, loaded in {loaded:.2f} s"
    )

    market = SyntheticMarket(settings.seed)
    listed = listed_source(market, settings)
    tickers = settings.universe[: args.tickers]
    market.fetch(tickers[0], settings.start, settings.end)  # the market factor's cache, not timed
    plain = clip = 0.0
    for ticker in tickers:  # alternating, so that a noisy neighbour slows both alike
        t = time.perf_counter()
        market.fetch(ticker, settings.start, settings.end)
        plain += time.perf_counter() - t
        t = time.perf_counter()
        listed.fetch(ticker, settings.start, settings.end)
        clip += time.perf_counter() - t
    n = len(tickers)
    print(
        f"fetch per ticker, 20 years: bare market {plain / n * 1e3:.0f} ms, through the listed ranges "
        f"{clip / n * 1e3:.0f} ms: ratio {clip / plain:.3f}"
    )

    days = nyse_sessions(settings.start, settings.end)
    stamps = session_timestamps(days)
    rng = np.random.default_rng(0)
    frames = {}
    for x in settings.listings:
        first = x.first or settings.start
        last = min(x.last or settings.end, settings.end)
        keep = (days >= pd.Timestamp(first)) & (days <= pd.Timestamp(last))
        k = int(keep.sum())
        frames[x.ticker] = pd.DataFrame(
            {"timestamp": stamps[keep], "close": rng.lognormal(3, 1, k), "volume": rng.lognormal(14, 1, k)}
        )
    t = time.perf_counter()
    panel = activity_panel(frames, "dollar_volume")
    built = time.perf_counter() - t
    quarters = [dt.date(y, m, 1) for y in range(2010, 2026) for m in (1, 4, 7, 10)]
    t = time.perf_counter()
    counts = [len(members_as_of(panel, q, settings.universe_rule)) for q in quarters]
    ranked = (time.perf_counter() - t) / len(quarters)
    print(
        f"activity panel {panel.shape[0]} sessions x {panel.shape[1]} candidates: {built:.2f} s; ranking one fold "
        f"(top 500): {ranked * 1e3:.1f} ms; members per fold {min(counts)}..{max(counts)}"
    )


if __name__ == "__main__":
    main()
