"""The Sharpe ratio's statistics against values computed another way: the paper's worked example, the formulas
written out here, statsmodels' HAC covariance and hand loops."""

import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import integrate, stats

from fin_pipeline.backtest.metrics import TRADING_DAYS, sharpe_ratio
from fin_pipeline.backtest.sharpe import (
    SHARPE_STATISTICS,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    hac_probabilistic_sharpe_ratio,
    probabilistic_sharpe_ratio,
    sharpe_long_run_variance,
    sharpe_standard_error,
    sharpe_statistics,
)

GAMMA = 0.5772156649015329


def paper_dsr(sr: float, t: int, skew: float, kurt: float, n: int, v: float) -> tuple[float, float]:
    """Bailey & López de Prado (2014), eq. for SR0 and DSR, written out: (SR0, DSR)."""
    sr0 = math.sqrt(v) * ((1 - GAMMA) * stats.norm.ppf(1 - 1 / n) + GAMMA * stats.norm.ppf(1 - 1 / (n * math.e)))
    z = (sr - sr0) * math.sqrt(t - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    return sr0, stats.norm.cdf(z)


def moments(r: np.ndarray) -> tuple[float, float, float]:
    """Per-day Sharpe (ddof 1), skewness and kurtosis (biased moments), by hand."""
    e = r - r.mean()
    m2 = np.mean(e**2)
    return r.mean() / r.std(ddof=1), np.mean(e**3) / m2**1.5, np.mean(e**4) / m2**2


def hand_psi(r: np.ndarray) -> np.ndarray:
    sr, _, _ = moments(r)
    z = (r - r.mean()) / r.std()
    return z - sr / 2 * (z * z - 1)


def overlapping_book(n: int, h: int, seed: int, drift: float = 0.0004) -> np.ndarray:
    """Daily returns of a book of h overlapping tranches: each day the mean of the last h tranche returns, an
    MA(h − 1) process (autocorrelated by construction, no skill needed)."""
    shocks = np.random.default_rng(seed).standard_t(5, size=n + h - 1) * 0.01
    return drift + np.convolve(shocks, np.ones(h) / h, mode="valid")


def test_dsr_reproduces_the_numerical_example_of_bailey_lopez_de_prado_2014():
    # "The Deflated Sharpe Ratio" (JPM 40(5), 2014), numerical example: N = 100 independent trials whose
    # annualized Sharpe ratios have variance 1/2, the best annualized SR = 2.5 over T = 1250 daily observations
    # (5 years of 250 days), skewness −3, kurtosis 10. The paper prints SR0 ≈ 0.1132 per day and DSR ≈ 0.9004.
    sr, v = 2.5 / math.sqrt(250), 0.5 / 250
    sr0, dsr = paper_dsr(sr, 1250, -3.0, 10.0, 100, v)
    assert sr0 == pytest.approx(0.1132, abs=5e-5) and dsr == pytest.approx(0.9004, abs=5e-5)  # our transcription
    assert expected_max_sharpe(100, v) == pytest.approx(sr0, rel=1e-12)
    assert expected_max_sharpe(100, v) == pytest.approx(0.1132, abs=5e-5)
    assert deflated_sharpe_ratio(sr, 1250, -3.0, 10.0, 100, v) == pytest.approx(dsr, rel=1e-12)
    assert deflated_sharpe_ratio(sr, 1250, -3.0, 10.0, 100, v) == pytest.approx(0.9004, abs=5e-5)
    # N = 1: no selection, DSR = PSR(0), and this record is almost surely skilled.
    assert deflated_sharpe_ratio(sr, 1250, -3.0, 10.0, 1, v) == probabilistic_sharpe_ratio(sr, 1250, -3.0, 10.0)
    assert probabilistic_sharpe_ratio(sr, 1250, -3.0, 10.0) > 0.9999


def test_expected_max_sharpe_approximates_the_exact_expected_maximum_of_n_normals():
    # E[max of N standard normals] = ∫ x · N φ(x) Φ(x)^(N−1) dx, by quadrature; the False Strategy theorem's
    # approximation is within 2.5% of it (N = 10: 1.575 against 1.5388; N = 100: 2.530 against 2.5076).
    for n in (10, 100, 1000):
        exact, _ = integrate.quad(lambda x, n=n: x * n * stats.norm.pdf(x) * stats.norm.cdf(x) ** (n - 1), -10, 10)
        assert expected_max_sharpe(n, 1.0) == pytest.approx(exact, rel=0.025)
    assert expected_max_sharpe(1, 1.0) == 0.0 and math.isnan(expected_max_sharpe(0, 1.0))
    assert expected_max_sharpe(10, 4.0) == pytest.approx(2 * expected_max_sharpe(10, 1.0))  # scales with √V


def test_psr_of_normal_returns_is_one_minus_the_one_sided_t_test_p():
    r = np.random.default_rng(11).normal(0.0004, 0.01, size=750)
    sr = r.mean() / r.std(ddof=1)
    p_greater = stats.ttest_1samp(r, 0.0, alternative="greater").pvalue
    assert probabilistic_sharpe_ratio(sr, len(r), 0.0, 3.0) == pytest.approx(1 - p_greater, abs=2e-3)
    assert probabilistic_sharpe_ratio(0.05, 750, -1.0, 8.0) < probabilistic_sharpe_ratio(0.05, 750, 0.0, 3.0)
    assert probabilistic_sharpe_ratio(0.05, 750, -1.0, 8.0, sr_benchmark=0.05) == pytest.approx(0.5)


def test_with_no_lags_the_hac_psr_is_bailey_lopez_de_prados_psr_exactly():
    r = 0.0006 + 0.01 * np.random.default_rng(2).standard_t(df=5, size=1500)
    sr, skew, kurt = moments(r)
    assert sharpe_long_run_variance(r, 0) == pytest.approx(1 - skew * sr + (kurt - 1) / 4 * sr**2, rel=1e-12)
    expected = probabilistic_sharpe_ratio(sr, len(r), skew, kurt)
    assert hac_probabilistic_sharpe_ratio(r, lags=0) == pytest.approx(expected, rel=1e-12)
    assert sharpe_statistics(r, lags=0)["psr"] == pytest.approx(expected, rel=1e-12)


def test_h5_psr_equals_an_independent_statsmodels_hac_computation():
    h, n = 5, 750
    r = overlapping_book(n, h, seed=3)
    out = sharpe_statistics(r, horizon=h)
    lags = max(h - 1, math.floor(4 * (n / 100) ** (2 / 9)))  # the rule in the docstring, written out: 6 here
    assert out["lags"] == lags == 6
    # Lo (2002): Var(SR̂) is the long-run variance of the influence function ψ over n; statsmodels' HAC variance
    # of the mean of ψ (OLS on a constant, Bartlett, no small-sample factor) is exactly Ω / n.
    psi = hand_psi(r)
    fit = sm.OLS(psi, np.ones(n)).fit(cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": False})
    omega = float(fit.bse[0]) ** 2 * n
    sr = r.mean() / r.std(ddof=1)
    assert out["psr"] == pytest.approx(stats.norm.cdf(sr * math.sqrt(n - 1) / math.sqrt(omega)), rel=1e-9)
    se = math.sqrt(omega / (n - 1)) * math.sqrt(TRADING_DAYS)
    assert out["sharpe_se"] == pytest.approx(se, rel=1e-9)
    assert out["sharpe_ci_low"] == pytest.approx(out["sharpe"] - stats.norm.ppf(0.975) * se, rel=1e-9)
    assert out["sharpe_ci_high"] == pytest.approx(out["sharpe"] + stats.norm.ppf(0.975) * se, rel=1e-9)
    # The same Ω by a hand loop of Bartlett-weighted autocovariances.
    hand = psi @ psi / n + 2 * sum((1 - j / (lags + 1)) * (psi[j:] @ psi[:-j]) / n for j in range(1, lags + 1))
    assert sharpe_long_run_variance(r, lags) == pytest.approx(hand, rel=1e-10)
    # Overlap autocorrelates the returns: the IID standard error understates the uncertainty, the HAC one doesn't.
    assert sharpe_standard_error(r, lags=lags) > 1.5 * sharpe_standard_error(r, lags=0)
    assert out["psr"] < sharpe_statistics(r, lags=0)["psr"]


def test_lo_standard_error_on_iid_normal_returns_is_the_closed_form():
    r = np.random.default_rng(4).normal(0.001, 0.01, size=20_000)
    sr = r.mean() / r.std(ddof=1)
    closed = math.sqrt((1 + sr * sr / 2) / len(r))  # Lo (2002), IID normal
    assert sharpe_standard_error(r, lags=0) == pytest.approx(closed, rel=0.02)
    assert sharpe_standard_error(r) == pytest.approx(closed, rel=0.03)  # default lags: nothing to correct here
    _, skew, kurt = moments(r)
    mertens = math.sqrt((1 - skew * sr + (kurt - 1) / 4 * sr * sr) / (len(r) - 1))
    assert sharpe_standard_error(r, lags=0) == pytest.approx(mertens, rel=1e-12)


def test_dsr_over_trials_is_the_hac_psr_against_the_expected_maximum():
    r = 0.0006 + 0.01 * np.random.default_rng(2).standard_t(df=5, size=1500)
    trials = [0.3, 1.1, -0.4, 0.8, sharpe_ratio(r)]  # annualized, this record's included
    out = sharpe_statistics(r, trial_sharpes=trials)
    per_day = np.array(trials) / math.sqrt(TRADING_DAYS)
    v = np.sum((per_day - per_day.mean()) ** 2) / (len(per_day) - 1)
    sr0 = math.sqrt(v) * ((1 - GAMMA) * stats.norm.ppf(1 - 1 / 5) + GAMMA * stats.norm.ppf(1 - 1 / (5 * math.e)))
    sr = r.mean() / r.std(ddof=1)
    omega = sharpe_long_run_variance(r, int(out["lags"]))
    assert out["dsr"] == pytest.approx(stats.norm.cdf((sr - sr0) * math.sqrt(len(r) - 1) / math.sqrt(omega)))
    assert out["dsr"] < out["psr"]
    # One trial (this one): DSR = PSR; a book that is no trial has no DSR.
    assert sharpe_statistics(r, trial_sharpes=[sharpe_ratio(r)])["dsr"] == out["psr"]
    assert math.isnan(sharpe_statistics(r)["dsr"])
    # A trial whose Sharpe is undefined counts in N but not in V.
    with_flat = sharpe_statistics(r, trial_sharpes=[*trials, float("nan")])
    sr0_6 = math.sqrt(v) * ((1 - GAMMA) * stats.norm.ppf(1 - 1 / 6) + GAMMA * stats.norm.ppf(1 - 1 / (6 * math.e)))
    z = (sr - sr0_6) * math.sqrt(len(r) - 1) / math.sqrt(omega)
    assert with_flat["dsr"] == pytest.approx(stats.norm.cdf(z))


def test_the_95_interval_excludes_zero_exactly_when_psr_exceeds_0975():
    excluded = []
    for seed in range(20):
        r = overlapping_book(300, 3, seed=seed, drift=0.0015)
        out = sharpe_statistics(r, horizon=3)
        assert (out["sharpe_ci_low"] > 0) == (out["psr"] > 0.975), out
        excluded.append(out["sharpe_ci_low"] > 0)
    assert 0 < sum(excluded) < len(excluded)  # both cases occur among these records


@pytest.mark.parametrize("horizon", [1, 5])
def test_short_series_give_nan_never_an_error(horizon):
    rng = np.random.default_rng(0)
    for n in range(0, 12):
        r = rng.normal(0.001, 0.01, size=n)
        out = sharpe_statistics(r, horizon=horizon, trial_sharpes=[0.5, 1.0])
        assert set(out) == set(SHARPE_STATISTICS) and out["n_days"] == n
        lags = max(horizon - 1, math.floor(4 * (n / 100) ** (2 / 9)))
        enough = n >= lags + 2  # the HAC variance needs a lag product per lag and the mean
        assert math.isfinite(out["sharpe"]) == (n >= 2)
        for key in ("sharpe_se", "psr", "dsr", "sharpe_ci_low", "sharpe_ci_high"):
            assert math.isfinite(out[key]) == enough, (n, key, out)
        assert math.isnan(sharpe_standard_error(r, horizon=horizon)) == (not enough)
        assert math.isnan(hac_probabilistic_sharpe_ratio(r, horizon=horizon)) == (not enough)
    flat = sharpe_statistics(np.zeros(100))
    assert flat["n_days"] == 100 and all(math.isnan(flat[k]) for k in ("sharpe", "sharpe_se", "psr", "dsr"))
