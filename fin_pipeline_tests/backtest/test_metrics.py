import math

import numpy as np
import pandas as pd
import pytest

from fin_pipeline.backtest import SUMMARY_KEYS, backtest, backtest_all, summary, summary_table
from fin_pipeline.backtest.metrics import (
    annualized_return,
    annualized_volatility,
    calmar_ratio,
    conditional_value_at_risk,
    downside_deviation,
    drawdown_series,
    hit_ratio,
    max_drawdown,
    sharpe_ratio,
    sortino_ratio,
    total_return,
    value_at_risk,
    win_rate,
)
from fin_pipeline_tests.backtest.test_strategy import frame, random_market

DATES = pd.bdate_range("2020-01-06", periods=4)


def series(values: list[float]) -> pd.Series:
    return pd.Series(values, index=DATES[: len(values)], dtype=float)


def test_total_and_annualized_return():
    r = series([0.1, -0.05, 0.02])
    growth = 1.1 * 0.95 * 1.02
    assert total_return(r) == pytest.approx(growth - 1)
    assert annualized_return(r) == pytest.approx(growth ** (252 / 3) - 1)
    assert annualized_return(series([-1.0, 0.5])) == -1.0  # ruin


def test_sharpe_sortino_and_volatility_by_hand():
    r = [0.01, -0.02, 0.03]
    mean = (0.01 - 0.02 + 0.03) / 3
    std = math.sqrt(sum((x - mean) ** 2 for x in r) / 2)  # sample std, ddof = 1
    assert annualized_volatility(r) == pytest.approx(std * math.sqrt(252))
    assert sharpe_ratio(r) == pytest.approx(mean / std * math.sqrt(252))
    assert sharpe_ratio(r) == pytest.approx(4.2053, abs=1e-4)
    downside = math.sqrt((0 + 0.02**2 + 0) / 3)  # over all n days, target 0
    assert downside_deviation(r) == pytest.approx(downside)
    assert sortino_ratio(r) == pytest.approx(mean / downside * math.sqrt(252))
    assert sortino_ratio(r) == pytest.approx(9.1652, abs=1e-4)


def test_known_drawdown_path_and_its_dates():
    # equity 1 -> 1.2 -> 0.9 -> 1.1: MDD = 1 - 0.9 / 1.2 = 25%, peak on day 0, trough on day 1, not recovered
    r = series([0.2, 0.9 / 1.2 - 1, 1.1 / 0.9 - 1])
    dd = max_drawdown(r)
    assert dd.depth == pytest.approx(0.25)
    assert (dd.peak, dd.trough, dd.recovery) == (DATES[0], DATES[1], None)
    np.testing.assert_allclose(drawdown_series((1 + r).cumprod()), [0.0, -0.25, 1.1 / 1.2 - 1])
    # ... then 1.3: recovered on day 3
    r4 = series([*r, 1.3 / 1.1 - 1])
    assert max_drawdown(r4).recovery == DATES[3]
    assert calmar_ratio(r4) == pytest.approx(annualized_return(r4) / 0.25)


def test_a_fall_from_the_first_day_is_measured_from_the_starting_capital():
    dd = max_drawdown(series([-0.1, -0.1, 0.5]))
    assert dd.depth == pytest.approx(1 - 0.81)
    assert (dd.peak, dd.trough, dd.recovery) == (DATES[0], DATES[1], DATES[2])


def test_known_var_and_cvar_quantiles_on_twenty_returns():
    r = np.random.default_rng(1).permutation(np.arange(-10, 10) / 100)  # -0.10 … 0.09, shuffled
    # 5% quantile at position 0.05 * 19 = 0.95 of the sorted returns: -0.10 + 0.95 * 0.01 = -0.0905
    assert value_at_risk(r, 0.95) == pytest.approx(0.0905)
    assert conditional_value_at_risk(r, 0.95) == pytest.approx(0.10)  # only -0.10 is <= -0.0905
    assert value_at_risk(r, 0.99) == pytest.approx(0.10 - 0.19 * 0.01)
    # 10% quantile at position 1.9: -0.09 + 0.9 * 0.01 = -0.081; the tail is {-0.10, -0.09}
    assert value_at_risk(r, 0.90) == pytest.approx(0.081)
    assert conditional_value_at_risk(r, 0.90) == pytest.approx(0.095)


