"""How sure a Sharpe ratio is: its HAC standard error and interval, PSR, and DSR over the registered trials.

Conventions (each function's docstring gives its formula and its paper):

* Per period. SR = mean / std (ddof 1) of the daily net returns, not annualized, as in Bailey & López de Prado;
  the numbers shown to users are annualized by √252 (:data:`~fin_pipeline.backtest.metrics.TRADING_DAYS`).
* Serial correlation. A book of h-day tranches earns daily returns that overlap by construction (each day's
  portfolio holds the last h days' books), so they are autocorrelated up to lag h − 1 even without skill. The
  variance of SR̂ is the Newey–West (Bartlett) long-run variance of its influence function (Lo 2002, GMM form)
  with L = :func:`~fin_pipeline.backtest.statistics.default_lags`(n, h) = max(h − 1, ⌊4 · (n/100)^(2/9)⌋) lags,
  for every h (with L = 0 it is exactly Bailey & López de Prado's IID non-normal variance).
* Total for short series: every function here takes any number of days n ≥ 0 and returns NaN (never raises)
  where a statistic needs more days than exist: the Sharpe ratio needs 2 days with a nonzero spread, its
  variance n ≥ L + 2 (one lag product per lag at the least, plus the mean). Non-finite returns are refused
  (``ValueError``): a book's returns are always finite.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.sandwich_covariance import S_hac_simple

from fin_pipeline.backtest.mean_tests import finite_1d
from fin_pipeline.backtest.metrics import TRADING_DAYS, sharpe_ratio
from fin_pipeline.core.limits import default_lags

NAN = float("nan")
EULER_GAMMA = 0.5772156649015329  # Euler–Mascheroni constant γ
LEVEL = 0.95  # the Sharpe interval's coverage
SHARPE_STATISTICS = ("sharpe", "sharpe_se", "psr", "dsr", "sharpe_ci_low", "sharpe_ci_high", "n_days", "lags")


def sharpe_long_run_variance(returns: pd.Series | np.ndarray, lags: int) -> float:
    """Ω = the Newey–West long-run variance of the Sharpe ratio's influence function ψ_t.

    Lo (2002), "The Statistics of Sharpe Ratios", Financial Analysts Journal 58(4), non-IID case, by the delta
    method: with z_t = (r_t − r̄)/σ (σ the ddof-0 standard deviation, so z has mean 0 and mean square 1) and
    SR̂ the per-period Sharpe ratio (ddof 1), ψ_t = z_t − (SR̂/2)·(z_t² − 1), and
    Ω = (1/n)·[Σ_t ψ_t² + 2 Σ_{j=1..L} (1 − j/(L+1)) Σ_{t>j} ψ_t ψ_{t−j}] (Bartlett weights, Newey & West 1987,
    statsmodels ``S_hac_simple``). Var(SR̂) ≈ Ω / n. With L = 0, Ω = 1 − γ₃·SR̂ + (γ₄ − 1)/4 · SR̂² exactly
    (γ₃, γ₄ the sample skewness and kurtosis, biased moments), the variance term of Bailey & López de Prado's
    PSR; positive autocorrelation makes Ω larger. NaN when SR̂ is undefined, L < 0, or n < L + 2.
    """
    r = finite_1d(returns, "sharpe_long_run_variance")
    n = len(r)
    sr = _per_period_sharpe(r)
    if not math.isfinite(sr) or lags < 0 or n < lags + 2:
        return NAN
    z = (r - r.mean()) / r.std()
    psi = z - sr / 2.0 * (z * z - 1.0)
    omega = float(S_hac_simple(psi[:, None], nlags=int(lags))[0, 0]) / n  # statsmodels returns n·Ω
    return omega if omega > 0 else NAN


def sharpe_standard_error(returns: pd.Series | np.ndarray, lags: int | None = None, horizon: int = 1) -> float:
    """se(SR̂) = √(Ω / (n − 1)), per period, Ω = :func:`sharpe_long_run_variance` with ``lags`` (default
    :func:`~fin_pipeline.backtest.statistics.default_lags`(n, horizon)).

    Lo (2002) non-IID standard error; the divisor n − 1 (Lo's asymptotic form has n) is the one of Bailey &
    López de Prado's PSR, so that PSR = Φ(SR̂ / se) and the interval SR̂ ± z·se agree: the 95% interval excludes 0
    exactly when PSR > 0.975. Multiply by √252 to annualize. NaN where Ω is.
    """
    r = finite_1d(returns, "sharpe_standard_error")
    n = len(r)
    omega = sharpe_long_run_variance(r, default_lags(n, horizon) if lags is None else lags)
    return math.sqrt(omega / (n - 1)) if math.isfinite(omega) else NAN


def probabilistic_sharpe_ratio(sr: float, n: int, skew: float, kurtosis: float, sr_benchmark: float = 0.0) -> float:
    """PSR(SR*) = Φ[(SR̂ − SR*) · √(n − 1) / √(1 − γ₃·SR̂ + (γ₄ − 1)/4 · SR̂²)], returns taken as IID.

    Bailey & López de Prado (2012), "The Sharpe Ratio Efficient Frontier", Journal of Risk 15(2): the probability
    that the true Sharpe ratio exceeds SR*, given the per-period estimate SR̂ over n observations with skewness γ₃
    and kurtosis γ₄ (3 for the normal; not the excess). The reports use :func:`hac_probabilistic_sharpe_ratio`,
    which is this with a serial-correlation-robust variance. NaN when n < 2 or an input is undefined.
    """
    if n < 2 or not all(math.isfinite(v) for v in (sr, skew, kurtosis, sr_benchmark)):
        return NAN
    var = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr * sr  # ≥ (1 − γ₃·SR/2)² ≥ 0 since γ₄ ≥ 1 + γ₃²
    if not var > 0:
        return NAN
    return float(stats.norm.cdf((sr - sr_benchmark) * math.sqrt(n - 1) / math.sqrt(var)))


def hac_probabilistic_sharpe_ratio(
    returns: pd.Series | np.ndarray, sr_benchmark: float = 0.0, lags: int | None = None, horizon: int = 1
) -> float:
    """PSR(SR*) = Φ[(SR̂ − SR*) / se(SR̂)] with the HAC se of :func:`sharpe_standard_error` (Lo 2002).

    = Φ[(SR̂ − SR*) · √(n − 1) / √Ω]: Bailey & López de Prado's PSR with their variance term
    1 − γ₃·SR̂ + (γ₄ − 1)/4 · SR̂² replaced by its Newey–West long-run version Ω (identical with L = 0).
    ``sr_benchmark`` per period. NaN where the se is.
    """
    r = finite_1d(returns, "hac_probabilistic_sharpe_ratio")
    se = sharpe_standard_error(r, lags, horizon)
    if not (math.isfinite(se) and math.isfinite(sr_benchmark)):
        return NAN
    return float(stats.norm.cdf((_per_period_sharpe(r) - sr_benchmark) / se))


def expected_max_sharpe(n_trials: int, variance: float) -> float:
    """SR₀ = √V · ((1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e))), the expected maximum of N null Sharpe ratios.

    Bailey & López de Prado (2014), "The Deflated Sharpe Ratio: Correcting for Selection Bias, Backtest
    Overfitting and Non-Normality", Journal of Portfolio Management 40(5), from the False Strategy theorem of
    Bailey, Borwein, López de Prado & Zhu (2014): N independent trials whose Sharpe ratios have variance V and
    true value 0; γ the Euler–Mascheroni constant. N = 1 (no selection) → 0. In the units of V (per period here).
    NaN for N < 1 or an undefined V with N ≥ 2.
    """
    if n_trials < 1:
        return NAN
    if n_trials == 1:
        return 0.0
    if not (math.isfinite(variance) and variance >= 0):
        return NAN
    z = (1.0 - EULER_GAMMA) * stats.norm.ppf(1.0 - 1.0 / n_trials) + EULER_GAMMA * stats.norm.ppf(
        1.0 - 1.0 / (n_trials * math.e)
    )
    return float(math.sqrt(variance) * z)


def deflated_sharpe_ratio(sr: float, n: int, skew: float, kurtosis: float, n_trials: int, variance: float) -> float:
    """DSR = PSR(SR₀) with SR₀ = :func:`expected_max_sharpe`(N, V): the PSR against the best of N lucky trials.

    Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", JPM 40(5), with their IID variance term
    (:func:`probabilistic_sharpe_ratio`). ``sr`` per period over n observations with skewness γ₃ and kurtosis
    γ₄; V the variance of the N trials' per-period Sharpe ratios. With N = 1, DSR = PSR(0).
    """
    return probabilistic_sharpe_ratio(sr, n, skew, kurtosis, expected_max_sharpe(n_trials, variance))


def trial_variance(trial_sharpes: Sequence[float] | np.ndarray) -> float:
    """V = the sample variance (ddof 1) of the trials' PER-PERIOD Sharpe ratios, from their annualized ones
    (divided by √252). Trials whose Sharpe ratio is undefined (NaN) still count in N but not in V; NaN with
    fewer than two defined values."""
    values = np.asarray(trial_sharpes, np.float64) / math.sqrt(TRADING_DAYS)
    values = values[np.isfinite(values)]
    return float(np.var(values, ddof=1)) if len(values) >= 2 else NAN


def sharpe_statistics(
    returns: pd.Series | np.ndarray,
    horizon: int = 1,
    trial_sharpes: Sequence[float] | np.ndarray | None = None,
    lags: int | None = None,
) -> dict[str, float]:
    """How sure the Sharpe ratio of a daily net return series is (the book of an h-day target).

    * ``sharpe``: annualized, = :func:`~fin_pipeline.backtest.metrics.sharpe_ratio` (mean/std·√252, ddof 1).
    * ``lags``: L = ``lags``, default :func:`~fin_pipeline.backtest.statistics.default_lags`(n, h)
      = max(h − 1, ⌊4 · (n/100)^(2/9)⌋) (Newey & West 1994; at least the h − 1 lags of overlapping tranches).
    * ``sharpe_se``: :func:`sharpe_standard_error` · √252, Lo's (2002) HAC standard error with L lags.
    * ``sharpe_ci_low``, ``sharpe_ci_high``: the 95% interval sharpe ± Φ⁻¹(0.975) · sharpe_se (Lo 2002,
      asymptotic normality of SR̂).
    * ``psr``: :func:`hac_probabilistic_sharpe_ratio` P[SR > 0].
    * ``dsr``: the deflated Sharpe ratio (Bailey & López de Prado 2014): the same HAC PSR against
      SR₀ = :func:`expected_max_sharpe`(N, V), N = len(``trial_sharpes``) (every registered trial, this one
      included; ANNUALIZED like ``sharpe``) and V = :func:`trial_variance`. N = 1 → DSR = PSR. No
      ``trial_sharpes`` (a book that is not a trial: a baseline, buy-and-hold) → NaN.
    * ``n_days``.

    NaN where undefined (see the module docstring); never raises for a short series.
    """
    r = finite_1d(returns, "sharpe_statistics")
    n = len(r)
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    lags = default_lags(n, horizon) if lags is None else lags
    out = dict.fromkeys(SHARPE_STATISTICS, NAN) | {"n_days": float(n), "lags": float(lags)}
    sharpe = sharpe_ratio(r)
    if not math.isfinite(sharpe):
        return out
    se = sharpe_standard_error(r, lags)
    half = stats.norm.ppf(0.5 + LEVEL / 2.0) * se * math.sqrt(TRADING_DAYS)
    out |= {
        "sharpe": sharpe,
        "sharpe_se": se * math.sqrt(TRADING_DAYS),
        "sharpe_ci_low": sharpe - half,
        "sharpe_ci_high": sharpe + half,
        "psr": hac_probabilistic_sharpe_ratio(r, 0.0, lags),
    }
    if trial_sharpes is not None and len(trial_sharpes):
        n_trials = len(trial_sharpes)
        sr0 = expected_max_sharpe(n_trials, trial_variance(trial_sharpes) if n_trials > 1 else 0.0)
        out["dsr"] = hac_probabilistic_sharpe_ratio(r, sr0, lags)
    return out


def _per_period_sharpe(r: np.ndarray) -> float:
    return sharpe_ratio(r) / math.sqrt(TRADING_DAYS)
