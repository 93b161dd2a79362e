import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from fin_pipeline.backtest import backtest, summary
from fin_pipeline.backtest.capacity import capacity, capacity_table
from fin_pipeline.backtest.costs import resolve
from fin_pipeline.backtest.metrics import sharpe_ratio
from fin_pipeline.backtest.strategy import simulate
from fin_pipeline.core.costs import CostModel
from fin_pipeline.core.settings import Settings, SettingsError
from fin_pipeline.features.cost_inputs import COST_INPUTS, corwin_schultz, cost_inputs
from fin_pipeline.features.lookahead import lookahead_violations
from fin_pipeline.sources.synthetic import SyntheticMarket

K = 3.0 - 2.0 * math.sqrt(2.0)


def cs_by_hand(h0: float, l0: float, h1: float, l1: float, c0: float) -> float:
    """Corwin & Schultz (2012), equations (14), (18) and the overnight adjustment of their section II.B, one pair."""
    if l1 > c0:
        h1, l1 = h1 - (l1 - c0), c0
    elif h1 < c0:
        h1, l1 = c0, l1 + (c0 - h1)
    beta = math.log(h0 / l0) ** 2 + math.log(h1 / l1) ** 2
    gamma = math.log(max(h0, h1) / min(l0, l1)) ** 2
    alpha = (math.sqrt(2 * beta) - math.sqrt(beta)) / K - math.sqrt(gamma / K)
    return max(2 * (math.exp(alpha) - 1) / (1 + math.exp(alpha)), 0.0)


# ------------------------------------------------------------------------------------------- the estimator


def test_two_identical_days_give_the_whole_range_as_the_spread():
    # β = 2x², γ = x² with x = ln(H/L): α = x exactly, so S = 2(H/L − 1)/(1 + H/L) = (H − L) / ((H + L)/2).
    s = corwin_schultz([101.0, 101.0], [99.0, 99.0], [100.0, 100.0])
    assert np.isnan(s[0])
    assert s[1] == pytest.approx(2.0 / 100.0, rel=1e-12)


def test_corwin_schultz_against_the_papers_formula_on_a_few_days():
    high = [101.0, 101.5, 103.0, 103.2, 103.1, 102.0]
    low = [99.0, 99.8, 102.0, 101.6, 101.7, 101.2]
    close = [100.5, 101.0, 102.5, 102.4, 102.3, 101.5]
    s = corwin_schultz(high, low, close)
    expected = [cs_by_hand(high[t - 1], low[t - 1], high[t], low[t], close[t - 1]) for t in range(1, 6)]
    np.testing.assert_allclose(s[1:], expected, rtol=1e-12)
    # Day 2 opened above day 1's close (low 102 > close 101): moved down by 1 before the estimate, and a two-day
    # move much larger than the day ranges still gives a negative estimate, set to 0 as in the paper. Day 5 stayed
    # below day 4's close (high 102 < close 102.3): moved up by 0.3.
    assert s[2] == 0.0
    assert (s[[1, 3, 4, 5]] > 0).all()
    assert cs_by_hand(high[4], low[4], high[5], low[5], c0=101.5) == 0.0  # the same days without the shift


def test_cost_inputs_by_hand_with_short_windows():
    candles = pd.DataFrame(
        {
            "high": [101.0, 102.0, 103.0, 104.0],
            "low": [99.0, 99.5, 100.0, 101.5],
            "close": [100.0, 101.0, 102.0, 103.0],
            "volume": [1000.0, 2000.0, 3000.0, 5000.0],
        }
    )
    got = cost_inputs(candles, spread_window=2, vol_window=2, adv_window=2)
    s1 = cs_by_hand(101.0, 99.0, 102.0, 99.5, 100.0)
    s2 = cs_by_hand(102.0, 99.5, 103.0, 100.0, 101.0)
    s3 = cs_by_hand(103.0, 100.0, 104.0, 101.5, 102.0)
    r = [math.log(101 / 100), math.log(102 / 101), math.log(103 / 102)]
    sd = lambda a, b: abs(a - b) / math.sqrt(2)  # noqa: E731 - the sample std (ddof 1) of two numbers
    np.testing.assert_allclose(got["half_spread"].to_numpy()[2:], [(s1 + s2) / 4, (s2 + s3) / 4], rtol=1e-12)
    np.testing.assert_allclose(got["sigma"].to_numpy()[2:], [sd(r[0], r[1]), sd(r[1], r[2])], rtol=1e-9)
    dollars = [1e5, 2.02e5, 3.06e5, 5.15e5]  # close × volume
    pairs = zip(dollars[:-1], dollars[1:], strict=True)
    np.testing.assert_allclose(got["adv"].to_numpy()[1:], [(a + b) / 2 for a, b in pairs])
    assert got[["half_spread", "sigma"]].iloc[:2].isna().all().all()  # no full window yet


