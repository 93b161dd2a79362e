"""Our risk metrics against empyrical's, the library the field uses (Quantopian's, as empyrical-reloaded).

Same numbers where the conventions agree (Sharpe, Sortino, Calmar); explicit conversions where they differ, each
difference named in our function's docstring (fin_pipeline/backtest/metrics.py): our drawdown, VaR and CVaR are
positive losses where empyrical's are negative returns; undefined ratios are NaN where empyrical returns ±inf;
our CVaR averages the worst n(1 − α) days (a fractional last day), empyrical's the ⌊(n − 1)(1 − α)⌋ + 1 worst.
"""

from __future__ import annotations

import warnings

import empyrical
import numpy as np
import pandas as pd
import pytest

from fin_pipeline.backtest.metrics import (
    calmar_ratio,
    conditional_value_at_risk,
    max_drawdown,
    sharpe_ratio,
    sortino_ratio,
    value_at_risk,
)

DAYS = pd.bdate_range("2021-01-04", periods=500)


def _series(values) -> pd.Series:
    return pd.Series(np.asarray(values, np.float64), index=DAYS[: len(values)])


def _drawdown_path() -> pd.Series:
    """Up 20%, down 35% from the peak, half way back: a known 35% drawdown."""
    legs = [np.full(60, 1.2 ** (1 / 60) - 1), np.full(80, 0.65 ** (1 / 80) - 1), np.full(100, 1.25 ** (1 / 100) - 1)]
    noise = np.random.default_rng(3).normal(0, 0.002, 240)
    return _series(np.concatenate(legs) + noise)


def _zero_and_negative_days() -> pd.Series:
    """A sparse book: most days flat (exactly 0), some losses, a few gains, no day tied at the 5% cutoff."""
    rng = np.random.default_rng(4)
    r = np.zeros(240)  # n · 5% = 12 whole days: both CVaR conventions average the same 12 days
    r[rng.choice(240, 40, replace=False)] = -rng.uniform(0.001, 0.03, 40)
    r[rng.choice(np.flatnonzero(r == 0), 30, replace=False)] = rng.uniform(0.001, 0.04, 30)
    return _series(r)


SERIES = {
    "normal": _series(np.random.default_rng(1).normal(0.0005, 0.01, 500)),
    "fat_tailed": _series(np.random.default_rng(2).standard_t(3, 500) * 0.008 + 0.0003),
    "drawdown": _drawdown_path(),
    "zero_and_negative_days": _zero_and_negative_days(),
}


@pytest.mark.parametrize("name", SERIES)
def test_our_metrics_equal_empyricals(name):
    r = SERIES[name]
    # identical conventions: mean / std (ddof 1) · √252; mean / √mean(min(r, 0)²) · √252 over all days;
    # geometric annual return / maximum drawdown, the drawdown measured from the starting capital
    assert sharpe_ratio(r) == pytest.approx(empyrical.sharpe_ratio(r), rel=1e-12)
    assert sortino_ratio(r) == pytest.approx(empyrical.sortino_ratio(r), rel=1e-12)
    assert calmar_ratio(r) == pytest.approx(empyrical.calmar_ratio(r), rel=1e-12)
    # sign: our maximum drawdown is a positive depth, empyrical's a negative return
    assert max_drawdown(r).depth == pytest.approx(-empyrical.max_drawdown(r), rel=1e-12)
    # sign and level: our VaR_95 is the loss −quantile(r, 5%), empyrical's value_at_risk(r, cutoff=0.05) the
    # 5% quantile itself; both interpolate linearly between order statistics (numpy's default)
    assert value_at_risk(r, 0.95) == pytest.approx(-empyrical.value_at_risk(r, cutoff=0.05), rel=1e-9, abs=1e-15)
    assert conditional_value_at_risk(r, 0.95) == pytest.approx(
        -empyrical.conditional_value_at_risk(r, cutoff=0.05), rel=1e-12
    )


def test_the_known_drawdown_is_found_by_both():
    r = SERIES["drawdown"]
    equity = np.concatenate([[1.0], np.cumprod(1 + r.to_numpy())])
    by_hand = float(np.max(1 - equity / np.maximum.accumulate(equity)))
    assert 0.3 < by_hand < 0.4
    assert max_drawdown(r).depth == pytest.approx(by_hand, rel=1e-12)
    assert -empyrical.max_drawdown(r) == pytest.approx(by_hand, rel=1e-12)


def test_cvar_with_days_tied_at_the_cutoff_is_the_worst_five_percent():
    """100 days: 3 losses, 60 flat days, 37 gains. The 5% quantile is 0, tied by the 60 flat days; the expected
    shortfall is the mean of the worst 5 days (the 3 losses and 2 of the flat days), not of all 63."""
    r = _series([-0.02, -0.01, -0.005, *[0.0] * 60, *[0.004] * 37])
    assert value_at_risk(r, 0.95) == 0.0 and empyrical.value_at_risk(r, cutoff=0.05) == 0.0
    assert conditional_value_at_risk(r, 0.95) == pytest.approx(0.035 / 5, rel=1e-12)
    assert -empyrical.conditional_value_at_risk(r, cutoff=0.05) == pytest.approx(0.035 / 5, rel=1e-12)


def test_cvar_weights_the_day_that_fills_the_tail_partly():
    """n = 30 at 95%: the tail is 1.5 days, the worst day and half of the second worst (by hand)."""
    r = _series([-0.04, -0.03, *np.linspace(-0.01, 0.02, 28)])
    assert conditional_value_at_risk(r, 0.95) == pytest.approx((0.04 + 0.5 * 0.03) / 1.5, rel=1e-12)
    # empyrical averages ⌊29 · 0.05⌋ + 1 = 2 whole days: the convention differs when n(1 − α) is not whole
    assert -empyrical.conditional_value_at_risk(r, cutoff=0.05) == pytest.approx(0.035, rel=1e-12)


def test_undefined_ratios_are_nan_where_empyrical_gives_infinity():
    no_loss = _series([0.01, 0.02, 0.0, 0.03])
    assert np.isnan(sortino_ratio(no_loss)) and empyrical.sortino_ratio(no_loss) == np.inf
    constant = _series([0.01] * 5)
    assert np.isnan(sharpe_ratio(constant)) and empyrical.sharpe_ratio(constant) == np.inf
    rising = _series([0.01, 0.02])
    assert np.isnan(calmar_ratio(rising)) and np.isnan(empyrical.calmar_ratio(rising))  # no drawdown: both NaN
    # ruin below zero wealth: our annualized return is −1, so Calmar is −1 / MDD; empyrical's is NaN (a negative
    # wealth raised to the fractional power 252 / n)
    ruin = _series([0.1, -1.2, 0.05, 0.01, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert np.isnan(empyrical.calmar_ratio(ruin))
    depth = 1 - np.cumprod(1 + ruin.to_numpy()).min() / 1.1  # the peak 1.1 after day 1, the trough below 0
    assert calmar_ratio(ruin) == pytest.approx(-1.0 / depth, rel=1e-12)