def test_win_rate_and_hit_ratio():
    assert win_rate([0.01, 0.0, -0.02, 0.03]) == 0.5  # a flat day is not a win
    pos = pd.DataFrame({"weight": [0.5, -0.5, 0.0, 0.5, 0.5], "target": [0.01, 0.02, 0.03, -0.01, 0.0]})
    # rows with a position and a move: (+,+) hit, (-,+) miss, (+,-) miss -> 1/3
    assert hit_ratio(pos) == pytest.approx(1 / 3)
    assert math.isnan(hit_ratio(pos.assign(weight=0.0)))


def test_undefined_metrics_are_nan_never_a_fake_zero():
    empty = series([])
    for f in (total_return, annualized_return, annualized_volatility, sharpe_ratio, sortino_ratio, win_rate):
        assert math.isnan(f(empty)), f.__name__
    assert math.isnan(value_at_risk(empty)) and math.isnan(conditional_value_at_risk(empty))
    assert math.isnan(max_drawdown(empty).depth)
    flat = series([0.01, 0.01, 0.01])
    assert math.isnan(sharpe_ratio(flat))  # std 0
    assert math.isnan(sortino_ratio(flat))  # no losing day
    assert max_drawdown(flat).depth == 0.0 and max_drawdown(flat).peak is None
    assert math.isnan(calmar_ratio(flat))  # no drawdown
    assert math.isnan(sharpe_ratio(series([0.01])))  # one day has no volatility


def test_summary_of_the_zero_baseline_says_undefined():
    s = summary(backtest(random_market(days=30), "zero"))
    assert set(s) == set(SUMMARY_KEYS)
    for key in ("sharpe", "sortino", "calmar", "hit_ratio"):
        assert math.isnan(s[key]), key
    assert s["total_return"] == 0.0 and s["avg_exposure"] == 0.0 and s["max_drawdown"] == 0.0
    assert s["max_drawdown_peak"] is pd.NaT


def test_summary_matches_the_metric_functions_and_constant_prediction_stays_finite():
    df = random_market(days=120).assign(model=0.002)  # constant: IC undefined, but a tradable all-long book
    res = backtest(df, cost_bps=5.0)
    s = summary(res)
    r = res.returns
    assert s["n_days"] == 120.0
    assert s["sharpe"] == pytest.approx(sharpe_ratio(r))
    assert s["var_99"] == pytest.approx(value_at_risk(r, 0.99))
    assert s["avg_turnover"] == pytest.approx(1 / 120)  # the entry only
    assert s["total_cost"] == pytest.approx(5 / 1e4)
    assert s["avg_exposure"] == pytest.approx(1.0)
    numbers = [v for k, v in s.items() if not k.startswith("max_drawdown_")]
    assert np.isfinite(numbers).all()
    table = summary_table(backtest_all(df, books=("sign",)))
    assert list(table.columns) == list(SUMMARY_KEYS)
    assert list(table.index) == ["model", "zero", "momentum", "ridge", "buy_and_hold"]
    assert table.loc["model", "sharpe"] == pytest.approx(s["sharpe"])


def test_one_ticker_one_day_summary_does_not_crash():
    s = summary(backtest(frame([("2020-01-02", "A", 0.02, 1.0)]), cost_bps=0.0))
    assert s["total_return"] == pytest.approx(math.exp(0.02) - 1)
    assert math.isnan(s["sharpe"]) and s["hit_ratio"] == 1.0
