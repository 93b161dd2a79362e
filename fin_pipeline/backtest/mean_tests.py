"""Tests of the mean of one daily series: a Newey–West (HAC) t-test and a stationary-bootstrap interval.

The conventions (HAC small-sample rule, Student's t reference, bootstrap block length, NaN for undefined) are
stated in :mod:`fin_pipeline.backtest.statistics`, whose statistics and :mod:`fin_pipeline.backtest.sharpe`'s
use these.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from arch.bootstrap import StationaryBootstrap, optimal_block_length
from statsmodels.regression.linear_model import OLS

from fin_pipeline.core.limits import block_length_defined, hac_defined

NAN = float("nan")


def finite_1d(x: pd.Series | np.ndarray | Sequence[float], what: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).ravel()
    if not np.isfinite(a).all():
        raise ValueError(f"{what}: {int((~np.isfinite(a)).sum())} non-finite value(s); a test needs finite numbers")
    return a


# ------------------------------------------------------------------------------------------- HAC mean test ---


@dataclass(frozen=True)
class MeanTest:
    """A test of E[x] = 0: the mean, its HAC standard error, t = mean / se, the two-sided p, days and lags."""

    mean: float
    se: float
    t: float
    p: float
    n: int
    lags: int


def newey_west_mean_test(x: pd.Series | np.ndarray | Sequence[float], lags: int) -> MeanTest:
    """t-test of E[x] = 0 with the Newey & West (1987) HAC standard error of the mean.

    se² = (1/n²) · [Σ_t e_t² + 2 Σ_{j=1..L} w_j Σ_{t=j+1..n} e_t e_{t−j}], e_t = x_t − x̄, Bartlett weights
    w_j = 1 − j/(L+1) (always ≥ 0: Newey & West 1987, "A simple, positive semi-definite, heteroskedasticity and
    autocorrelation consistent covariance matrix", Econometrica 55(3)). Computed as statsmodels OLS of x on a
    constant with ``cov_type="HAC"``, ``maxlags=L``, ``use_correction=False`` (no n/(n − k) small-sample factor).
    t = x̄ / se; p = 2·P[T_{n−1} > |t|], Student's t with n − 1 degrees of freedom. Too few values for L lags
    (:func:`hac_defined`: n < max(2, L + 1)), or se = 0 (a constant series), → se, t and p NaN.
    """
    a = finite_1d(x, "newey_west_mean_test")
    if lags < 0:
        raise ValueError(f"lags must be >= 0, got {lags}")
    n = len(a)
    mean = float(a.mean()) if n else NAN
    if not hac_defined(n, lags):
        return MeanTest(mean, NAN, NAN, NAN, n, lags)
    if a.max() == a.min():  # exact test: OLS would leave a rounding residue as a tiny se and an absurd t
        return MeanTest(float(a[0]), 0.0, NAN, NAN, n, lags)
    fit = OLS(a, np.ones(n)).fit(cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": False}, use_t=True)
    se = float(fit.bse[0])
    if not se > 0:
        return MeanTest(mean, se, NAN, NAN, n, lags)
    return MeanTest(float(fit.params[0]), se, float(fit.tvalues[0]), float(fit.pvalues[0]), n, lags)


# ------------------------------------------------------------------------------------------------ bootstrap ---


def bootstrap_ci(
    x: pd.Series | np.ndarray | Sequence[float],
    statistic: Callable[[np.ndarray], float],
    level: float = 0.95,
    reps: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval [q_{α/2}, q_{1−α/2}] (α = 1 − level) of ``statistic`` over stationary-bootstrap resamples.

    The stationary bootstrap (Politis & Romano 1994, "The stationary bootstrap", JASA 89) resamples blocks of
    geometric length with mean b, keeping the serial dependence of x inside blocks; b is the optimal block length
    of Politis & White (2004), "Automatic block-length selection for the dependent bootstrap", Econometric
    Reviews 23, with the correction of Patton, Politis & White (2009), floored at 1 (``arch.bootstrap.
    optimal_block_length``, column ``stationary``). ``arch.bootstrap.StationaryBootstrap(b, x, seed=seed)``
    draws ``reps`` resamples: the same seed gives the same interval. Quantiles are numpy's linear ones. NaN, NaN
    when the block length cannot be estimated (:func:`block_length_defined`: fewer than 8 values) or when a
    resample's statistic is undefined (e.g. the Sharpe ratio of a resample with zero variance).
    """
    a = finite_1d(x, "bootstrap_ci")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if not block_length_defined(len(a)):
        return NAN, NAN
    # A constant series has no autocorrelation to estimate (every resample is the series itself). At n = m_max
    # the last autocorrelation is 0/0: its NaN never counts as insignificant, which is the estimator's rule.
    with np.errstate(divide="ignore", invalid="ignore"):
        block = float(optimal_block_length(a)["stationary"].iloc[0]) if a.max() > a.min() else 1.0
    block = max(1.0, block) if math.isfinite(block) else 1.0
    bs = StationaryBootstrap(block, a, seed=seed)
    draws = bs.apply(lambda sample: np.array([statistic(sample)], np.float64), reps=reps)[:, 0]
    if not np.isfinite(draws).all():
        return NAN, NAN
    alpha = 1.0 - level
    lo, hi = np.quantile(draws, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)
