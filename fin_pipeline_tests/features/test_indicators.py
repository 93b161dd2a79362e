import math

import numpy as np
import pandas as pd
import pytest

from fin_pipeline.features import indicators
from fin_pipeline.features.columns import compute_features
from fin_pipeline.features.cost_inputs import COST_INPUTS
from fin_pipeline.features.frame import (
    FeatureError,
    build_feature_frame,
    compute_target,
    min_candles,
    nonfinite_usable_rows,
)
from fin_pipeline.features.indicators import FEATURE_COLUMNS, INDICATORS, WARMUP, WINDOW
from fin_pipeline_tests.features import synthetic_candles


@pytest.fixture(scope="module")
def candles():
    return synthetic_candles(400)


# ---------------------------------------------------------------- the feature set


def test_34_indicators_give_40_unique_float32_columns_documented_in_the_docstring(candles):
    assert len(INDICATORS) == 34
    assert len(FEATURE_COLUMNS) == 40 == len(set(FEATURE_COLUMNS))
    assert indicators.indicator_table() in indicators.__doc__
    features = compute_features(candles)
    assert list(features.columns) == list(FEATURE_COLUMNS)
    assert (features.dtypes == np.float32).all()
    assert len(features) == len(candles)


@pytest.mark.parametrize("ticker", ["AAPL", "XOM", "NVDA"])
def test_warmup_is_the_first_row_where_every_column_is_finite(ticker):
    features = compute_features(synthetic_candles(300, ticker=ticker)).to_numpy()
    finite = np.isfinite(features).all(axis=1)
    assert int(np.argmax(finite)) == WARMUP
    assert finite[WARMUP:].all()
    # The slowest column sets the warm-up: each column becomes finite at its own lookback.
    first = {col: int(np.argmax(np.isfinite(features[:, j]))) for j, col in enumerate(FEATURE_COLUMNS)}
    assert max(first.values()) == WARMUP and first["close_sma50"] == WARMUP


def test_columns_are_scale_free(candles):
    """Prices x 37 and volume x 11 leave every feature unchanged (up to float32 round-off)."""
    scaled = candles.copy()
    for col in ("open", "high", "low", "close", "vwap"):
        scaled[col] = scaled[col] * 37.0
    scaled["volume"] = scaled["volume"] * 11.0
    a = compute_features(candles).to_numpy()[WARMUP:]
    b = compute_features(scaled).to_numpy()[WARMUP:]
    # volume_z20 uses log(1 + volume): invariant up to 1/volume (volume is ~1e6 here).
    np.testing.assert_allclose(b, a, rtol=2e-4, atol=2e-5)


def test_target_is_the_log_return_to_close_h_days_later(candles):
    close = candles["close"].to_numpy()
    for h in (1, 3):
        target = compute_target(close, h)
        assert target.dtype == np.float32
        np.testing.assert_allclose(target[:-h], np.log(close[h:] / close[:-h]), rtol=1e-6)
        assert np.isnan(target[-h:]).all()
    with pytest.raises(ValueError, match="horizon"):
        compute_target(close, 0)


@pytest.mark.parametrize("execution", ["next_open", "next_close", "close"])
@pytest.mark.parametrize("horizon", [1, 5])
def test_window_ok_marks_full_finite_windows_with_a_known_target(candles, horizon, execution):
    frame = build_feature_frame(candles, "AAPL", horizon=horizon, execution=execution)
    assert list(frame.columns) == ["timestamp", *FEATURE_COLUMNS, "target", "next_return", "window_ok", *COST_INPUTS]
    assert frame["timestamp"].equals(candles["timestamp"])
    # the trading-cost inputs ride along, every one finite on a usable row (the warm-up covers their windows)
    assert np.isfinite(frame.loc[frame["window_ok"], list(COST_INPUTS)].to_numpy()).all()
    lag = 0 if execution == "close" else 1  # the book enters the session after the decision
    ok = frame["window_ok"].to_numpy()
    expected = np.zeros(len(candles), dtype=bool)
    expected[WARMUP + WINDOW - 1 : len(candles) - horizon - lag] = True  # the target is known on day t + h + lag
    np.testing.assert_array_equal(ok, expected)
    assert len(nonfinite_usable_rows(frame)) == 0
    # the target and one-day return, by hand from the execution's prices: open for next_open, else close
    price = candles["open" if execution == "next_open" else "close"].to_list()
    for t in (WARMUP + WINDOW - 1, len(candles) - horizon - lag - 1):
        want = math.log(price[t + lag + horizon] / price[t + lag])
        assert frame["target"].iloc[t] == pytest.approx(want, rel=1e-5, abs=1e-7)
        want_1d = math.log(price[t + lag + 1] / price[t + lag])
        assert frame["next_return"].iloc[t] == pytest.approx(want_1d, rel=1e-5, abs=1e-7)
    assert frame.attrs == {"execution": execution, "untradable": 0}


