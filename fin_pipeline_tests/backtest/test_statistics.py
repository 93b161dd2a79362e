"""Each statistic against a value computed another way: hand loops, closed forms, the papers' worked examples."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fin_pipeline.backtest.metrics import TRADING_DAYS, sharpe_ratio
from fin_pipeline.backtest.statistics import (
    FORECAST_STATISTICS,
    MeanTest,
    best_baseline_comparison,
    bootstrap_ci,
    default_lags,
    deflated_sharpe_ratio,
    diebold_mariano,
    expected_max_sharpe,
    forecast_statistics,
    ic_series,
    ic_statistics,
    newey_west_mean_test,
    probabilistic_sharpe_ratio,
    sharpe_standard_error,
    sharpe_statistics,
)
from fin_pipeline.training.evaluation import information_coefficient, rank_information_coefficient


def hand_nw_se(x: np.ndarray, lags: int) -> float:
    """Newey–West se of the mean, written out: √(Σe² + 2Σ_j (1 − j/(L+1)) Σ_t e_t e_{t−j}) / n, no n/(n−1)."""
    e = x - x.mean()
    s = float(e @ e)
    for j in range(1, lags + 1):
        s += 2.0 * (1.0 - j / (lags + 1.0)) * float(e[j:] @ e[:-j])
    return math.sqrt(s) / len(x)


def ar1(n: int, rho: float, seed: int, mean: float = 0.0, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    eps = rng.normal(scale=scale, size=n)
    x = np.empty(n)
    x[0] = eps[0] / math.sqrt(1 - rho * rho)
    for t in range(1, n):
        x[t] = rho * x[t - 1] + eps[t]
    return mean + x


def panel(n_days: int, n_tickers: int, seed: int, noise: dict[str, float]) -> pd.DataFrame:
    """A (date, ticker) frame: target ~ N(0, 0.02²) and each predictor = target + N(0, (scale·0.02)²)."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2020-01-01", periods=n_days)
    df = pd.DataFrame(
        {
            "date": np.repeat(dates, n_tickers),
            "ticker": np.tile([f"T{i}" for i in range(n_tickers)], n_days),
            "target": rng.normal(scale=0.02, size=n_days * n_tickers),
        }
    )
    for name, scale in noise.items():
        df[name] = df["target"] + rng.normal(scale=scale * 0.02, size=len(df))
    return df


# ----------------------------------------------------------------------------------------------- ic_series ---


@pytest.fixture
def ragged():
    """Days with 1 to 6 tickers, a constant-prediction day, a constant-target day, a NaN row and ties."""
    rng = np.random.default_rng(3)
    rows = []
    for d in range(40):
        k = 1 + d % 6
        p = np.round(rng.normal(size=k), 1)  # rounding makes ties for the rank test
        y = 0.3 * p + rng.normal(size=k)
        if d == 7:
            p[:] = 0.25
        if d == 11:
            y[:] = -0.01
        rows += [(f"2021-02-{d:02d}", pi, yi) for pi, yi in zip(p, y, strict=True)]
    df = pd.DataFrame(rows, columns=["date", "p", "y"]).sample(frac=1.0, random_state=1)  # unsorted on purpose
    df.iloc[5, 1] = np.nan
    return df


def hand_ic(df: pd.DataFrame, rank: bool) -> dict[str, float]:
    out = {}
    for day in sorted(df["date"].unique()):
        g = df[(df["date"] == day) & df["p"].notna() & df["y"].notna()]
        p, y = g["p"].to_numpy(), g["y"].to_numpy()
        if len(g) < 2 or np.ptp(p) == 0 or np.ptp(y) == 0:
            continue
        out[day] = stats.spearmanr(p, y).statistic if rank else np.corrcoef(p, y)[0, 1]
    return out


@pytest.mark.parametrize("rank", [False, True])
def test_ic_series_matches_a_hand_loop_of_corrcoef_and_spearmanr(ragged, rank):
    ic = ic_series(ragged["p"], ragged["y"], ragged["date"], rank=rank)
    expected = hand_ic(ragged, rank)
    assert list(ic.index) == list(expected)  # sorted by day; 1-ticker, constant and NaN-only days left out
    assert "2021-02-07" not in ic.index and "2021-02-11" not in ic.index and "2021-02-00" not in ic.index
    np.testing.assert_allclose(ic.to_numpy(), list(expected.values()), rtol=1e-12, atol=1e-12)
    assert ic.name == ("rank_ic" if rank else "ic") and ic.index.name == "date"


