"""One small in-process build with a point-in-time rule: top 2 of the 3 conftest tickers by dollar volume, the
busiest delisted mid-way through the first fold's test block (a membership CSV)."""

from __future__ import annotations

import datetime as dt

import pytest

from fin_pipeline.core.settings import load_settings
from fin_pipeline.sources.synthetic import SyntheticMarket
from fin_pipeline.store.parquet import read_json, read_parquet
from fin_pipeline_tests.defs.assets.test_walk_forward import (
    CANDLES,
    TICKERS,
    failure_message,
    make_defs,
    run,
    train_config,
)

FOLDS = ["2020-10-01", "2021-01-01"]
DELISTED_ON = dt.date(2020, 11, 13)


@pytest.fixture(scope="module")
def ruled(tmp_path_factory):
    """The busiest ticker before the first fold (as the rule ranks it, computed here from the market directly) is
    delisted on DELISTED_ON; both folds built through trained models and metrics."""
    market = SyntheticMarket(seed=7, as_of=dt.date(2021, 6, 30))
    frames = {t: market.fetch(t, dt.date(2018, 1, 2), dt.date(2020, 9, 30)) for t in TICKERS}
    busiest = max(TICKERS, key=lambda t: (frames[t]["close"] * frames[t]["volume"]).iloc[-63:].median())
    folder = tmp_path_factory.mktemp("ruled")
    members = folder / "members.csv"
    members.write_text("ticker,from,to\n" + "".join(f"{t},,{DELISTED_ON if t == busiest else ''}\n" for t in TICKERS))
    patch = pytest.MonkeyPatch()
    patch.setenv("FIN_PIPELINE_UNIVERSE_RULE", "top:2:dollar_volume")
    patch.setenv("FIN_PIPELINE_MEMBERSHIP_CSV", str(members))
    load_settings.cache_clear()
    try:
        assert load_settings().universe == tuple(TICKERS)  # the pool: the ticker partitions, unchanged
        root = folder / "data"
        defs = make_defs(root)
        results = [run(defs, "candles_job", t, CANDLES) for t in TICKERS]
        results += [run(defs, "walk_forward_job", f, train_config()) for f in FOLDS]
        assert all(r.success for r in results), [failure_message(r) for r in results if not r.success]
        yield root, busiest
    finally:
        patch.undo()
        load_settings.cache_clear()


def test_folds_hold_their_universe_as_of_their_test_start(ruled):
    root, busiest = ruled
    others = [t for t in TICKERS if t != busiest]
    first, second = (read_json(root / "folds" / f"{fold}.json") for fold in FOLDS)
    assert first["universe"]["rule"] == second["universe"]["rule"] == "top:2:dollar_volume"
    assert busiest in first["universe"]["tickers"] and first["universe"]["count"] == 2
    assert first["train_tickers"] == 2  # trained on its universe only, not on the pool of 3
    assert second["universe"]["tickers"] == sorted(others) and second["train_tickers"] == 2
    assert second["universe"]["left"] == [busiest]
    assert second["universe"]["entered"] == sorted(set(others) - set(first["universe"]["tickers"]))
    # the delisted stock's history stops on its delisting day, and its last realized window is scored
    raw, _ = read_parquet(root / "raw_candles" / f"{busiest}.parquet")
    assert raw["timestamp"].dt.tz_convert("America/New_York").dt.date.max() == DELISTED_ON
    features, _ = read_parquet(root / "feature_windows" / f"{busiest}.parquet")
    last_window = features.loc[features["window_ok"], "timestamp"].dt.tz_convert("America/New_York").dt.date.max()
    predictions = {f: read_parquet(root / "metrics" / f / "predictions.parquet")[0] for f in FOLDS}
    held = predictions[FOLDS[0]].loc[predictions[FOLDS[0]]["ticker"] == busiest, "date"]
    assert held.max().date() == last_window and DELISTED_ON - last_window < dt.timedelta(days=7)
    assert set(predictions[FOLDS[0]]["ticker"]) == set(first["universe"]["tickers"])
    assert set(predictions[FOLDS[1]]["ticker"]) == set(others)