# ---------------------------------------------------------------- values against hand computation
# Plain-Python recurrences with TA-Lib's seeding conventions (the first value of a Wilder average or an
# EMA is the simple mean of the first `period` inputs); no talib call.


def wilder(values, period, first):
    """Wilder's smoothing of ``values`` whose first output is at ``first``: the mean of the period ending there."""
    out = [math.nan] * len(values)
    avg = sum(values[first - period + 1 : first + 1]) / period
    out[first] = avg
    for i in range(first + 1, len(values)):
        avg = (avg * (period - 1) + values[i]) / period
        out[i] = avg
    return out


def ema(values, period, first):
    """EMA with k = 2/(period+1), seeded at ``first`` with the mean of the ``period`` values ending there."""
    k = 2.0 / (period + 1)
    out = [math.nan] * len(values)
    prev = sum(values[first - period + 1 : first + 1]) / period
    out[first] = prev
    for i in range(first + 1, len(values)):
        prev = prev + k * (values[i] - prev)
        out[i] = prev
    return out


@pytest.fixture(scope="module")
def small():
    return synthetic_candles(90, ticker="MSFT")


def assert_column(features, column, expected, rtol=2e-5, atol=1e-7):
    got = features[column].to_numpy(dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected), err_msg=f"{column}: NaN positions differ")
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True, err_msg=column)


def test_rsi14_matches_wilders_definition(small):
    close = small["close"].tolist()
    gains = [0.0] + [max(close[i] - close[i - 1], 0.0) for i in range(1, len(close))]
    losses = [0.0] + [max(close[i - 1] - close[i], 0.0) for i in range(1, len(close))]
    avg_gain, avg_loss = wilder(gains, 14, 14), wilder(losses, 14, 14)
    rsi = [g / (g + lo) if not math.isnan(g) else math.nan for g, lo in zip(avg_gain, avg_loss, strict=True)]
    assert_column(compute_features(small), "rsi14", rsi)


def test_macd_12_26_9_matches_ema_recurrences(small):
    close = small["close"].tolist()
    n = len(close)
    # TA-Lib starts both EMAs on the slow one's first day (row 25); the signal EMA(9) of the MACD line
    # then starts on row 25 + 8 = 33, and all three outputs begin there.
    fast, slow = ema(close, 12, 25), ema(close, 26, 25)
    line = [math.nan] * 25 + [fast[i] - slow[i] for i in range(25, n)]
    signal = [math.nan] * 25 + ema(line[25:], 9, 8)
    line = [math.nan] * 33 + line[33:]
    hist = [a - b for a, b in zip(line, signal, strict=True)]
    features = compute_features(small)
    for column, values in (("macd", line), ("macd_signal", signal), ("macd_hist", hist)):
        assert_column(features, column, [v / c for v, c in zip(values, close, strict=True)], rtol=1e-4, atol=1e-7)


def test_atr14_matches_wilders_true_range_average(small):
    high, low, close = small["high"].tolist(), small["low"].tolist(), small["close"].tolist()
    tr = [math.nan] + [
        max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1])) for i in range(1, len(close))
    ]
    atr = wilder(tr, 14, 14)
    assert_column(compute_features(small), "atr14", [a / c for a, c in zip(atr, close, strict=True)])