def test_evaluation_ic_is_the_mean_of_ic_series(ragged):
    clean = ragged.dropna()
    for rank, fn in [(False, information_coefficient), (True, rank_information_coefficient)]:
        assert fn(clean["p"].to_numpy(), clean["y"].to_numpy(), clean["date"].to_numpy()) == pytest.approx(
            np.mean(list(hand_ic(clean, rank).values())), rel=1e-12
        )


def test_ic_series_of_a_constant_predictor_is_empty_not_zero():
    days = np.repeat(["a", "b", "c"], 4)
    # 0.1 + 0.2 is not 0.3: a mean of equal floats can differ from them by rounding; still constant, still no IC.
    ic = ic_series(np.full(12, 0.1 + 0.2), np.arange(12.0), days)
    assert ic.empty
    assert math.isnan(information_coefficient(np.full(12, 0.1 + 0.2), np.arange(12.0), days))


# ---------------------------------------------------------------------------------------------- HAC tests ---


def test_default_lags_is_newey_west_1994_or_the_overlap():
    assert default_lags(2000, 1) == math.floor(4 * 20 ** (2 / 9)) == 7
    assert default_lags(150, 1) == 4
    assert default_lags(150, 20) == 19  # overlap of 20-day targets needs 19 lags
    assert default_lags(0, 1) == 0
    with pytest.raises(ValueError):
        default_lags(10, 0)


@pytest.mark.parametrize("lags", [0, 1, 4, 12])
def test_newey_west_mean_test_matches_a_hand_written_bartlett_hac(lags):
    x = ar1(600, 0.4, seed=lags, mean=0.08)
    res = newey_west_mean_test(x, lags)
    se = hand_nw_se(x, lags)
    assert res.mean == pytest.approx(x.mean(), rel=1e-12)
    assert res.se == pytest.approx(se, rel=1e-10)
    assert res.t == pytest.approx(x.mean() / se, rel=1e-10)
    assert res.p == pytest.approx(2 * stats.t.sf(abs(x.mean() / se), len(x) - 1), rel=1e-8)
    assert (res.n, res.lags) == (600, lags)


def test_hac_se_grows_with_positive_autocorrelation():
    x = ar1(4000, 0.6, seed=1)
    assert newey_west_mean_test(x, 20).se > 1.5 * newey_west_mean_test(x, 0).se


def test_mean_test_is_undefined_not_zero_on_degenerate_input():
    const = newey_west_mean_test(np.full(50, 0.3), 3)
    assert const.mean == pytest.approx(0.3) and math.isnan(const.t) and math.isnan(const.p)
    one = newey_west_mean_test([1.0], 0)
    assert one == MeanTest(1.0, one.se, one.t, one.p, 1, 0) and math.isnan(one.se)
    assert math.isnan(newey_west_mean_test([], 0).mean)
    with pytest.raises(ValueError, match="non-finite"):
        newey_west_mean_test([1.0, np.nan, 2.0], 1)


def test_ic_statistics_by_hand():
    ic = pd.Series(ar1(300, 0.3, seed=5, mean=0.03, scale=0.1))
    out = ic_statistics(ic, horizon=10)
    values = ic.to_numpy()
    lags = max(9, math.floor(4 * 3 ** (2 / 9)))
    se = hand_nw_se(values, lags)
    assert out["n_days"] == 300 and out["ic_lags"] == lags == 9
    assert out["mean_ic"] == pytest.approx(values.mean())
    assert out["ic_std"] == pytest.approx(np.sqrt(np.sum((values - values.mean()) ** 2) / 299))
    assert out["icir"] == pytest.approx(values.mean() / out["ic_std"])
    assert out["ic_nw_t"] == pytest.approx(values.mean() / se, rel=1e-9)
    assert out["ic_nw_p"] == pytest.approx(2 * stats.t.sf(abs(values.mean() / se), 299), rel=1e-8)
    empty = ic_statistics(pd.Series([], dtype=float), horizon=1)
    assert empty["n_days"] == 0 and all(math.isnan(empty[k]) for k in ("mean_ic", "ic_std", "icir", "ic_nw_t"))


# ------------------------------------------------------------------------------------------ PSR, DSR, Lo ---


