"""The synthetic market's planted temporal signal: its IC is the one asked for, no single day carries it, and the
bars stay plausible and unchanged when it is off."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

import fin_pipeline.sources.synthetic as synthetic_module
from fin_pipeline.features.frame import build_feature_frame
from fin_pipeline.sources.planted import temporal_predictor
from fin_pipeline.sources.simulation import ORIGIN
from fin_pipeline.sources.synthetic import SyntheticMarket

D = dt.date
IC_TICKERS = tuple(f"IC{i:02d}" for i in range(20))
IC_START, IC_END = D(2012, 1, 1), D(2023, 12, 29)  # 3,018 sessions
AS_OF = D(2024, 6, 28)


def daily_ic(predictor: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    """Pearson correlation across tickers (rows) on each day (column): (N, T), (N, T) -> (T,), days where the
    predictor is the same for every ticker (the pattern's sign can be) dropped: no correlation is defined there."""
    x = predictor - predictor.mean(axis=0)
    y = outcome - outcome.mean(axis=0)
    spread = (x * x).sum(axis=0) > 0
    x, y = x[:, spread], y[:, spread]
    return (x * y).sum(axis=0) / np.sqrt((x * x).sum(axis=0) * (y * y).sum(axis=0))


def expected_mean_sample_ic(ic: float, n: int) -> float:
    """Mean of the sample correlation of ``n`` pairs with correlation ``ic`` (Fisher 1915; Olkin & Pratt 1958)."""
    return ic * (1.0 - (1.0 - ic * ic) / (2 * n))


def closes_and_opens(market: SyntheticMarket, tickers) -> tuple[np.ndarray, np.ndarray]:
    bars = [market.fetch(t, IC_START, IC_END) for t in tickers]
    return (np.log(np.stack([b[k].to_numpy() for b in bars])) for k in ("close", "open"))


@pytest.mark.parametrize(("signal_ic", "temporal_ic"), [(0.0, 0.1), (0.0, 0.0), (0.1, 0.1)])
def test_temporal_ic_is_the_ic_asked_for(signal_ic, temporal_ic):
    # The pattern recomputed by hand from the closes: q_t = sign(d_{t-6}) * sign(d_{t-9}), d the close-to-close log
    # return; the outcome is log(open_{t+2} / open_{t+1}), what the default execution earns from close t. Each
    # ticker's time-series correlation is e exactly (sources/planted.py); their mean over 20 tickers x ~3,000
    # days is within 3 standard errors of it.
    market = SyntheticMarket(seed=7, as_of=IC_END, signal_ic=signal_ic, temporal_ic=temporal_ic)
    log_close, log_open = closes_and_opens(market, IC_TICKERS)
    d = np.diff(log_close, axis=1)  # d[:, j] is day j + 1's return
    t = np.arange(10, log_close.shape[1] - 2)  # decision days with both lags and both opens
    q = np.sign(d[:, t - 1 - 6]) * np.sign(d[:, t - 1 - 9])
    outcome = log_open[:, t + 2] - log_open[:, t + 1]
    per_ticker = np.array([np.corrcoef(q[i], outcome[i])[0, 1] for i in range(len(IC_TICKERS))])
    se = 1.0 / np.sqrt(q.size)  # the correlations' sampling error, pooled: ~1 / sqrt(N T)
    assert abs(per_ticker.mean() - temporal_ic) < 3 * se, (per_ticker.mean(), se)
    # the cross-sectional IC is at least as strong (the day's demeaning takes the market's noise out)
    cross = daily_ic(q, outcome)
    assert len(cross) > 2900 and cross.mean() > temporal_ic - 3 * cross.std(ddof=1) / np.sqrt(len(cross))
    # the linear signal is still what it was beside it (its own predictor: today's return)
    linear = daily_ic(d[:, t - 1], outcome)
    cs_se = linear.std(ddof=1) / np.sqrt(len(linear))
    assert abs(linear.mean() - expected_mean_sample_ic(signal_ic, len(IC_TICKERS))) < 3 * cs_se, linear.mean()


def test_no_single_day_and_no_linear_path_carries_it():
    # Every feature column of the decision day, and ret_1d of each of the 30 days of the window taken alone, have
    # an IC with the outcome near zero, while the oracle (the pattern, recomputed from the window's ret_1d column)
    # has the planted one.
    tickers = IC_TICKERS[:8]
    market = SyntheticMarket(seed=7, as_of=IC_END, temporal_ic=0.1)
    frames = [build_feature_frame(market.fetch(t, IC_START, IC_END), t) for t in tickers]
    ok = np.logical_and.reduce([f["window_ok"].to_numpy() for f in frames])
    target = np.stack([f["target"].to_numpy(np.float64)[ok] for f in frames])
    ret = np.stack([f["ret_1d"].to_numpy(np.float64) for f in frames])
    rows = np.flatnonzero(ok)
    windows = np.stack([ret[:, rows - k] for k in range(29, -1, -1)], axis=-1)  # (N, days, 30), day t last
    oracle = daily_ic(temporal_predictor(windows), target)
    se = oracle.std(ddof=1) / np.sqrt(len(oracle))
    assert oracle.mean() > 0.1 - 3 * se, (oracle.mean(), se)  # planted.py: the cross-sectional IC is ~1.18 e
    for k in range(30):
        assert abs(daily_ic(windows[..., k], target).mean()) < 3.5 * se, k
    names = [c for c in frames[0].columns if c not in ("timestamp", "ticker", "target", "next_return", "window_ok")]
    for name in names:
        column = np.stack([f[name].to_numpy(np.float64)[ok] for f in frames])
        assert abs(daily_ic(column, target).mean()) < 3.5 * se, name


def test_off_leaves_the_linear_market_bit_identical(monkeypatch):
    for kw in ({}, {"signal_ic": 0.1}):
        a = SyntheticMarket(seed=7, as_of=AS_OF, **kw).fetch("AAPL", ORIGIN, AS_OF)
        b = SyntheticMarket(seed=7, as_of=AS_OF, temporal_ic=0.0, **kw).fetch("AAPL", ORIGIN, AS_OF)
        assert a.equals(b)

    def planted(*args, **kwargs):
        raise AssertionError("the planted path ran with both signals off")

    monkeypatch.setattr(synthetic_module, "_planted_deviation", planted)
    SyntheticMarket(seed=7, as_of=AS_OF, temporal_ic=0.0).fetch("MSFT", ORIGIN, AS_OF)


@pytest.mark.parametrize("temporal_ic", [0.1, 0.49])
def test_temporal_market_stays_plausible(temporal_ic):
    planted = SyntheticMarket(seed=7, as_of=AS_OF, temporal_ic=temporal_ic)
    unplanted = SyntheticMarket(seed=7, as_of=AS_OF)
    for ticker in ("AAPL", "NVDA"):
        c = planted.fetch(ticker, ORIGIN, AS_OF)["close"].to_numpy()
        assert c.min() >= 0.5 and c.max() <= 50_000
        base = np.diff(np.log(unplanted.fetch(ticker, ORIGIN, AS_OF)["close"].to_numpy())).std()
        assert abs(np.diff(np.log(c)).std() / base - 1) < 0.05, ticker


def test_a_bad_temporal_ic_is_refused_by_name():
    with pytest.raises(ValueError, match="temporal_ic"):
        SyntheticMarket(temporal_ic=-0.1)
    with pytest.raises(ValueError, match="temporal_ic"):
        SyntheticMarket(temporal_ic=0.5)