def test_simple_price_columns_match_their_formulas(small):
    f = compute_features(small)
    o, h, lo, c, vwap = (small[k].to_numpy() for k in ("open", "high", "low", "close", "vwap"))
    assert_column(f, "ret_1d", np.r_[np.nan, np.log(c[1:] / c[:-1])])
    assert_column(f, "ret_5d", np.r_[[np.nan] * 5, np.log(c[5:] / c[:-5])])
    assert_column(f, "gap", np.r_[np.nan, np.log(o[1:] / c[:-1])])
    assert_column(f, "hl_range", (h - lo) / c)
    assert_column(f, "body", np.log(c / o))
    assert_column(f, "close_vwap", np.log(c / vwap))
    assert_column(f, "clv", ((c - lo) - (h - c)) / (h - lo))
    assert_column(f, "close_sma10", np.r_[[np.nan] * 9, c[9:] / np.convolve(c, np.ones(10) / 10, "valid") - 1])


# ---------------------------------------------------------------- bad input


def test_too_few_candles_names_the_ticker_and_the_count(candles):
    need = min_candles()  # the default execution, next_open: the target of day t ends at the open of t + 2
    assert need == WARMUP + WINDOW + 2
    assert min_candles(execution="close") == WARMUP + WINDOW + 1
    with pytest.raises(FeatureError, match=rf"ZZZ: {need - 1} candle\(s\), need at least {need}"):
        build_feature_frame(candles.iloc[: need - 1], "ZZZ")
    assert build_feature_frame(candles.iloc[:need], "ZZZ")["window_ok"].sum() == 1
    with pytest.raises(FeatureError, match="ZZZ: 0 candle"):
        build_feature_frame(candles.iloc[:0], "ZZZ")


def test_nan_in_ohlcv_is_refused(candles):
    bad = candles.copy()
    bad.loc[100, "close"] = np.nan
    with pytest.raises(FeatureError, match="ZZZ: 1 candle"):
        build_feature_frame(bad, "ZZZ")


def usable_rows_are_finite(frame):
    """Every row a usable window reads, and every usable target, is finite; returns the usable count."""
    assert len(nonfinite_usable_rows(frame)) == 0
    ok = frame["window_ok"].to_numpy()
    features = frame[list(FEATURE_COLUMNS)].to_numpy()
    for end in np.flatnonzero(ok):
        assert np.isfinite(features[end - WINDOW + 1 : end + 1]).all()
    assert np.isfinite(frame["target"].to_numpy()[ok]).all()
    return int(ok.sum())


def flatten(candles, rows):
    """Rows where nothing trades: every price equals the previous close, volume 0."""
    out = candles.copy()
    price = out.loc[rows.start - 1, "close"]
    for col in ("open", "high", "low", "close", "vwap"):
        out.loc[rows.start : rows.stop - 1, col] = price
    out.loc[rows.start : rows.stop - 1, "volume"] = 0.0
    return out


def test_zero_volume_days_give_finite_usable_rows(candles):
    bad = candles.copy()
    bad.loc[150:185, "volume"] = 0.0  # 36 days: longer than every volume window
    bad.loc[[60, 61, 250], "volume"] = 0.0
    frame = build_feature_frame(bad, "ZZZ")
    assert usable_rows_are_finite(frame) == len(bad) - min_candles() + 1
    quiet = frame.iloc[170:186]
    assert (quiet["obv_change10"] == 0).all()
    assert (quiet["mfi14"] == 0.5).all()  # no money flow: mid-scale, not "oversold"
    # ADOSC and its EMA(10)-of-volume scale decay at the same rate without trades: the ratio holds, finite.
    assert np.ptp(quiet["adosc"].to_numpy()) < 1e-3 and abs(quiet["adosc"]).max() < 5


def test_flat_prices_give_finite_usable_rows_and_neutral_oscillators(candles):
    frame = build_feature_frame(flatten(candles, range(150, 190)), "ZZZ")
    assert usable_rows_are_finite(frame) == len(candles) - min_candles() + 1
    flat = frame.iloc[180:190]  # 30+ flat rows: every window below sees no range
    for column, neutral in [("stoch_k", 0.5), ("stoch_d", 0.5), ("willr14", -0.5), ("ultosc", 0.5), ("mfi14", 0.5)]:
        assert (flat[column] == np.float32(neutral)).all(), column
    for column in ("hl_range", "clv", "body", "gap", "ret_1d", "ret_std_5d", "cci20", "volume_z20", "obv_change10"):
        assert (flat[column] == 0).all(), column
    for column in ("atr14", "natr5"):  # Wilder averages of a zero true range decay towards 0
        assert (np.diff(flat[column].to_numpy()) < 0).all(), column