def test_dsr_reproduces_the_numerical_example_of_bailey_lopez_de_prado_2014():
    # "The Deflated Sharpe Ratio" (JPM 2014), numerical example: N = 100 independent trials, V[SR_n] = 1/2
    # (annualized), the best annualized SR = 2.5 over T = 1250 daily observations (5 years of 250 days),
    # skewness −3, kurtosis 10. The paper prints SR0 ≈ 0.1132 per day (≈ 1.7894 annualized) and DSR ≈ 0.9004.
    sr, v = 2.5 / math.sqrt(250), 0.5 / 250
    assert expected_max_sharpe(100, v) == pytest.approx(0.1132, abs=5e-5)
    assert expected_max_sharpe(100, v) * math.sqrt(250) == pytest.approx(1.7894, abs=5e-4)
    assert deflated_sharpe_ratio(sr, 1250, -3.0, 10.0, 100, v) == pytest.approx(0.9004, abs=5e-5)
    # Against no selection (N = 1) the same record is almost surely skilled: DSR = PSR(0).
    assert deflated_sharpe_ratio(sr, 1250, -3.0, 10.0, 1, v) == probabilistic_sharpe_ratio(sr, 1250, -3.0, 10.0)
    assert probabilistic_sharpe_ratio(sr, 1250, -3.0, 10.0) > 0.9999


def test_expected_max_sharpe_matches_a_monte_carlo_of_the_maximum():
    # The False Strategy theorem's approximation: E[max of N standard normals] for N = 10 is about 1.54 (exact
    # 1.5388); the approximation gives 1.575 (Bailey et al. 2014 print 1.57 for N = 10).
    assert expected_max_sharpe(10, 1.0) == pytest.approx(1.575, abs=5e-4)
    draws = np.random.default_rng(0).normal(size=(200_000, 10)).max(axis=1).mean()
    assert expected_max_sharpe(10, 1.0) == pytest.approx(draws, abs=0.05)
    assert expected_max_sharpe(1, 1.0) == 0.0


def test_psr_of_normal_returns_is_one_minus_the_one_sided_t_test_p():
    # Normal returns: γ3 = 0, γ4 = 3, PSR(0) = Φ(SR√(n−1)/√(1 + SR²/2)) ≈ P[t-test says mean > 0].
    r = np.random.default_rng(11).normal(0.0004, 0.01, size=750)
    sr = r.mean() / r.std(ddof=1)
    p_greater = stats.ttest_1samp(r, 0.0, alternative="greater").pvalue
    assert probabilistic_sharpe_ratio(sr, len(r), 0.0, 3.0) == pytest.approx(1 - p_greater, abs=2e-3)
    # Negative skew and fat tails make the same SR less convincing; at SR* = SR the PSR is exactly one half.
    assert probabilistic_sharpe_ratio(0.05, 750, -1.0, 8.0) < probabilistic_sharpe_ratio(0.05, 750, 0.0, 3.0)
    assert probabilistic_sharpe_ratio(0.05, 750, -1.0, 8.0, sr_benchmark=0.05) == pytest.approx(0.5)


def test_sharpe_statistics_psr_and_dsr_use_the_sample_moments():
    rng = np.random.default_rng(2)
    r = 0.0006 + 0.01 * rng.standard_t(df=5, size=1500)
    out = sharpe_statistics(r, n_trials=20, trial_sharpes=[0.3, 1.1, -0.4, 0.8, 0.0])
    e = r - r.mean()
    m2, m3, m4 = np.mean(e**2), np.mean(e**3), np.mean(e**4)
    skew, kurt = m3 / m2**1.5, m4 / m2**2
    sr = r.mean() / r.std(ddof=1)
    z = sr * math.sqrt(len(r) - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr * sr)
    assert out["sharpe"] == sharpe_ratio(r) == pytest.approx(sr * math.sqrt(252))
    assert out["psr"] == pytest.approx(stats.norm.cdf(z), rel=1e-10)
    trials = np.array([0.3, 1.1, -0.4, 0.8, 0.0]) / math.sqrt(TRADING_DAYS)
    v = np.sum((trials - trials.mean()) ** 2) / 4
    sr0 = math.sqrt(v) * (
        (1 - np.euler_gamma) * stats.norm.ppf(1 - 1 / 20) + np.euler_gamma * stats.norm.ppf(1 - 1 / (20 * math.e))
    )
    z0 = (sr - sr0) * math.sqrt(len(r) - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr * sr)
    assert out["dsr"] == pytest.approx(stats.norm.cdf(z0), rel=1e-10)
    assert out["dsr"] < out["psr"]
    # Without trial Sharpes V is the estimator variance; more trials deflate more; one trial does not deflate.
    assert sharpe_statistics(r, n_trials=1)["dsr"] == out["psr"]
    assert sharpe_statistics(r, n_trials=100)["dsr"] < sharpe_statistics(r, n_trials=5)["dsr"] < out["psr"]


