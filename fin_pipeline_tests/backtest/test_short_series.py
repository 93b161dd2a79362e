"""Statistics on the short series of a new fold's first test days: NaN (shown "n/a (n days)"), never an exception.

Where a statistic is defined, its value is checked against a second computation (arch's own estimator running,
a hand-written Newey–West sum); where it is not, it is NaN and the tables and verdict say "n/a (n days)".
"""

import math

import numpy as np
import pandas as pd
import pytest
from arch.bootstrap import optimal_block_length

from fin_pipeline.backtest.mean_tests import bootstrap_ci, newey_west_mean_test
from fin_pipeline.backtest.sharpe import sharpe_statistics
from fin_pipeline.backtest.statistics import diebold_mariano, forecast_statistics, ic_statistics
from fin_pipeline.core.formatting import format_stat, not_available, text_table, with_days
from fin_pipeline.core.limits import block_length_defined, days_needed, default_lags, hac_defined
from fin_pipeline.evaluation.scoring import PREDICTORS, score_predictions

DAYS = range(1, 9)


def arch_runs(x: np.ndarray) -> bool:
    """Whether arch's Politis–White estimator itself can run on ``x`` (the second method)."""
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            optimal_block_length(x)
    except (ValueError, IndexError):
        return False
    return len(x) >= 2


def hand_nw_se(x: np.ndarray, lags: int) -> float:
    """se of the mean by the Bartlett-weighted sum, written out: (1/n²)·[Σe² + 2 Σ_j (1 − j/(L+1)) Σ e_t e_{t−j}]."""
    e, n = x - x.mean(), len(x)
    s = float(e @ e) + 2 * sum((1 - j / (lags + 1)) * float(e[j:] @ e[:-j]) for j in range(1, lags + 1))
    return math.sqrt(s) / n


@pytest.mark.parametrize("n", DAYS)
def test_the_bootstrap_interval_is_nan_until_the_block_length_can_be_estimated(n):
    x = np.random.default_rng(n).normal(size=n)
    assert block_length_defined(n) == arch_runs(x)
    low, high = bootstrap_ci(x, np.mean, reps=200)
    if arch_runs(x):
        assert n == 8 and low < x.mean() < high  # the first n with an interval, around the sample mean
    else:
        assert math.isnan(low) and math.isnan(high)


@pytest.mark.parametrize("horizon", [1, 5])
@pytest.mark.parametrize("n", DAYS)
def test_the_newey_west_test_is_nan_with_fewer_days_than_lags_else_the_hand_sum(n, horizon):
    x = np.random.default_rng(10 + n).normal(size=n)
    lags = default_lags(n, horizon)
    test = newey_west_mean_test(x, lags)
    assert test.mean == pytest.approx(x.mean())
    if n < 2 or n <= lags:  # no lag-L product, or no degree of freedom
        assert not hac_defined(n, lags) and all(math.isnan(v) for v in (test.se, test.t, test.p))
    else:
        assert hac_defined(n, lags)
        assert test.se == pytest.approx(hand_nw_se(x, lags), rel=1e-9)
        assert test.t == pytest.approx(x.mean() / test.se, rel=1e-9)


@pytest.mark.parametrize("n", DAYS)
def test_ic_dm_forecast_and_sharpe_statistics_of_n_days_never_raise(n):
    rng = np.random.default_rng(20 + n)
    ic = ic_statistics(pd.Series(rng.uniform(-0.3, 0.3, size=n)), horizon=1)
    assert ic["n_days"] == n and math.isnan(ic["ic_nw_t"]) == (n < 2) and math.isnan(ic["ic_std"]) == (n < 2)
    frame = pd.DataFrame(
        {
            "date": np.repeat(pd.bdate_range("2021-04-01", periods=n), 4),
            "ticker": np.tile(list("ABCD"), n),
            "target": rng.normal(0, 0.01, 4 * n),
            "a": rng.normal(0, 0.01, 4 * n),
            "b": rng.normal(0, 0.01, 4 * n),
        }
    )
    for h in (1, 5):
        dm = diebold_mariano(frame, "a", "b", h)
        hln = (n + 1 - 2 * h + h * (h - 1) / n) / n  # Harvey–Leybourne–Newbold's factor must be positive
        defined = n >= 2 and n > default_lags(n, h) and hln > 0
        assert dm["n_days"] == n and math.isnan(dm["dm_stat"]) == (not defined), (n, h, dm)
    table = forecast_statistics(frame, ["a", "b"], horizon=1)
    assert list(table["n_days"]) == [n, n]
    assert table["ic_ci_low"].isna().all() == (n < 8)
    sharpe = sharpe_statistics(rng.normal(0.001, 0.01, n), trial_sharpes=[0.1, 0.5, 0.9])
    # Lo's HAC standard error (and so the interval) needs n >= L + 2 with L = default_lags(n, 1)
    assert sharpe["n_days"] == n and math.isnan(sharpe["sharpe_ci_low"]) == (n < default_lags(n, 1) + 2)


@pytest.mark.parametrize("n", [1, 3, 8])
def test_a_fold_of_n_test_days_is_scored_and_its_verdict_says_n_a(n):
    """The whole scoring of a fold's test block (metrics, statistics, books, DM, verdict) on n days."""
    rng = np.random.default_rng(30 + n)
    rows = 5 * n
    target = rng.normal(0, 0.01, rows)
    predictions = pd.DataFrame(
        {
            "date": np.repeat(pd.bdate_range("2021-04-01", periods=n), 5),
            "ticker": np.tile(list("ABCDE"), n),
            "target": target,
            "next_return": target,
            **{name: rng.normal(0, 0.01, rows) for name in PREDICTORS},
        }
    ).assign(zero=0.0)
    scores = score_predictions(predictions, horizon=1)
    assert scores.forecasts.loc["model", "n_days"] == n
    text = " ".join(scores.verdict)
    unit = "day" if n == 1 else "days"
    assert (f"n/a ({n} {unit})" in text) == (n < 8)  # the IC's bootstrap interval, and with n = 1 its t


def test_the_days_every_statistic_needs():
    rng = np.random.default_rng(0)
    assert days_needed(1) == min(n for n in range(2, 30) if arch_runs(rng.normal(size=n))) == 8
    # h = 20: 19 Newey-West lags need n >= 20, and Harvey-Leybourne-Newbold's n + 1 - 40 + 380/n is 0 at n = 20
    assert days_needed(20) == 21


def test_not_available_says_how_many_days():
    assert not_available(1) == "n/a (1 day)" and not_available(7.0) == "n/a (7 days)"
    assert format_stat(float("nan"), 3) == "n/a (3 days)" and format_stat(0.25, 3) == "0.25"
    # on enough days an undefined statistic is a degenerate series, not a short one
    assert (
        format_stat(float("nan"), 150) == "undefined" and format_stat(float("nan"), 20, horizon=20) == "n/a (20 days)"
    )
    table = pd.DataFrame(
        {"fold": ["a", "b", "c"], "test_days": [3, 40, 60], "nw_t": [float("nan"), 2.5, float("nan")], "n": [1.0, 2, 3]}
    )
    shown = with_days(table, table["test_days"], ["nw_t"])
    assert list(shown["nw_t"]) == ["n/a (3 days)", 2.5, "undefined"] and list(shown["n"]) == [1.0, 2.0, 3.0]
    assert table["nw_t"].isna().tolist() == [True, False, True]  # the stored table keeps its NaN
    assert "n/a (3 days)" in text_table(shown)