# ------------------------------------------------------------------------------------------- the cost model


def two_tickers_three_days(**inputs_by_ticker) -> pd.DataFrame:
    days = pd.to_datetime(["2021-03-01", "2021-03-02", "2021-03-03"])
    weights = {"A": [0.5, 0.5, 0.0], "B": [-0.5, 0.5, 0.5]}
    rets = {"A": [0.01, -0.02, 0.005], "B": [0.0, 0.03, -0.01]}
    rows = []
    for t in ("A", "B"):
        for d in range(3):
            half, sigma, adv = inputs_by_ticker[t][d]
            rows.append((days[d], t, weights[t][d], rets[t][d], rets[t][d], half, sigma, adv))
    return pd.DataFrame(rows, columns=["date", "ticker", "weight", "target", "next_return", *COST_INPUTS])


def test_cost_model_on_two_tickers_and_three_days_by_hand():
    inputs = {
        "A": [(0.0010, 0.02, 5e8), (0.0010, 0.02, 5e8), (0.0010, 0.04, 5e8)],  # σ doubles on day 3
        "B": [(0.0001, 0.03, 1e8), (0.0001, 0.03, 1e8), (0.0001, 0.03, 1e8)],  # half-spread below the 2 bp floor
    }
    costs = CostModel(capital=1e7, impact_k=0.5, spread_floor_bps=2.0)
    res = simulate(two_tickers_three_days(**inputs), costs=costs)
    # Trades |ΔW|: day 1 A 0.5, B 0.5 (entry); day 2 A 0, B 1.0 (short to long); day 3 A 0.5 (exit), B 0.
    np.testing.assert_allclose(res.daily["turnover"], [0.5 + 0.5, 0.0 + 1.0, 0.5 + 0.0], rtol=1e-12)
    day1 = 0.5 * (0.0010 + 0.5 * 0.02 * math.sqrt(0.5 * 1e7 / 5e8)) + 0.5 * (0.0002 + 0.5 * 0.03 * math.sqrt(0.05))
    day2 = 1.0 * (0.0002 + 0.5 * 0.03 * math.sqrt(1.0 * 1e7 / 1e8))
    day3 = 0.5 * (0.0010 + 0.5 * 0.04 * math.sqrt(0.5 * 1e7 / 5e8))
    np.testing.assert_allclose(res.daily["cost"], [day1, day2, day3], rtol=1e-12)
    assert day1 == pytest.approx(0.001 + 0.5 * (0.0002 + 0.015 * math.sqrt(0.05)))  # A's impact is 10 bps here
    gross = [0.5 * math.expm1(0.01) - 0.0, 0.5 * math.expm1(-0.02) + 0.5 * math.expm1(0.03), 0.5 * math.expm1(-0.01)]
    np.testing.assert_allclose(res.daily["net_return"], np.array(gross) - [day1, day2, day3], rtol=1e-12)
    # The same trades at a vanishing capital pay the half-spreads alone.
    tiny = simulate(two_tickers_three_days(**inputs), costs=costs.with_capital(1e-12))
    np.testing.assert_allclose(tiny.daily["cost"], [0.5 * 0.001 + 0.5 * 0.0002, 0.0002, 0.5 * 0.001], atol=1e-12)


def test_flat_keeps_the_former_bps_of_turnover():
    inputs = {t: [(np.nan, np.nan, np.nan)] * 3 for t in ("A", "B")}  # flat reads no cost input
    res = simulate(two_tickers_three_days(**inputs), costs=CostModel(cost_model="flat", cost_bps=7.0))
    # Weights A 0.5, 0.5, 0 and B -0.5, 0.5, 0.5 from W_{-1} = 0: turnover 1.0, 1.0, 0.5.
    np.testing.assert_allclose(res.daily["turnover"], [1.0, 1.0, 0.5], rtol=1e-12)
    np.testing.assert_allclose(res.daily["cost"], [1.0 * 7e-4, 1.0 * 7e-4, 0.5 * 7e-4])
    legacy = simulate(two_tickers_three_days(**inputs), cost_bps=7.0)
    pd.testing.assert_frame_equal(res.daily, legacy.daily)