def test_lo_standard_error_on_iid_normal_returns_is_the_closed_form():
    r = np.random.default_rng(4).normal(0.001, 0.01, size=20_000)
    sr = r.mean() / r.std()
    closed = math.sqrt((1 + sr * sr / 2) / len(r))  # Lo (2002), IID normal
    assert sharpe_standard_error(r, lags=0) == pytest.approx(closed, rel=0.02)
    assert sharpe_standard_error(r) == pytest.approx(closed, rel=0.03)  # default lags: nothing to correct here
    # With lags = 0 the GMM form is exactly Mertens' IID formula on the sample moments.
    e = r - r.mean()
    skew, kurt = np.mean(e**3) / np.mean(e**2) ** 1.5, np.mean(e**4) / np.mean(e**2) ** 2
    mertens = math.sqrt((1 - skew * sr + (kurt - 1) / 4 * sr * sr) / len(r))
    assert sharpe_standard_error(r, lags=0) == pytest.approx(mertens, rel=1e-10)
    assert sharpe_statistics(r, reps=50)["sharpe_se"] == pytest.approx(sharpe_standard_error(r) * math.sqrt(252))


def test_lo_standard_error_is_larger_than_the_iid_one_under_positive_autocorrelation():
    r = 0.0005 + 0.01 * ar1(5000, 0.5, seed=8) * math.sqrt(1 - 0.25)
    sr = r.mean() / r.std()
    iid = math.sqrt((1 + sr * sr / 2) / len(r))
    assert sharpe_standard_error(r) > 1.3 * iid
    assert sharpe_standard_error(r, lags=20) > sharpe_standard_error(r, lags=0)


def test_sharpe_statistics_interval_and_undefined_cases():
    r = pd.Series(np.random.default_rng(6).normal(0.0008, 0.01, size=600), index=pd.bdate_range("2022", periods=600))
    out = sharpe_statistics(r, seed=3, reps=300)
    assert out["sharpe_ci_low"] < out["sharpe"] < out["sharpe_ci_high"]
    assert out == sharpe_statistics(r, seed=3, reps=300)
    assert out["n_days"] == 600
    flat = sharpe_statistics(np.zeros(100))
    assert flat["n_days"] == 100 and all(math.isnan(v) for k, v in flat.items() if k != "n_days")
    with pytest.raises(ValueError, match="at least 2"):
        sharpe_statistics(r, n_trials=3, trial_sharpes=[1.0])
    with pytest.raises(ValueError, match="n_trials"):
        sharpe_statistics(r, n_trials=2, trial_sharpes=[1.0, 0.5, 0.2])


# ---------------------------------------------------------------------------------------------- bootstrap ---


def test_bootstrap_ci_covers_the_true_mean_of_a_long_ar1_series_and_is_seeded():
    x = ar1(5000, 0.6, seed=21, mean=0.5)
    lo, hi = bootstrap_ci(x, np.mean, seed=7)
    assert lo < 0.5 < hi
    # The dependent-data interval is wider than an IID one would be (≈ ±1.96·σ/√n).
    iid_half = 1.96 * x.std() / math.sqrt(len(x))
    assert hi - lo > 2.5 * iid_half
    assert bootstrap_ci(x, np.mean, seed=7) == (lo, hi)
    assert bootstrap_ci(x, np.mean, seed=8) != (lo, hi)
    assert bootstrap_ci(np.full(30, 2.0), np.mean) == (2.0, 2.0)
    assert all(math.isnan(v) for v in bootstrap_ci([1.0], np.mean))


# -------------------------------------------------------------------------------------- Diebold–Mariano ---


def hand_dm(df: pd.DataFrame, a: str, b: str, h: int) -> tuple[float, float, float]:
    d = []
    for _, g in df.groupby("date"):
        d.append(np.mean((g["target"] - g[a]) ** 2) - np.mean((g["target"] - g[b]) ** 2))
    d = np.array(d)
    n = len(d)
    lags = max(h - 1, math.floor(4 * (n / 100) ** (2 / 9)))
    dm = d.mean() / hand_nw_se(d, lags) * math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    return dm, 2 * stats.t.sf(abs(dm), n - 1), stats.t.cdf(dm, n - 1)


