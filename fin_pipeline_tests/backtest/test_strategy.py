import math

import numpy as np
import pandas as pd
import pytest

from fin_pipeline.backtest import BUY_AND_HOLD, backtest, backtest_all, buy_and_hold, positions_from_predictions


def frame(rows: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    """(date, ticker, target, model) rows."""
    df = pd.DataFrame(rows, columns=["date", "ticker", "target", "model"])
    return df.assign(date=pd.to_datetime(df["date"]))


def random_market(days: int = 250, tickers: int = 5, seed: int = 0) -> pd.DataFrame:
    """A prediction frame shaped like walkforward's: iid log-return targets and a noise ``model``."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2021-01-04", periods=days)
    names = [f"T{i}" for i in range(tickers)]
    df = pd.DataFrame([(d, t) for d in dates for t in names], columns=["date", "ticker"]).assign(
        target=rng.normal(0.0003, 0.02, days * tickers), model=rng.normal(0, 0.01, days * tickers)
    )
    df["zero"] = 0.0
    df["momentum"] = df.groupby("ticker")["target"].shift(1).fillna(0.0)  # yesterday's realized return: legal
    df["ridge"] = rng.normal(0, 0.01, len(df))
    return df


# --------------------------------------------------------------------------------------------- positions


def test_sign_positions_are_equal_risk_across_the_days_tickers():
    df = frame([("2020-01-02", "A", 0.0, 0.3), ("2020-01-02", "B", 0.0, -0.1), ("2020-01-02", "C", 0.0, 0.0),
                ("2020-01-03", "A", 0.0, 2.0), ("2020-01-03", "B", 0.0, np.nan)])  # fmt: skip
    w = positions_from_predictions(df)["weight"].to_numpy()
    np.testing.assert_allclose(w, [1 / 3, -1 / 3, 0.0, 1 / 2, 0.0])  # a zero or NaN prediction holds nothing
    long_only = positions_from_predictions(df, long_only=True)["weight"].to_numpy()
    np.testing.assert_allclose(long_only, [1 / 3, 0.0, 0.0, 1 / 2, 0.0])


def test_scaled_positions_divide_by_the_days_mean_abs_prediction_and_cap():
    df = frame([("2020-01-02", "A", 0.0, 0.3), ("2020-01-02", "B", 0.0, -0.1), ("2020-01-02", "C", 0.0, 0.2),
                ("2020-01-02", "D", 0.0, 0.0)])  # fmt: skip
    # mean |p| over nonzero predictions = 0.2 -> signals 1.5, -0.5, 1.0, 0 -> cap 1.0 -> 1, -0.5, 1, 0; / 4 tickers
    w = positions_from_predictions(df, mode="scaled", cap=1.0)["weight"].to_numpy()
    np.testing.assert_allclose(w, [0.25, -0.125, 0.25, 0.0])
    w2 = positions_from_predictions(df, mode="scaled", cap=2.0)["weight"].to_numpy()
    np.testing.assert_allclose(w2, [1.5 / 4, -0.5 / 4, 1.0 / 4, 0.0])
    with pytest.raises(ValueError, match="mode"):
        positions_from_predictions(df, mode="kelly")


# ------------------------------------------------------------------------------- returns, turnover, costs


def test_returns_turnover_and_costs_by_hand():
    r = 0.01
    df = frame([("2020-01-02", "A", r, 1.0), ("2020-01-02", "B", -r, 1.0),
                ("2020-01-03", "A", r, 1.0), ("2020-01-03", "B", -r, -1.0),
                ("2020-01-06", "A", r, 1.0), ("2020-01-06", "B", -r, -1.0),
                ("2020-01-07", "A", 2 * r, 1.0)])  # fmt: skip  # the last day has one ticker only
    res = backtest(df, "model", cost_bps=10.0)
    d = res.daily
    up, down = math.exp(r) - 1, math.exp(-r) - 1  # log targets become simple returns per ticker
    np.testing.assert_allclose(d["gross_return"], [0.5 * up + 0.5 * down, 0.5 * up - 0.5 * down,
                                                   0.5 * up - 0.5 * down, math.exp(2 * r) - 1])  # fmt: skip
    # w: (.5,.5) -> (.5,-.5) -> (.5,-.5) -> (1, 0): turnover 1 (entry), 1, 0, |1-.5| + |0+.5| = 1
    np.testing.assert_allclose(d["turnover"], [1.0, 1.0, 0.0, 1.0])
    np.testing.assert_allclose(d["cost"], d["turnover"] * 10 / 1e4)
    np.testing.assert_allclose(d["exposure"], [1.0, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(d["net_return"], d["gross_return"] - d["cost"])
    np.testing.assert_allclose(d["equity"], np.cumprod(1 + d["net_return"]))
    assert list(d["date"]) == list(pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"]))


def test_costs_reduce_returns_by_exactly_turnover_times_bps():
    df = random_market(days=60)
    free, costly = backtest(df, cost_bps=0.0, mode="scaled"), backtest(df, cost_bps=7.5, mode="scaled")
    np.testing.assert_allclose(free.daily["gross_return"], costly.daily["gross_return"])
    np.testing.assert_allclose(free.daily["net_return"] - costly.daily["net_return"],
                               costly.daily["turnover"] * 7.5 / 1e4, rtol=0, atol=1e-15)  # fmt: skip
    assert (costly.daily["turnover"] > 0).all()  # a scaled noise predictor trades every day


def test_buy_and_hold_is_long_every_ticker_and_trades_only_at_entry():
    df = random_market(days=20, tickers=4)
    res = buy_and_hold(df, cost_bps=5.0)
    np.testing.assert_allclose(res.positions["weight"], 0.25)
    expected = df.groupby("date")["target"].apply(lambda t: np.mean(np.expm1(t)))
    np.testing.assert_allclose(res.daily["gross_return"], expected.to_numpy())
    np.testing.assert_allclose(res.daily["turnover"], [1.0] + [0.0] * 19)


def test_backtest_all_runs_every_predictor_and_buy_and_hold_on_the_same_days():
    df = random_market(days=30)
    out = backtest_all(df)
    assert set(out) == {"model", "zero", "momentum", "ridge", BUY_AND_HOLD}
    for res in out.values():
        assert list(res.daily["date"]) == sorted(df["date"].unique())
    assert (out["zero"].daily[["gross_return", "turnover", "exposure"]] == 0).all().all()


# ------------------------------------------------------------------------------------------------ timing


def test_perfect_foresight_earns_the_maximum_and_its_sign_flip_loses_it():
    df = random_market()
    df["perfect"] = df["target"]  # built in the test only: the model can never see its own target
    df["flipped"] = -df["target"]
    # Under |w| <= 1/N (sign mode, or scaled with cap 1) the best a day can earn is mean_i |exp(r_i) - 1|.
    best = df.groupby("date")["target"].apply(lambda t: np.mean(np.abs(np.expm1(t)))).to_numpy()
    perfect = backtest(df, "perfect", cost_bps=0.0).daily["gross_return"].to_numpy()
    np.testing.assert_allclose(perfect, best, rtol=1e-12)
    flipped = backtest(df, "flipped", cost_bps=0.0).daily["gross_return"].to_numpy()
    np.testing.assert_allclose(flipped, -best, rtol=1e-12)
    others = backtest_all(df, cost_bps=0.0)
    others["scaled_perfect"] = backtest(df, "perfect", cost_bps=0.0, mode="scaled", cap=1.0)
    others["long_only_perfect"] = backtest(df, "perfect", cost_bps=0.0, long_only=True)
    for name, res in others.items():
        gross = res.daily["gross_return"].to_numpy()
        assert (gross <= best + 1e-15).all(), name
        assert gross.sum() < perfect.sum(), name


def test_shifting_predictions_by_one_day_destroys_the_edge():
    df = random_market()
    by_ticker = df.groupby("ticker")["target"]
    df["yesterday"] = by_ticker.shift(1).fillna(0.0)  # the target known one day late
    df["tomorrow"] = by_ticker.shift(-1).fillna(0.0)  # a prediction about the wrong (next) day
    perfect = backtest(df, "target", cost_bps=0.0).daily["gross_return"].mean()
    for col in ("yesterday", "tomorrow"):
        shifted = backtest(df, col, cost_bps=0.0).daily["gross_return"].mean()
        assert abs(shifted) < 0.1 * perfect, col


# --------------------------------------------------------------------------------------------- bad input


def test_empty_predictions_name_the_fold():
    empty = random_market(days=1).iloc[:0]
    with pytest.raises(ValueError, match="no predictions to backtest in fold_03"):
        backtest(empty, fold="fold_03")
    with pytest.raises(ValueError, match="fold_07"):
        backtest_all(empty, fold="fold_07")


def test_nan_return_names_ticker_date_and_fold():
    df = frame([("2020-03-02", "AAPL", 0.01, 1.0), ("2020-03-02", "MSFT", np.nan, 1.0)])
    with pytest.raises(ValueError, match="NaN return for MSFT on 2020-03-02 in fold_03"):
        backtest(df, fold="fold_03")
    stitched = df.assign(fold=["fold_02", "fold_05"])  # the stitched report: the fold comes from the row
    with pytest.raises(ValueError, match="NaN return for MSFT on 2020-03-02 in fold_05"):
        buy_and_hold(stitched)


def test_missing_column_and_duplicate_rows_are_errors():
    df = frame([("2020-03-02", "AAPL", 0.01, 1.0), ("2020-03-02", "AAPL", 0.02, 1.0)])
    with pytest.raises(ValueError, match="two predictions for AAPL on 2020-03-02 in fold_01"):
        backtest(df, fold="fold_01")
    with pytest.raises(ValueError, match="ridge"):
        backtest(df.iloc[:1], "ridge")


def test_constant_prediction_is_all_long_and_equals_buy_and_hold():
    df = random_market(days=40).assign(model=0.001)
    res = backtest(df)
    assert (res.positions["weight"] > 0).all()
    np.testing.assert_allclose(res.daily["net_return"], buy_and_hold(df).daily["net_return"])


def test_a_day_with_one_ticker_only_works():
    df = frame([("2020-01-02", "A", 0.02, -1.0)])
    d = backtest(df, cost_bps=0.0).daily
    assert d["gross_return"].iloc[0] == pytest.approx(-(math.exp(0.02) - 1))
    assert d["exposure"].iloc[0] == 1.0