def test_a_series_flat_from_the_start_gives_finite_rows_with_rsi_at_mid_scale(candles):
    flat = candles.copy()
    for col in ("open", "high", "low", "close", "vwap"):
        flat[col] = 50.0
    flat["volume"] = 1000.0
    frame = build_feature_frame(flat, "ZZZ")
    assert usable_rows_are_finite(frame) == len(flat) - min_candles() + 1
    ok = frame[frame["window_ok"]]
    assert (ok["rsi14"] == 0.5).all() and (ok["bb_pctb"] == 0.5).all() and (ok["volume_z20"] == 0).all()


def test_gaps_a_20pct_overnight_jump_and_missing_sessions_give_finite_usable_rows(candles):
    bad = candles.drop(index=range(200, 215)).reset_index(drop=True)  # three weeks of sessions missing
    jump = 1.2 * bad.loc[249, "close"]
    scale = jump / bad.loc[250, "open"]
    for col in ("open", "high", "low", "close", "vwap"):
        bad.loc[250:, col] *= scale  # the whole path lifts 20% overnight at row 250
    frame = build_feature_frame(bad, "ZZZ")
    assert usable_rows_are_finite(frame) == len(bad) - min_candles() + 1
    assert frame.loc[250, "gap"] == pytest.approx(math.log(1.2), rel=1e-6)
    # next_open (the default): the book decided at close 248 is bought at open 249 and sold at open 250, so its
    # target catches the jump; the book decided at close 249 enters after it
    assert frame.loc[248, "target"] == pytest.approx(math.log(bad.loc[250, "open"] / bad.loc[249, "open"]), rel=1e-6)
    assert frame.loc[249, "target"] == pytest.approx(math.log(bad.loc[251, "open"] / bad.loc[250, "open"]), rel=1e-6)
    close = build_feature_frame(bad, "ZZZ", execution="close")
    assert close.loc[249, "target"] == pytest.approx(math.log(bad.loc[250, "close"] / bad.loc[249, "close"]), rel=1e-6)


def test_missing_vwap_falls_back_to_the_typical_price(candles):
    bad = candles.copy()
    bad["vwap"] = np.nan  # a vendor CSV file
    bad.loc[10:20, "vwap"] = candles.loc[10:20, "vwap"]  # and a partly filled one
    frame = build_feature_frame(bad, "ZZZ")
    assert usable_rows_are_finite(frame) == len(bad) - min_candles() + 1
    h, lo, c = (bad[k].to_numpy() for k in ("high", "low", "close"))
    expected = np.log(c / ((h + lo + c) / 3))
    np.testing.assert_allclose(frame["close_vwap"].to_numpy()[30:], expected[30:], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        frame["close_vwap"].to_numpy()[10:21], np.log(c / candles["vwap"].to_numpy())[10:21], rtol=1e-5, atol=1e-7
    )
    # Only close_vwap depends on vwap.
    others = [col for col in FEATURE_COLUMNS if col != "close_vwap"]
    pd.testing.assert_frame_equal(frame[others], build_feature_frame(candles, "ZZZ")[others])


def test_tiny_and_empty_inputs_do_not_crash():
    candles = synthetic_candles(60)
    for rows in (0, 1, 2, 5, 30):
        features = compute_features(candles.iloc[:rows])
        assert features.shape == (rows, 40)


def test_a_missing_open_reads_as_no_gap_and_no_body_and_its_day_is_not_traded(candles):
    bad = candles.copy()
    bad.loc[150, "open"] = np.nan  # a vendor's missing open (an open of 0 arrives as NaN: sources/base.py)
    frame = build_feature_frame(bad, "ZZZ")
    assert frame.loc[150, ["gap", "body"]].tolist() == [0.0, 0.0]  # the guards' neutral value: finite
    assert frame.attrs["untradable"] == 1
    # next_open: row 148 exits at open 150 and row 149 enters there: neither is usable; 147 and 150 are
    assert frame.loc[147:150, "window_ok"].tolist() == [True, False, False, True]
    assert np.isnan(frame.loc[148:149, "next_return"]).all()
    # the close-to-close conventions do not trade at the open: nothing is lost there
    close = build_feature_frame(bad, "ZZZ", execution="next_close")
    assert close.attrs["untradable"] == 0 and close.loc[147:150, "window_ok"].all()