def test_diebold_mariano_small_noise_beats_large_noise():
    df = panel(400, 8, seed=1, noise={"sharp": 0.3, "blunt": 1.5})
    out = diebold_mariano(df, "sharp", "blunt", horizon=1)
    dm, p2, p_a = hand_dm(df, "sharp", "blunt", 1)
    assert out["dm_stat"] == pytest.approx(dm, rel=1e-9) and out["dm_stat"] < -5
    assert out["dm_p_two_sided"] == pytest.approx(p2, rel=1e-6, abs=1e-300) and out["dm_p_two_sided"] < 1e-6
    assert out["dm_p_a_better"] == pytest.approx(p_a, rel=1e-6, abs=1e-300) and out["dm_p_a_better"] < 1e-6
    assert out["n_days"] == 400 and out["mean_loss_diff"] < 0
    swapped = diebold_mariano(df, "blunt", "sharp", horizon=1)
    assert swapped["dm_stat"] == pytest.approx(-out["dm_stat"]) and swapped["dm_p_a_better"] > 1 - 1e-6


def test_diebold_mariano_equally_noisy_predictors_are_not_significant():
    df = panel(400, 8, seed=2, noise={"a": 1.0, "b": 1.0})
    out = diebold_mariano(df, "a", "b", horizon=5)
    dm, p2, p_a = hand_dm(df, "a", "b", 5)
    assert out["dm_stat"] == pytest.approx(dm, rel=1e-9)
    assert out["dm_p_two_sided"] == pytest.approx(p2, rel=1e-9) and out["dm_p_two_sided"] > 0.05
    assert out["dm_p_a_better"] == pytest.approx(p_a, rel=1e-9)


def test_diebold_mariano_of_identical_predictors_is_undefined():
    df = panel(50, 4, seed=3, noise={"a": 1.0})
    df["b"] = df["a"]
    out = diebold_mariano(df, "a", "b", horizon=1)
    assert out["mean_loss_diff"] == 0 and math.isnan(out["dm_stat"]) and math.isnan(out["dm_p_two_sided"])


# --------------------------------------------------------------------------------------- tables for report ---


def test_forecast_statistics_table():
    df = panel(250, 8, seed=4, noise={"model": 3.0, "ridge": 8.0})
    df["zero"] = 0.0
    table = forecast_statistics(df, ("model", "zero", "ridge"), horizon=1, seed=0)
    assert table.index.name == "predictor" and list(table.index) == ["model", "zero", "ridge"]
    assert list(table.columns) == list(FORECAST_STATISTICS)
    hand = [np.corrcoef(g["model"], g["target"])[0, 1] for _, g in df.groupby("date")]
    hand_rank = [stats.spearmanr(g["model"], g["target"]).statistic for _, g in df.groupby("date")]
    row = table.loc["model"]
    assert row["n_days"] == 250 and row["mean_ic"] == pytest.approx(np.mean(hand), rel=1e-12)
    assert row["ic_std"] == pytest.approx(np.std(hand, ddof=1), rel=1e-12)
    assert row["rank_ic_mean"] == pytest.approx(np.mean(hand_rank), rel=1e-12)
    assert row["ic_nw_t"] == pytest.approx(np.mean(hand) / hand_nw_se(np.array(hand), 4), rel=1e-9)
    assert row["ic_ci_low"] < row["mean_ic"] < row["ic_ci_high"] and row["ic_nw_p"] < 1e-6
    zero = table.loc["zero"]
    assert zero["n_days"] == 0 and zero.drop("n_days").isna().all()
    pd.testing.assert_frame_equal(table, forecast_statistics(df, ("model", "zero", "ridge"), horizon=1, seed=0))


def test_best_baseline_comparison_picks_the_lowest_mse_baseline():
    df = panel(300, 8, seed=5, noise={"model": 0.6, "momentum": 2.0, "ridge": 0.9})
    df["zero"] = 0.0
    mse = {k: np.mean((df["target"] - df[k]) ** 2) for k in ("zero", "momentum", "ridge")}
    assert min(mse, key=mse.get) == "ridge"  # the noisier momentum is worse than predicting 0
    out = best_baseline_comparison(df, "model", ("zero", "momentum", "ridge"), horizon=1)
    dm, p2, p_a = hand_dm(df, "model", "ridge", 1)
    assert out["best_baseline"] == "ridge"
    assert out["dm_stat"] == pytest.approx(dm, rel=1e-9) and out["dm_stat"] < 0
    assert out["dm_p_a_better"] == pytest.approx(p_a, rel=1e-6, abs=1e-300)
    with pytest.raises(ValueError, match="at least one baseline"):
        best_baseline_comparison(df, "model", (), horizon=1)
