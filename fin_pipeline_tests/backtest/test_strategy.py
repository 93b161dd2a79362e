import math

import numpy as np
import pandas as pd
import pytest

from fin_pipeline.backtest import (
    BUY_AND_HOLD,
    backtest,
    backtest_all,
    buy_and_hold,
    positions_from_predictions,
    summary,
    summary_table,
)


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
    predictors = ["model", "zero", "momentum", "ridge"]
    assert list(out) == [*predictors, *(f"{p}_neutral" for p in predictors), BUY_AND_HOLD]
    for name, res in out.items():
        assert res.name == name
        assert list(res.daily["date"]) == sorted(df["date"].unique())
    for zero in ("zero", "zero_neutral"):
        assert (out[zero].daily[["gross_return", "turnover", "exposure"]] == 0).all().all()
    assert list(backtest_all(df, books=("sign",))) == [*predictors, BUY_AND_HOLD]
    assert list(backtest_all(df, books=("neutral",))) == [*(f"{p}_neutral" for p in predictors), BUY_AND_HOLD]
    scaled = backtest_all(df, mode="scaled", cost_bps=0.0)
    pd.testing.assert_frame_equal(scaled["model"].daily, backtest(df, mode="scaled", cost_bps=0.0).daily)
    with pytest.raises(ValueError, match="books"):
        backtest_all(df, books=("sign", "kelly"))
    with pytest.raises(ValueError, match="directional"):
        backtest_all(df, mode="neutral")


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
    others = backtest_all(df, cost_bps=0.0, books=("sign",))  # the neutral book's |w| may exceed 1/N
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


# ------------------------------------------------------------------------- horizon h > 1: overlapping tranches


