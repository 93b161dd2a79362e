"""The synthetic market: deterministic, range-independent, well-formed and statistically plausible."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd
import pytest

import fin_pipeline.sources.synthetic as synthetic_module
from fin_pipeline.sources.base import RAW_COLUMNS, CandleError, candle_problems, session_dates
from fin_pipeline.sources.calendar import nyse_sessions
from fin_pipeline.sources.synthetic import ORIGIN, SyntheticMarket

D = dt.date
AS_OF = D(2024, 6, 28)  # a fixed "today": results never depend on the day the tests run


@pytest.fixture(scope="module")
def market() -> SyntheticMarket:
    return SyntheticMarket(seed=7, as_of=AS_OF)


def dates_of(df: pd.DataFrame) -> list[dt.date]:
    return list(session_dates(df["timestamp"]))


def test_docstrings_say_the_data_is_synthetic():
    assert "synthetic" in synthetic_module.__doc__.lower()
    assert "not real" in synthetic_module.__doc__.lower()
    assert "synthetic" in SyntheticMarket.__doc__.lower()
    assert "not real" in SyntheticMarket.__doc__.lower()
    assert SyntheticMarket.name == "synthetic"
    assert "not real" in SyntheticMarket(seed=3).describe()


def test_schema_and_dtypes(market):
    df = market.fetch("AAPL", D(2020, 1, 1), D(2020, 3, 31))
    assert tuple(df.columns) == RAW_COLUMNS
    assert str(df["timestamp"].dtype) == "datetime64[ns, UTC]"
    for col in ("open", "high", "low", "close", "volume", "vwap"):
        assert df[col].dtype == np.float64, col
    assert str(df["transactions"].dtype) == "Int64"
    assert df["vwap"].notna().all() and df["transactions"].notna().all()
    assert (df["transactions"] >= 1).all()
    # Midnight New York, in UTC: 05:00Z in winter, 04:00Z in summer.
    assert df["timestamp"].iloc[0] == pd.Timestamp("2020-01-02T05:00:00Z")
    assert pd.Timestamp("2020-03-31T04:00:00Z") == df["timestamp"].iloc[-1]
    assert dates_of(df) == [d.date() for d in nyse_sessions(D(2020, 1, 1), D(2020, 3, 31))]


def test_same_seed_same_frames_different_seed_different():
    a = SyntheticMarket(seed=7, as_of=AS_OF).fetch("MSFT", D(2018, 1, 1), D(2019, 12, 31))
    b = SyntheticMarket(seed=7, as_of=AS_OF).fetch("MSFT", D(2018, 1, 1), D(2019, 12, 31))
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    c = SyntheticMarket(seed=8, as_of=AS_OF).fetch("MSFT", D(2018, 1, 1), D(2019, 12, 31))
    assert (a["timestamp"] == c["timestamp"]).all()
    assert not np.allclose(a["close"], c["close"])
    other = SyntheticMarket(seed=7, as_of=AS_OF).fetch("XOM", D(2018, 1, 1), D(2019, 12, 31))
    assert not np.allclose(a["close"], other["close"])


def test_bars_do_not_depend_on_the_range_asked_for(market):
    long = market.fetch("AAPL", D(2015, 1, 1), D(2020, 12, 31))
    short = market.fetch("AAPL", D(2019, 6, 1), D(2020, 12, 31))
    one_day = market.fetch("AAPL", D(2019, 11, 12), D(2019, 11, 12))
    older_end = market.fetch("AAPL", D(2019, 6, 1), D(2019, 11, 12))  # a shorter simulation underneath
    assert len(one_day) == 1
    for part in (short, one_day, older_end):
        overlap = long[long["timestamp"].isin(part["timestamp"])].reset_index(drop=True)
        assert len(overlap) == len(part)
        pd.testing.assert_frame_equal(overlap, part.reset_index(drop=True), check_exact=True)


def test_incremental_fetches_concatenate_to_one_fetch(market):
    first = market.fetch("NVDA", D(2010, 1, 1), D(2019, 12, 31))
    second = market.fetch("NVDA", D(2020, 1, 1), D(2020, 6, 30))
    whole = market.fetch("NVDA", D(2010, 1, 1), D(2020, 6, 30))
    glued = pd.concat([first, second], ignore_index=True)
    pd.testing.assert_frame_equal(glued, whole, check_exact=True)


def test_moving_as_of_forward_only_appends():
    before = SyntheticMarket(seed=7, as_of=D(2023, 12, 29)).fetch("IBM", D(2023, 1, 1), D(2030, 1, 1))
    after = SyntheticMarket(seed=7, as_of=D(2024, 2, 1)).fetch("IBM", D(2023, 1, 1), D(2030, 1, 1))
    assert dates_of(before)[-1] == D(2023, 12, 29)
    assert dates_of(after)[-1] == D(2024, 2, 1)
    pd.testing.assert_frame_equal(after.iloc[: len(before)], before, check_exact=True)


def test_only_nyse_sessions(market):
    df = market.fetch("SPY", D(2020, 6, 29), D(2020, 12, 31))
    dates = set(dates_of(df))
    assert D(2020, 12, 25) not in dates  # Christmas
    assert D(2020, 7, 3) not in dates  # Independence Day observed (the 4th was a Saturday)
    assert D(2020, 7, 4) not in dates and D(2020, 7, 5) not in dates  # weekend
    assert D(2020, 11, 26) not in dates  # Thanksgiving
    assert D(2020, 12, 24) in dates and D(2020, 7, 2) in dates and D(2020, 7, 6) in dates
    assert sorted(dates) == [d.date() for d in nyse_sessions(D(2020, 6, 29), D(2020, 12, 31))]
    assert market.fetch("SPY", D(2020, 12, 25), D(2020, 12, 25)).empty


@pytest.mark.parametrize("ticker", ["AAPL", "MSFT", "BRK.B", "XOM", "T", "ZZZZ9"])
def test_long_history_is_well_formed(market, ticker):
    df = market.fetch(ticker, D(1980, 1, 1), D(2030, 1, 1))  # clipped to [origin, as_of]
    assert dates_of(df)[0] == ORIGIN and dates_of(df)[-1] == AS_OF
    assert all(rows == [] for rows in candle_problems(df).values()), candle_problems(df)
    o, h, lo, c, v = (df[k].to_numpy() for k in ("open", "high", "low", "close", "vwap"))
    assert (lo > 0).all() and np.isfinite(h).all()
    # strict: the wicks extend beyond the body
    assert (lo < np.minimum(o, c)).all() and (np.maximum(o, c) < h).all()
    assert ((lo <= v) & (v <= h)).all()
    assert (df["volume"] > 0).all()
    assert 1 <= df["close"].iloc[0] <= 1000 and 0.5 <= df["close"].iloc[-1] <= 50_000


def test_statistics_are_plausible(market):
    tickers = ["AAPL", "MSFT", "JPM", "KO", "XOM", "NVDA"]
    returns = {}
    for t in tickers:
        close = market.fetch(t, D(2000, 1, 1), D(2019, 12, 31))["close"].to_numpy()
        returns[t] = r = np.diff(np.log(close))
        vol = r.std() * np.sqrt(252)
        assert 0.08 < vol < 0.80, (t, vol)
        assert pd.Series(r).kurt() > 1.0, t  # fat tails from jumps and stochastic vol
        a = np.abs(r)
        assert np.corrcoef(a[:-1], a[1:])[0, 1] > 0.05, t  # volatility clustering
    corr = [np.corrcoef(returns[a], returns[b])[0, 1] for a, b in itertools.combinations(tickers, 2)]
    assert np.mean(corr) > 0.2 and max(corr) < 0.95, corr
    assert min(corr) > 0


def test_volume_rises_with_the_size_of_the_move(market):
    df = market.fetch("AMZN", D(2000, 1, 1), D(2019, 12, 31))
    r = np.abs(np.diff(np.log(df["close"].to_numpy())))
    log_volume = np.log(df["volume"].to_numpy()[1:])
    assert np.corrcoef(r, log_volume)[0, 1] > 0.2
    median = np.median(df["volume"])
    assert 2e5 < median < 1e8


def test_future_and_pre_origin_ranges_are_empty(market):
    for start, end in [
        (D(2024, 7, 1), D(2024, 12, 31)),
        (D(2100, 1, 1), D(2100, 1, 31)),
        (D(1985, 1, 1), D(1989, 12, 31)),
    ]:
        df = market.fetch("AAPL", start, end)
        assert df.empty and tuple(df.columns) == RAW_COLUMNS
    assert market.fetch("AAPL", D(2020, 2, 1), D(2020, 1, 1)).empty  # start after end
    # default as_of is today: nothing after it
    assert SyntheticMarket().fetch("AAPL", dt.date.today() + dt.timedelta(days=1), D(2100, 1, 1)).empty


def test_ticker_case_does_not_matter(market):
    a = market.fetch("aapl", D(2020, 1, 1), D(2020, 1, 31))
    b = market.fetch("AAPL", D(2020, 1, 1), D(2020, 1, 31))
    pd.testing.assert_frame_equal(a, b, check_exact=True)


@pytest.mark.parametrize("bad", ["", "AA PL", "AAPL/B", "ÄPL", "$SPX"])
def test_invalid_ticker_is_rejected_by_name(market, bad):
    with pytest.raises(CandleError, match="invalid ticker"):
        market.fetch(bad, D(2020, 1, 1), D(2020, 1, 31))


def test_invalid_seed_is_rejected():
    with pytest.raises(ValueError, match="seed"):
        SyntheticMarket(seed=-1)