def test_a_ticker_without_a_row_on_its_exit_day_is_charged_with_its_latest_inputs():
    frame = two_tickers_three_days(A=[(0.001, 0.02, 5e8)] * 3, B=[(0.0003, 0.03, 1e8)] * 3)
    frame = frame[~((frame["ticker"] == "B") & (frame["date"] == frame["date"].max()))]  # B has no row on day 3
    res = simulate(frame, costs=CostModel(capital=1e7, impact_k=0.5, spread_floor_bps=0.0))
    day3 = 0.5 * (0.001 + 0.5 * 0.02 * math.sqrt(0.01)) + 0.5 * (0.0003 + 0.5 * 0.03 * math.sqrt(0.05))
    assert res.daily["cost"].iloc[-1] == pytest.approx(day3, rel=1e-12)


# ------------------------------------------------------------------------------------------- capacity


def market_with_signal(days: int = 400, tickers: int = 6, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2021-01-04", periods=days)
    df = pd.DataFrame([(d, f"T{i}") for d in dates for i in range(tickers)], columns=["date", "ticker"])
    df["target"] = rng.normal(0.0, 0.02, len(df))
    df["next_return"] = df["target"]
    df["model"] = df["target"] + rng.normal(0.0, 0.08, len(df))  # IC ≈ 0.24: a clear edge
    df["half_spread"] = rng.uniform(0.0, 0.0006, len(df))
    df["sigma"] = rng.uniform(0.01, 0.03, len(df))
    df["adv"] = np.exp(rng.uniform(np.log(2e7), np.log(2e9), len(df)))
    return df


def spread_and_impact_by_hand(df: pd.DataFrame, floor_bps: float, k: float) -> tuple[np.ndarray, ...]:
    """Per day the turnover Σ|ΔW|, the spread Σ|ΔW|·max(h, floor) and the impact k·Σ σ|ΔW|^1.5/√ADV of the sign
    book of ``df["model"]`` (h = 1: W = w = sign(p)/N, N the day's tickers), with W_{-1} = 0, by loops over the
    input rows (never the backtest's own positions)."""
    days = sorted(df["date"].unique())
    turnover, spread, impact = np.zeros(len(days)), np.zeros(len(days)), np.zeros(len(days))
    for _, rows in df.sort_values("date").groupby("ticker"):
        prev = 0.0  # W_{-1} = 0: the entry is traded
        for row in rows.itertuples():  # every ticker has a row every day here
            n = int((df["date"] == row.date).sum())
            w = math.copysign(1.0, row.model) / n if row.model != 0 else 0.0
            dw = abs(w - prev)
            d = days.index(row.date)
            turnover[d] += dw
            spread[d] += dw * max(row.half_spread, floor_bps / 1e4)
            impact[d] += k * row.sigma * dw**1.5 / math.sqrt(row.adv)
            prev = w
    return turnover, spread, impact


def test_capacity_is_monotone_in_capital_and_the_spread_alone_at_zero():
    df = market_with_signal()
    costs = CostModel(capital=1e7, spread_floor_bps=1.0, impact_k=1.0)
    book = backtest(df, "model", costs=costs)
    gross = book.daily["gross_return"].to_numpy()
    turnover, spread, impact = spread_and_impact_by_hand(df, 1.0, 1.0)
    np.testing.assert_allclose(book.daily["turnover"], turnover, rtol=1e-12)
    assert turnover[0] == pytest.approx(1.0) and turnover[1:].mean() > 0.5  # the whole entry, then sign flips
    capitals = 10.0 ** np.arange(3.0, 12.5, 0.5)
    cap = capacity(book, costs, capitals=capitals)
    sharpes = cap.table["net_sharpe"].to_numpy()
    assert sharpes[0] == pytest.approx(sharpe_ratio(gross - spread), rel=1e-10)  # C → 0: the spread alone
    assert (np.diff(sharpes) <= 1e-12).all()  # non-increasing as the capital grows
    assert sharpes[0] > 1.0 and sharpes[-1] < 0.0  # the edge is real, and a trillion dollars eats it
    for c, s in zip(capitals, sharpes[1:], strict=True):
        assert s == pytest.approx(sharpe_ratio(gross - spread - math.sqrt(c) * impact), rel=1e-10)
    # The book's own net Sharpe (at its capital, by the simulation) is the table's at that capital.
    assert cap.table.loc[1e7, "net_sharpe"] == pytest.approx(summary(book)["sharpe"], rel=1e-10)
    # The halving capital: above half just below it, at or below half at it.
    half = sharpes[0] / 2
    c = cap.halving_capital
    assert sharpe_ratio(gross - spread - math.sqrt(c) * impact) <= half
    assert sharpe_ratio(gross - spread - math.sqrt(c / 1.002) * impact) > half
    table = capacity_table([cap])
    assert list(table.index[:2]) == ["C→0 (spread only)", "$1k"]


def test_halving_not_reached_and_undefined_are_said():
    df = market_with_signal()
    tiny_k = CostModel(impact_k=1e-9)
    assert capacity(backtest(df, "model", costs=tiny_k), tiny_k, search_to=1e9).note == "not reached up to $1B"
    df["anti"] = -df["model"]
    costs = CostModel()
    losing = capacity(backtest(df, "anti", costs=costs), costs)
    assert losing.halving_capital is None and losing.note.startswith("undefined")


# ------------------------------------------------------------------------------------------- no look-ahead


def test_a_later_days_high_low_and_volume_leave_earlier_cost_inputs_unchanged():
    candles = SyntheticMarket(seed=3).fetch("AAPL", dt.date(2020, 1, 1), dt.date(2020, 12, 31)).reset_index(drop=True)
    before = cost_inputs(candles)
    t = 150
    moved = candles.copy()
    moved.loc[t + 1 :, "high"] *= 1.3
    moved.loc[t + 1 :, "low"] *= 0.7
    moved.loc[t + 1 :, "volume"] *= 5.0
    moved.loc[t + 1 :, "close"] *= 1.1
    after = cost_inputs(moved)
    pd.testing.assert_frame_equal(after.iloc[: t + 1], before.iloc[: t + 1])
    assert (after.iloc[t + 1 :][list(COST_INPUTS)] != before.iloc[t + 1 :][list(COST_INPUTS)]).any().all()
    assert lookahead_violations(candles, cost_inputs) == {}


# ------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kw", "named"),
    [
        ({"cost_model": "square_root"}, "cost_model (FIN_PIPELINE_COST_MODEL) 'square_root'"),
        ({"capital": 0.0}, "capital (FIN_PIPELINE_CAPITAL)"),
        ({"capital": -1e6}, "capital (FIN_PIPELINE_CAPITAL)"),
        ({"spread_floor_bps": -0.5}, "spread_floor_bps (FIN_PIPELINE_SPREAD_FLOOR_BPS)"),
        ({"impact_k": float("nan")}, "impact_k (FIN_PIPELINE_IMPACT_K)"),
        ({"cost_bps": -1.0}, "cost_bps (FIN_PIPELINE_COST_BPS)"),
    ],
)
def test_a_bad_cost_setting_is_refused_by_name(kw, named):
    with pytest.raises(ValueError, match=__import__("re").escape(named)):
        CostModel(**kw)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"FIN_PIPELINE_COST_MODEL": "bogus"}, "FIN_PIPELINE_COST_MODEL"),
        ({"FIN_PIPELINE_CAPITAL": "-5"}, "FIN_PIPELINE_CAPITAL"),
        ({"FIN_PIPELINE_CAPITAL": "ten million"}, "FIN_PIPELINE_CAPITAL='ten million' is not a number"),
        ({"FIN_PIPELINE_SPREAD_FLOOR_BPS": "-1"}, "FIN_PIPELINE_SPREAD_FLOOR_BPS"),
    ],
)
def test_settings_refuse_bad_cost_variables_by_name(env, named):
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_settings_build_the_cost_model():
    costs = Settings.from_env({"FIN_PIPELINE_COST_MODEL": "FLAT", "FIN_PIPELINE_COST_BPS": "3"}).costs
    assert (costs.cost_model, costs.cost_bps) == ("flat", 3.0)
    assert Settings.from_env({"FIN_PIPELINE_CAPITAL": "2.5e8"}).costs.capital == 2.5e8


def test_missing_inputs_a_zero_adv_and_two_cost_arguments_are_named():
    frame = two_tickers_three_days(A=[(0.001, 0.02, 5e8)] * 3, B=[(0.001, 0.02, 5e8)] * 3)
    with pytest.raises(ValueError, match=r"lack the cost input column\(s\) \['adv'\].*feature_windows"):
        simulate(frame.drop(columns="adv"), costs=CostModel(), fold="2021-01-01")
    frame.loc[(frame["ticker"] == "B") & (frame["date"] == "2021-03-02"), "adv"] = 0.0
    with pytest.raises(ValueError, match="no usable cost inputs for B on 2021-03-02"):
        simulate(frame, costs=CostModel())
    with pytest.raises(ValueError, match="not both"):
        resolve(CostModel(), 5.0)
    with pytest.raises(ValueError, match="cost_bps must be non-negative"):
        simulate(frame, cost_bps=-1.0)