def test_five_day_tranches_turnover_and_costs_by_hand():
    h, bps = 5, 10.0
    rng = np.random.default_rng(7)
    dates = pd.bdate_range("2020-01-02", periods=12)
    rows = []
    for d, date in enumerate(dates):
        for ticker in ("A", "B", "C"):
            if ticker == "C" and d == 6:
                continue  # C has no row on day 6: it holds nothing that day, its tranches hold it again on day 7
            pred = float(rng.choice([-1.0, 1.0, 0.0, 2.0]))
            if ticker == "B" and d == 3:
                pred = np.nan
            rows.append((date, ticker, float(rng.normal(0, 0.05)), float(rng.normal(0, 0.02)), pred))
    df = pd.DataFrame(rows, columns=["date", "ticker", "target", "next_return", "model"])
    res = backtest(df, cost_bps=bps, horizon=h)

    # By hand: the day's new book, the held weights, the returns and the trades, one number at a time.
    pred = {(r[0], r[1]): r[4] for r in rows}
    r1 = {(r[0], r[1]): r[3] for r in rows}
    tickers = ["A", "B", "C"]
    book = []  # book[d][ticker] = sign(p) / N_d for the tickers of day d
    for date in dates:
        names = [t for t in tickers if (date, t) in pred]
        signs = {t: 0.0 if np.isnan(pred[date, t]) else float(np.sign(pred[date, t])) for t in names}
        book.append({t: signs[t] / len(names) for t in names})
    held = []
    for d, date in enumerate(dates):
        w = {}
        for t in tickers:
            total = 0.0
            for k in range(h):
                if d - k >= 0:
                    total += book[d - k].get(t, 0.0)
            w[t] = total / h if (date, t) in pred else 0.0
        held.append(w)
    gross, turnover, exposure = [], [], []
    for d, date in enumerate(dates):
        g = 0.0
        for t in tickers:
            if (date, t) in pred:
                g += held[d][t] * (math.exp(r1[date, t]) - 1)
        gross.append(g)
        before = held[d - 1] if d > 0 else {t: 0.0 for t in tickers}
        turnover.append(sum(abs(held[d][t] - before[t]) for t in tickers))
        exposure.append(sum(abs(held[d][t]) for t in tickers))

    d = res.daily
    np.testing.assert_allclose(d["gross_return"], gross, rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(d["turnover"], turnover, rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(d["cost"], np.array(turnover) * bps / 1e4, rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(d["exposure"], exposure, rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(d["net_return"], np.array(gross) - np.array(turnover) * bps / 1e4, rtol=1e-12)
    pos = res.positions.set_index(["date", "ticker"])
    for (date, t), row in pos.iterrows():
        assert row["weight"] == pytest.approx(book[list(dates).index(date)][t])  # the day's new book
        assert row["holding"] == pytest.approx(held[list(dates).index(date)][t])  # what the portfolio holds
    assert abs(turnover[0] - exposure[0]) < 1e-15 and exposure[0] <= 1 / h + 1e-15  # the ramp-up: 1/h on day 0
    # the hit ratio scores each day's new book against that row's h-day target, not the held weights
    calls = [(np.sign(book[dates.get_loc(r[0])][r[1]]), np.sign(r[2])) for r in rows]
    calls = [(a, b) for a, b in calls if a != 0 and b != 0]
    assert summary(res)["hit_ratio"] == pytest.approx(sum(a == b for a, b in calls) / len(calls))


def test_buy_and_hold_ramps_up_over_the_horizon_then_trades_nothing():
    h = 3
    df = random_market(days=10, tickers=4).assign(next_return=lambda f: f["target"] / 3)
    res = buy_and_hold(df, cost_bps=0.0, horizon=h)
    mean_simple = df.groupby("date")["next_return"].apply(lambda r: np.mean(np.expm1(r))).to_numpy()
    invested = np.minimum(np.arange(1, 11), h) / h  # 1/3, 2/3, then fully invested
    np.testing.assert_allclose(res.daily["gross_return"], invested * mean_simple, rtol=1e-12)
    np.testing.assert_allclose(res.daily["turnover"], [1 / 3, 1 / 3, 1 / 3] + [0.0] * 7, atol=1e-15)
    np.testing.assert_allclose(res.daily["exposure"], invested, rtol=1e-12)
    constant = backtest(df.assign(model=0.01), cost_bps=5.0, horizon=h)  # an all-long book is buy-and-hold
    np.testing.assert_allclose(constant.daily["net_return"], buy_and_hold(df, horizon=h).daily["net_return"])


def test_horizon_one_uses_next_return_when_present():
    df = random_market(days=20)
    res = backtest(df.assign(next_return=df["target"] * 2), cost_bps=0.0)
    by_hand = df.assign(w=np.sign(df["model"]) / 5, g=np.expm1(df["target"] * 2))
    expected = (by_hand["w"] * by_hand["g"]).groupby(by_hand["date"]).sum()
    np.testing.assert_allclose(res.daily["gross_return"], expected.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(res.positions["holding"], res.positions["weight"])  # h = 1: W = w


def synthetic_prices(seed: int, days: int = 300, tickers: int = 8, h: int = 5) -> pd.DataFrame:
    """Random walks (a market factor and each ticker's own noise); targets h-day and next_return one-day forward."""
    rng = np.random.default_rng(seed)
    steps = 0.0003 + 0.01 * rng.normal(size=(days, 1)) + 0.02 * rng.normal(size=(days, tickers))
    logp = np.vstack([np.zeros((1, tickers)), np.cumsum(steps, axis=0)])  # (days + 1, tickers) log closes
    n = days + 1 - h  # the days whose h-day target is known
    dates = pd.bdate_range("2021-01-04", periods=n)
    df = pd.DataFrame(
        {
            "date": np.repeat(dates, tickers),
            "ticker": np.tile([f"T{i}" for i in range(tickers)], n),
            "target": (logp[h : h + n] - logp[:n]).ravel(),
            "next_return": (logp[1 : 1 + n] - logp[:n]).ravel(),
            "yesterday": np.vstack([np.zeros((1, tickers)), logp[1:n] - logp[: n - 1]]).ravel(),  # legal: known at t
        }
    )
    df["perfect"] = df["target"]  # built in the test only
    df["late"] = df.groupby("ticker")["target"].shift(h)  # the target of day t − h: known at close t, h days late
    df["zero"] = 0.0
    df["noise"] = rng.normal(0, 0.01, len(df))
    return df


def test_perfect_foresight_over_five_days_beats_everything_by_far():
    for seed in range(3):
        df = synthetic_prices(seed)
        out = backtest_all(df, columns=("perfect", "zero", "yesterday", "noise", "late"), horizon=5)
        table = summary_table(out)
        for book in ("perfect", "perfect_neutral"):
            sharpe, total = table.loc[book, "sharpe"], table.loc[book, "total_return"]
            assert sharpe > 10, (seed, book)
            for other in table.index.drop(["perfect", "perfect_neutral"]):
                assert table.loc[other, "total_return"] < 0.1 * total, (seed, book, other)
                assert not table.loc[other, "sharpe"] > 0.25 * sharpe, (seed, book, other)  # NaN for zero


def test_a_predictor_five_days_late_has_no_edge():
    late, perfect = [], []
    for seed in range(5):
        df = synthetic_prices(seed)
        for mode in ("sign", "neutral"):
            late.append(summary(backtest(df, "late", horizon=5, mode=mode))["sharpe"])
            perfect.append(summary(backtest(df, "perfect", horizon=5, mode=mode))["sharpe"])
    late, perfect = np.abs(late), np.array(perfect)
    assert (perfect > 10).all()
    assert (late < 0.2 * perfect).all(), late
    assert late.mean() < 0.1 * perfect.mean(), late


def test_horizon_input_errors_name_the_fold():
    df = random_market(days=10)
    with pytest.raises(ValueError, match="fold_04 lack the column 'next_return'"):
        backtest(df, horizon=5, fold="fold_04")
    with pytest.raises(ValueError, match="fold_04 lack the column 'next_return'"):
        backtest_all(df, horizon=5, fold="fold_04")
    bad = df.assign(next_return=df["target"])
    bad.loc[3, "next_return"] = np.nan
    with pytest.raises(ValueError, match=f"NaN next_return for {bad.loc[3, 'ticker']} on 2021-01-04 in fold_02"):
        buy_and_hold(bad, horizon=2, fold="fold_02")
    for h in (0, 2.5, True):
        with pytest.raises(ValueError, match="horizon"):
            backtest(df.assign(next_return=df["target"]), horizon=h)


# ---------------------------------------------------------------------------------------- market-neutral book


def average_ranks(values: list[float]) -> list[float]:
    """By hand: 1 + the number of smaller values + half the number of other equal ones."""
    return [1 + sum(u < v for u in values) + (sum(u == v for u in values) - 1) / 2 for v in values]


def test_neutral_weights_are_demeaned_average_ranks_by_hand():
    df = frame([("2020-01-02", "A", 0.0, 0.3), ("2020-01-02", "B", 0.0, -0.1), ("2020-01-02", "C", 0.0, 0.3),
                ("2020-01-02", "D", 0.0, 0.9), ("2020-01-02", "E", 0.0, np.nan),
                ("2020-01-03", "A", 0.0, 0.5),  # one ticker: holds nothing
                ("2020-01-06", "A", 0.0, 0.2), ("2020-01-06", "B", 0.0, 0.2),  # all equal: holds nothing
                ("2020-01-07", "A", 0.0, 1.0), ("2020-01-07", "B", 0.0, 3.0),
                ("2020-01-07", "C", 0.0, 2.0)])  # fmt: skip
    w = positions_from_predictions(df, mode="neutral")["weight"].to_numpy()
    # day 1: ranks A 2.5, B 1, C 2.5, D 4 (E has no rank); mean 2.5; |deviations| sum to 3
    np.testing.assert_allclose(w, [0.0, -0.5, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0, -0.5, 0.5, 0.0], atol=1e-16)
    with pytest.raises(ValueError, match="long_only"):
        positions_from_predictions(df, mode="neutral", long_only=True)

    rng = np.random.default_rng(3)
    market = random_market(days=30, tickers=7).assign(model=lambda f: rng.integers(-2, 3, len(f)).astype(float))
    market.loc[rng.choice(len(market), 20, replace=False), "model"] = np.nan
    got = positions_from_predictions(market, mode="neutral").set_index(["date", "ticker"])["weight"]
    for date, day in market.groupby("date"):
        ranked = [(t, p) for t, p in zip(day["ticker"], day["model"], strict=True) if not np.isnan(p)]
        ranks = average_ranks([p for _, p in ranked])
        mean = sum(ranks) / len(ranks) if ranks else 0.0
        scale = sum(abs(r - mean) for r in ranks)
        expected = dict.fromkeys(day["ticker"], 0.0)
        for (t, _), r in zip(ranked, ranks, strict=True):
            expected[t] = (r - mean) / scale if scale > 0 else 0.0
        weights = [got[date, t] for t in day["ticker"]]
        np.testing.assert_allclose(weights, [expected[t] for t in day["ticker"]], atol=1e-15)
        if scale > 0:
            assert abs(sum(weights)) < 1e-15 and sum(abs(x) for x in weights) == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize("h", [1, 5])
def test_a_pure_market_move_earns_nothing_in_the_neutral_book(h):
    df = random_market(days=40, tickers=6)
    market = df.groupby("date")["target"].transform("first")  # every ticker moves with the first one
    moved = df.assign(target=market, next_return=market)
    res = backtest(moved, cost_bps=0.0, mode="neutral", horizon=h)
    assert res.name == "model_neutral"
    # ΣW = 0 each day, so Σ W·g = g·ΣW = 0: zero up to rounding (~1e-18 here, against returns of ~1e-2)
    np.testing.assert_allclose(res.daily["gross_return"], 0.0, atol=1e-16)
    assert (res.daily["exposure"].iloc[h - 1 :] > 0.1).all()  # it does hold a book
    sign_book = backtest(moved, cost_bps=0.0, horizon=h)  # the sign book times the market instead
    assert (sign_book.daily["gross_return"].abs() > 1e-6).any()
