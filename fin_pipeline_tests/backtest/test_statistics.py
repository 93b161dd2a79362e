"""Each statistic against a value computed another way: hand loops, closed forms, the papers' worked examples."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fin_pipeline.backtest.mean_tests import MeanTest, bootstrap_ci, newey_west_mean_test
from fin_pipeline.backtest.statistics import (
    FORECAST_STATISTICS,
    best_baseline_comparison,
    diebold_mariano,
    forecast_statistics,
    ic_series,
    ic_statistics,
)
from fin_pipeline.core.limits import default_lags
from fin_pipeline.evaluation.forecast import information_coefficient, rank_information_coefficient


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
