"""The synthetic market: deterministic, range-independent, well-formed and statistically plausible."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import math

import numpy as np
import pandas as pd
import pytest

import fin_pipeline.sources.synthetic as synthetic_module
from fin_pipeline.core.calendar import nyse_sessions
from fin_pipeline.core.limits import MAX_SIGNAL_IC
from fin_pipeline.features.frame import build_feature_frame
from fin_pipeline.sources.base import RAW_COLUMNS, CandleError, candle_problems, session_dates
from fin_pipeline.sources.planted import PLANTED_GAP
from fin_pipeline.sources.simulation import ORIGIN
from fin_pipeline.sources.synthetic import SyntheticMarket

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


# --- the planted signal ----------------------------------------------------------------------------------------

# The unplanted market must not move by one bit when the signal is off. (A stored digest of the bars was tried: it
# depends on the CPU's vectorized exp/log and on library versions, so it failed on another machine with the same
# code.) Instead: with signal_ic 0 the planted path is never entered, and every way of saying "off" gives the same
# bars.
UNPLANTED_TICKERS = ("AAPL", "MSFT", "XOM", "BRK.B")
IC_TICKERS = tuple(f"IC{i:02d}" for i in range(20))
IC_START, IC_END = D(2012, 1, 1), D(2023, 12, 29)  # 3,018 sessions


def bars_sha256(market: SyntheticMarket, tickers, start: dt.date, end: dt.date) -> str:
    h = hashlib.sha256()
    for ticker in tickers:
        df = market.fetch(ticker, start, end)
        h.update(ticker.encode())
        h.update(df["timestamp"].astype("int64").to_numpy().tobytes())
        for col in RAW_COLUMNS[1:]:
            h.update(df[col].to_numpy(dtype=np.float64).tobytes())
    return h.hexdigest()


def daily_cross_sectional_ic(predictor: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    """Pearson correlation across tickers (rows) on each day (column): (N, T), (N, T) -> (T,)."""
    x = predictor - predictor.mean(axis=0)
    y = outcome - outcome.mean(axis=0)
    return (x * y).sum(axis=0) / np.sqrt((x * x).sum(axis=0) * (y * y).sum(axis=0))


def expected_mean_sample_ic(ic: float, n: int) -> float:
    """Mean of the sample correlation of ``n`` pairs with correlation ``ic`` (Fisher 1915; Olkin & Pratt 1958)."""
    return ic * (1.0 - (1.0 - ic * ic) / (2 * n))


def test_no_signal_leaves_every_bar_as_it_was(monkeypatch):
    def planted(*args, **kwargs):
        raise AssertionError("the planted path ran with the signal off")

    digests = set()
    for kw in ({}, {"signal_ic": 0}, {"signal_ic": 0.0}):
        market = SyntheticMarket(seed=7, as_of=AS_OF, **kw)
        with monkeypatch.context() as m:
            m.setattr(synthetic_module, "_planted_deviation", planted)
            digests.add(bars_sha256(market, UNPLANTED_TICKERS, ORIGIN, AS_OF))
    assert len(digests) == 1
    # and the signal does move the bars (so the digest would have seen a change)
    assert (
        bars_sha256(SyntheticMarket(seed=7, as_of=AS_OF, signal_ic=0.1), UNPLANTED_TICKERS, ORIGIN, AS_OF)
        not in digests
    )


@pytest.mark.parametrize("signal_ic", [0.0, 0.1])
def test_planted_ic_is_the_ic_asked_for(signal_ic):
    # The predictor, recomputed from the closes alone: ret_1d = log(close_t / close_{t-1}); the outcome is what a
    # book decided at close t and bought at the next open earns (the default execution): log(open_{t+2} /
    # open_{t+1}). 20 tickers x ~3,000 days; mean daily IC within 3 standard errors of its expectation.
    market = SyntheticMarket(seed=7, as_of=IC_END, signal_ic=signal_ic)
    bars = [market.fetch(t, IC_START, IC_END) for t in IC_TICKERS]
    log_close = np.log(np.stack([b["close"].to_numpy() for b in bars]))  # (N, T)
    log_open = np.log(np.stack([b["open"].to_numpy() for b in bars]))
    days = log_close.shape[1]
    ret_1d = log_close[:, 1 : days - 2] - log_close[:, : days - 3]  # days t = 1 .. T-3
    open_to_open = log_open[:, 3:days] - log_open[:, 2 : days - 1]  # open t+1 -> open t+2, same days
    ic = daily_cross_sectional_ic(ret_1d, open_to_open)
    assert len(ic) > 3000 and np.isfinite(ic).all()
    se = ic.std(ddof=1) / np.sqrt(len(ic))
    assert se < 0.007  # ~0.3 / sqrt(days): fat tails widen the daily IC beyond 1 / sqrt(N - 1)
    expected = expected_mean_sample_ic(signal_ic, len(IC_TICKERS))
    assert abs(ic.mean() - expected) < 3 * se, (ic.mean(), expected, se)
    # close t -> close t+1, not executable from a run after the close, sees the close-to-close loading c'
    close_ic = daily_cross_sectional_ic(ret_1d[:, :-1], ret_1d[:, 1:])
    loading = signal_ic * math.sqrt(1 + 2 * PLANTED_GAP**2)  # kappa: the planted gap's share of the daily sd
    assert abs(close_ic.mean() - expected_mean_sample_ic(loading, len(IC_TICKERS))) < 3 * se, close_ic.mean()


def test_planted_signal_is_in_the_feature_columns_the_model_sees():
    # End to end through the feature builder: the IC of the ret_1d column for the target (next_open, the
    # default: open t+1 -> open t+2), over usable rows.
    tickers = ("AAPL", "MSFT", "AMZN", "GOOGL", "META", "NVDA", "JPM", "XOM")
    market = SyntheticMarket(seed=7, as_of=IC_END, signal_ic=0.1)
    frames = [build_feature_frame(market.fetch(t, IC_START, IC_END), t) for t in tickers]
    ok = np.logical_and.reduce([f["window_ok"].to_numpy() for f in frames])
    ret_1d = np.stack([f["ret_1d"].to_numpy(dtype=np.float64)[ok] for f in frames])
    target = np.stack([f["target"].to_numpy(dtype=np.float64)[ok] for f in frames])
    close = market.fetch("AAPL", IC_START, IC_END)["close"].to_numpy()
    np.testing.assert_allclose(ret_1d[0], np.diff(np.log(close))[ok[1:]], rtol=1e-5, atol=1e-7)  # float32 column
    ic = daily_cross_sectional_ic(ret_1d, target)
    se = ic.std(ddof=1) / np.sqrt(len(ic))
    assert abs(ic.mean() - expected_mean_sample_ic(0.1, len(tickers))) < 3 * se, (ic.mean(), se)
    assert ic.mean() > 4 * se  # detectable at this size


def test_planted_bars_do_not_depend_on_the_range_asked_for():
    market = SyntheticMarket(seed=7, as_of=AS_OF, signal_ic=0.1)
    long = market.fetch("AAPL", D(2015, 1, 1), D(2020, 12, 31))
    for part in (
        market.fetch("AAPL", D(2019, 6, 1), D(2020, 12, 31)),
        market.fetch("AAPL", D(2019, 11, 12), D(2019, 11, 12)),
        market.fetch("AAPL", D(2019, 6, 1), D(2019, 11, 12)),
    ):
        overlap = long[long["timestamp"].isin(part["timestamp"])].reset_index(drop=True)
        pd.testing.assert_frame_equal(overlap, part.reset_index(drop=True), check_exact=True)
    before = SyntheticMarket(seed=7, as_of=D(2023, 12, 29), signal_ic=0.1).fetch("IBM", D(2023, 1, 1), D(2030, 1, 1))
    after = SyntheticMarket(seed=7, as_of=D(2024, 2, 1), signal_ic=0.1).fetch("IBM", D(2023, 1, 1), D(2030, 1, 1))
    pd.testing.assert_frame_equal(after.iloc[: len(before)], before, check_exact=True)
    unplanted = SyntheticMarket(seed=7, as_of=AS_OF).fetch("AAPL", D(2015, 1, 1), D(2020, 12, 31))
    assert not np.allclose(long["close"], unplanted["close"])


@pytest.mark.parametrize("signal_ic", [0.1, 0.49])
def test_planted_market_stays_plausible(signal_ic):
    planted = SyntheticMarket(seed=7, as_of=AS_OF, signal_ic=signal_ic)
    unplanted = SyntheticMarket(seed=7, as_of=AS_OF)
    for ticker in ("AAPL", "NVDA", "ZZZZ9"):
        df = planted.fetch(ticker, ORIGIN, AS_OF)
        assert all(rows == [] for rows in candle_problems(df).values()), candle_problems(df)
        o, h, lo, c = (df[k].to_numpy() for k in ("open", "high", "low", "close"))
        assert (lo < np.minimum(o, c)).all() and (np.maximum(o, c) < h).all()
        assert c.min() >= 0.5 and c.max() <= 50_000
        # the innovation is scaled by sqrt(1 - c**2), so the daily volatility is the unplanted one
        vol = np.diff(np.log(c)).std()
        base = np.diff(np.log(unplanted.fetch(ticker, ORIGIN, AS_OF)["close"].to_numpy())).std()
        assert abs(vol / base - 1) < 0.05, (ticker, vol, base)


def test_describe_names_the_planted_signal():
    assert "signal" not in SyntheticMarket(seed=3).describe()
    assert "signal_ic=0.1" in SyntheticMarket(seed=3, signal_ic=0.1).describe()


@pytest.mark.parametrize("bad", [-0.01, MAX_SIGNAL_IC, 0.9, float("nan"), float("inf"), "0.1", True, None])
def test_invalid_signal_ic_is_rejected(bad):
    with pytest.raises(ValueError, match="signal_ic"):
        SyntheticMarket(seed=7, signal_ic=bad)
