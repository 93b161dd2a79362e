"""The statistics that separate skill from luck: how sure each out-of-sample number is.

Conventions, stated once (each function's docstring gives its formula and its paper):

* ``predictions`` has one row per (date, ticker): ``date``, ``ticker``, ``target`` (the realized h-day log return
  from close t to close t+h) and one column per predictor (``model``, ``zero``, ``momentum``, ``ridge``).
* Daily series. Every test here runs on ONE value per day: the day's cross-sectional IC, the day's loss
  differential averaged over its tickers, the day's strategy return. Rows of one day are not independent (they
  share the market's move that day), so treating the n·k rows as n·k observations would overstate the evidence.
* Overlap. With h > 1 the targets of consecutive days share h − 1 daily returns, so a daily series built from them
  is autocorrelated up to lag h − 1 even without skill: every standard error is Newey–West (HAC, Bartlett kernel)
  with at least h − 1 lags (:func:`default_lags`).
* HAC small-sample convention: Var(x̄) = (1/n²)·[Σ_t e_t² + 2 Σ_{j=1..L} (1 − j/(L+1)) Σ_{t>j} e_t e_{t−j}],
  e_t = x_t − x̄: statsmodels ``cov_type="HAC"`` with ``use_correction=False`` (no n/(n − 1) factor). p-values come
  from Student's t with n − 1 degrees of freedom (statsmodels ``use_t=True``), a little more cautious than the
  normal on a fold's ~150 days and the same reference distribution as the Harvey–Leybourne–Newbold DM test.
* The Sharpe ratio's statistics (HAC standard error and interval, PSR, DSR over the registered trials) live in
  :mod:`fin_pipeline.backtest.sharpe`.
* The tests of one series' mean (Newey–West t-test, bootstrap interval) live in
  :mod:`fin_pipeline.backtest.mean_tests`.
* Intervals are 95% percentile intervals of a stationary bootstrap (Politis & Romano 1994) with the block length of
  Politis & White (2004), from ``arch``; they are deterministic for a seed.
* Undefined is NaN, never a made-up 0: no days, a constant series (zero standard error), a constant predictor
  (no correlation), and a series too short for the statistic: a HAC test needs more days than lags
  (:func:`~fin_pipeline.core.limits.hac_defined`), a bootstrap interval needs the days its block-length estimate
  reads (:func:`~fin_pipeline.core.limits.block_length_defined`: 8). A new fold's first test days are such a
  series; NaN is reported as "n/a (n days)", never raised. Non-finite inputs to a test are refused
  (``ValueError``); rows whose prediction or target is not finite are left out of the per-day aggregates (a NaN
  prediction is "no call", as in the strategy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from fin_pipeline.backtest.mean_tests import bootstrap_ci, finite_1d, newey_west_mean_test
from fin_pipeline.core.limits import default_lags

NAN = float("nan")
FORECAST_STATISTICS = (
    "n_days",
    "mean_ic",
    "ic_std",
    "icir",
    "ic_nw_t",
    "ic_nw_p",
    "ic_ci_low",
    "ic_ci_high",
    "rank_ic_mean",
)
DM_STATISTICS = ("dm_stat", "dm_p_two_sided", "dm_p_a_better", "mean_loss_diff", "n_days")


# --------------------------------------------------------------------------------------------------- daily IC ---


def ic_series(
    pred: pd.Series | np.ndarray, target: pd.Series | np.ndarray, days: pd.Series | np.ndarray, rank: bool = False
) -> pd.Series:
    """The daily information coefficient IC_d = corr(p_d, y_d) across the tickers of day d, one value per day.

    Pearson: IC_d = Σ_i (p_i − p̄)(y_i − ȳ) / √(Σ_i (p_i − p̄)² · Σ_i (y_i − ȳ)²) over the rows i of day d;
    ``rank=True`` applies it to the day's ranks (Spearman; ties get their average rank). Rows whose prediction or
    target is not finite are dropped first. Days with fewer than two tickers, or with a constant prediction or a
    constant target (max = min), have no correlation and are left out (not set to 0). Indexed by day (``date``),
    sorted; named ``ic`` or ``rank_ic``. Grinold & Kahn (2000), *Active Portfolio Management*, ch. 6 and 12.
    """
    p, y = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    ok = np.isfinite(p) & np.isfinite(y)
    df = pd.DataFrame({"p": p[ok], "y": y[ok], "d": np.asarray(days)[ok]})
    name = "rank_ic" if rank else "ic"
    if rank:
        grouped = df.groupby("d", sort=True)
        df["p"], df["y"] = grouped["p"].rank(method="average"), grouped["y"].rank(method="average")
    g = df.groupby("d", sort=True)
    shape = g.agg(n=("p", "size"), p_lo=("p", "min"), p_hi=("p", "max"), y_lo=("y", "min"), y_hi=("y", "max"))
    # max > min is exact: a centred constant can leave a rounding residue that a "> 0" test would take for spread.
    valid = (shape["n"] >= 2) & (shape["p_hi"] > shape["p_lo"]) & (shape["y_hi"] > shape["y_lo"])
    dp, dy = df["p"] - g["p"].transform("mean"), df["y"] - g["y"].transform("mean")
    sums = pd.DataFrame({"pp": dp * dp, "yy": dy * dy, "py": dp * dy, "d": df["d"]}).groupby("d", sort=True).sum()
    sums = sums[valid.reindex(sums.index, fill_value=False)]
    corr = (sums["py"] / np.sqrt(sums["pp"] * sums["yy"])).clip(-1.0, 1.0)
    return corr.rename(name).rename_axis("date").astype(np.float64)


def ic_statistics(ic: pd.Series, horizon: int) -> dict[str, float]:
    """Summary and significance of a daily IC series (from :func:`ic_series`).

    mean_ic = mean_d IC_d; ic_std = std_d IC_d (ddof 1); icir = mean_ic / ic_std (per day, not annualized);
    ic_nw_t, ic_nw_p = :func:`newey_west_mean_test` of IC_d with L = :func:`default_lags`(n, h) lags
    (Newey & West 1987), because the IC of overlapping h-day targets is autocorrelated up to lag h − 1.
    Undefined values are NaN (no day; one day has no std; a constant IC has no ICIR).
    """
    values = finite_1d(ic, "ic_statistics")
    n = len(values)
    lags = default_lags(n, horizon)
    test = newey_west_mean_test(values, lags)
    std = float(np.std(values, ddof=1)) if n >= 2 else NAN
    return {
        "n_days": float(n),
        "mean_ic": test.mean,
        "ic_std": std,
        "icir": test.mean / std if std > 0 else NAN,
        "ic_nw_t": test.t,
        "ic_nw_p": test.p,
        "ic_lags": float(lags),
    }


# ------------------------------------------------------------------------------------- forecast comparison ---


def diebold_mariano(predictions: pd.DataFrame, a: str, b: str, horizon: int) -> dict[str, float]:
    """Diebold–Mariano test of equal mean squared error of predictors ``a`` and ``b``, HLN-corrected.

    d_t = mean_i (y_{t,i} − a_{t,i})² − mean_i (y_{t,i} − b_{t,i})², one value per day t: the losses are averaged
    over the tickers of the day FIRST because the errors of one day are cross-sectionally dependent (one market
    move hits every ticker), so the day, not the row, is the independent unit. Rows where y, a or b is not finite
    are dropped (both losses are always taken on the same rows).
    DM = d̄ / se_NW(d̄) with L = :func:`default_lags`(n, h) ≥ h − 1 Bartlett lags (Diebold & Mariano 1995,
    "Comparing predictive accuracy", JBES 13(3); :func:`newey_west_mean_test`), then the small-sample correction
    of Harvey, Leybourne & Newbold (1997), "Testing the equality of prediction mean squared errors", IJF 13(2):
    DM* = DM · √((n + 1 − 2h + h(h − 1)/n) / n), referred to Student's t with n − 1 degrees of freedom. (HLN derive
    the factor for the rectangular h − 1 lag variance; applied here to the Bartlett one, as is common.)
    ``dm_p_two_sided`` = 2·P[T > |DM*|]; ``dm_p_a_better`` = P[T ≤ DM*], the one-sided p of "a has lower
    loss than b" (d̄ < 0). ``mean_loss_diff`` = d̄ (negative: a better). NaN when undefined (fewer than two
    days, identical losses every day).
    """
    df = predictions[["date", "target", a, b]]
    y, pa, pb = (df[c].to_numpy(np.float64) for c in ("target", a, b))
    ok = np.isfinite(y) & np.isfinite(pa) & np.isfinite(pb)
    diff = pd.Series((y[ok] - pa[ok]) ** 2 - (y[ok] - pb[ok]) ** 2).groupby(df["date"].to_numpy()[ok], sort=True)
    d = diff.mean().to_numpy(np.float64)
    n, h = len(d), horizon
    test = newey_west_mean_test(d, default_lags(n, h))
    out = {"dm_stat": NAN, "dm_p_two_sided": NAN, "dm_p_a_better": NAN, "mean_loss_diff": test.mean, "n_days": float(n)}
    factor = (n + 1 - 2 * h + h * (h - 1) / n) / n if n else NAN
    if not (math.isfinite(test.t) and factor > 0):
        return out
    dm = test.t * math.sqrt(factor)
    return out | {
        "dm_stat": dm,
        "dm_p_two_sided": float(2.0 * stats.t.sf(abs(dm), n - 1)),
        "dm_p_a_better": float(stats.t.cdf(dm, n - 1)),
    }


def forecast_statistics(
    predictions: pd.DataFrame, predictors: Sequence[str], horizon: int, seed: int = 0
) -> pd.DataFrame:
    """One row per predictor (index ``predictor``): its daily IC series and how sure its mean is.

    n_days, mean_ic, ic_std, icir, ic_nw_t, ic_nw_p: :func:`ic_statistics` of :func:`ic_series` (Pearson) with
    the target horizon h; ic_ci_low, ic_ci_high: 95% :func:`bootstrap_ci` of the mean of the daily IC series
    (stationary bootstrap, 1,000 resamples, ``seed``); rank_ic_mean: mean of the Spearman daily IC. A predictor
    with no defined IC (e.g. ``zero``, constant every day) has n_days 0 and NaN elsewhere.
    """
    days, target = predictions["date"].to_numpy(), predictions["target"].to_numpy(np.float64)
    rows = {}
    for name in predictors:
        pred = predictions[name].to_numpy(np.float64)
        ic = ic_series(pred, target, days)
        rank_ic = ic_series(pred, target, days, rank=True)
        summary = ic_statistics(ic, horizon)
        low, high = bootstrap_ci(ic.to_numpy(), np.mean, seed=seed)
        rows[name] = summary | {
            "ic_ci_low": low,
            "ic_ci_high": high,
            "rank_ic_mean": float(rank_ic.mean()) if len(rank_ic) else NAN,
        }
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(FORECAST_STATISTICS))
    return table.astype(np.float64).rename_axis("predictor")


def best_baseline_comparison(
    predictions: pd.DataFrame, model: str, baselines: Sequence[str], horizon: int
) -> dict[str, float | str]:
    """DM test of ``model`` against the strongest baseline: the one with the lowest MSE on these rows.

    MSE_k = mean over rows of (y − k)² on the rows where the target, the model and every baseline are finite
    (the same rows for all; ties go to the first listed). Returns :func:`diebold_mariano`(predictions, model,
    best, h) with ``best_baseline``: its name. Choosing the strongest baseline on the scored rows themselves can
    only make the comparison harder, never easier, for the model: the chosen baseline's loss is the lowest
    of the candidates' on exactly these rows, so the DM statistic of the model against it is the least favourable
    to the model among the candidates' (up to the per-day weighting); no selection happens on the model's side.
    """
    if not baselines:
        raise ValueError("best_baseline_comparison needs at least one baseline")
    cols = ["target", model, *baselines]
    values = predictions[cols].to_numpy(np.float64)
    rows = np.isfinite(values).all(axis=1)
    y = values[rows, 0]
    mse = {
        name: float(np.mean((y - values[rows, 2 + k]) ** 2)) if rows.any() else NAN for k, name in enumerate(baselines)
    }
    best = min(baselines, key=lambda name: (math.isnan(mse[name]), mse[name]))
    return diebold_mariano(predictions, model, best, horizon) | {"best_baseline": best}
