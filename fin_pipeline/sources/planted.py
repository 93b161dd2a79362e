"""The synthetic market's planted signal: a predictable component of known strength (simulated prices only).

``signal_ic = c`` in ``[0, MAX_SIGNAL_IC)`` (``FIN_PIPELINE_SIGNAL_IC``, off by default) checks that the pipeline
finds a signal that is known to exist. It is planted in **the return the default execution earns**: the
open-to-open log return ``a_{t+2} = log(open_{t+2} / open_{t+1})`` of a book decided at close t and bought at the
next open (``next_open``, :mod:`fin_pipeline.sources.execution`), predicted by the feature column ``ret_1d``
(``d_t = log(close_t / close_{t-1})``, known at close t) with information coefficient ``c``.

The model (log returns; ``r_t`` the unplanted market's return of the day, ``mu`` its expectation; kappa =
:data:`PLANTED_GAP` = 0.3)::

    close:  d_t = mu + c' (d_{t-1} - mu) + sqrt(1 - c'**2) (r_t - mu),   c' = c sqrt(1 + 2 kappa**2)
    open:   log open_t = log close_{t-1} + g_t,   g_t = kappa s (beta sigma_m,t zg_m,t + sigma_t zg_t)

``g_t`` is an overnight gap of its own: the same factor structure as the day's diffusive return (the market's
part at the market's volatility of the day, the ticker's at its own) with fresh shocks, independent of every
close, and ``s**2`` = the ticker's return variance (jumps included) over its mean diffusive variance, so that
``E[g**2] = kappa**2 Var(d)``. Why the IC of ``d_t`` for ``a_{t+2}`` is ``c``:

* ``d`` is a stationary AR(1) with coefficient ``c'`` and innovation variance ``(1 - c'**2) Var(r)``, so
  ``Var(d) = Var(r)`` (daily volatility as without the signal) and ``Cov(d_t, d_{t+1}) = c' Var(d)``;
* ``a_{t+2} = log open_{t+2} - log open_{t+1} = d_{t+1} + g_{t+2} - g_{t+1}``, the gaps independent of ``d``:
  ``Cov(d_t, a_{t+2}) = c' Var(d)`` and ``Var(a) = Var(d) (1 + 2 kappa**2)``, so
  ``corr(d_t, a_{t+2}) = c' / sqrt(1 + 2 kappa**2) = c``;
* across tickers on one day (the cross-sectional IC): every ticker has the same ``c'`` and ``kappa``, and the
  gap has the return's factor structure, so the demeaned returns and gaps keep these ratios up to the jumps
  (which the gap spreads over its diffusive parts): ``c`` to within a few per cent of it, measured in
  ``test_synthetic.py``.
* What a user measures, the mean over days of the sample correlation across ``N`` tickers, sits slightly below
  ``c``: ``E[corr] ~ c (1 - (1 - c**2) / (2N))`` (Fisher 1915; Olkin & Pratt 1958), e.g. 0.094 for ``c = 0.1``
  and 8 tickers; the standard error of that mean is a little above ``1 / sqrt((N - 1) days)`` (fat tails):
  about 0.0066 for 8 tickers over 16 years. Suggested strength: ``c = 0.1``. Even a perfect predictor then
  scores only about ``t = 4`` on one year's test block of 8 tickers (``t = 2`` at 0.05).

The other executions see other ICs of ``ret_1d``: ``close`` (close t to close t+1, not executable from a run
after the close) sees ``c' ~ 1.086 c``; ``next_close`` (close t+1 to close t+2) sees ``c'**2`` (0.012 at
``c = 0.1``): the planted signal is spent before the next close. The signal makes close-to-close returns
autocorrelated (momentum), so long-horizon variance grows by ``(1 + c') / (1 - c')`` (1.24 at 0.1); prices stay
plausible through the upper bound (``c' < 0.55``). Without a signal nothing here runs: the unplanted market's
bars do not change by one bit.

**The temporal signal** (``temporal_ic = e`` in ``[0, MAX_SIGNAL_IC)``, ``FIN_PIPELINE_SIGNAL_TEMPORAL_IC``, off by
default) is nonlinear and lives in the window's path, not in any one day's features: the next open-to-open
return loads on the *sign pattern* of two past returns,

    q_t = sign(d_{t-6}) sign(d_{t-9})           (:data:`TEMPORAL_LAGS`; ``d`` the realized close-to-close return)
    close:  d_{t+1} = mu + c' (d_t - mu) + sqrt(1 - c'**2 - e'**2) (r_{t+1} - mu) + e' S q_t
            e' = e sqrt(1 + 2 kappa**2)

with ``S**2 = Var(r)`` the ticker's return variance (jumps included) and the planted gap above. ``q_t`` is known
at close t (both returns are inside the 30-day window) and is ``±1`` with mean ~0 (``P(d > 0)`` is within 1% of
one half: ``mu / sigma`` is a few hundredths) and variance 1. It is an XOR of two signs: its correlation with any
one return, or with any linear combination of returns (every ``ret_*``, SMA/EMA ratio, slope), is zero, and so
is its correlation with any even function of returns (the volatilities, ranges); a model must read the two days
apart and multiply their signs. Why the IC of ``q_t`` for ``a_{t+2}`` is ``e``:

* ``q_t`` is independent of the future shock ``r_{t+1}`` and uncorrelated with ``d_t`` (an odd function of two
  returns six and nine days before it, whose signs the AR(1) link ``c'**6`` barely touches), so
  ``Var(d) = c'**2 Var(d) + (1 - c'**2 - e'**2) Var(r) + e'**2 S**2`` gives ``Var(d) = Var(r)`` as before;
* ``Cov(q_t, a_{t+2}) = Cov(q_t, d_{t+1}) = e' S`` and ``Var(a) = Var(r) (1 + 2 kappa**2)``, so each ticker's
  **time-series** IC is ``corr(q_t, a_{t+2}) = e' / sqrt(1 + 2 kappa**2) = e`` exactly;
* the **cross-sectional** IC (what the report scores) is higher: ``q`` has almost no common part (the market
  makes two tickers' signs correlate about 0.2, their products about 0.04), while the day's demeaning removes
  the market's share of the outcome's variance; measured ``1.18 e`` for 20 tickers over 12 years
  (``test_planted_temporal.py``). The benchmarks score the oracle, :func:`temporal_predictor`, the same way
  as the models, on the same rows, so ratios to it do not depend on this factor.

The oracle, :func:`temporal_predictor`, recomputes ``q_t`` from a window's ``ret_1d`` column (which is ``d``).
What can learn it: ridge and LightGBM on the last day's features cannot (their test ICs stay within two standard
errors of 0); a network must tell which days of the window are which, and global pooling over time (a mean and a
maximum) cannot, so the CNN reads out the last day as well (``models/cnn.py``). Measured by
``benchmarks/recovery.py --quick --signals temporal --set epochs=10`` (8 tickers, two yearly test blocks, the IC
loss at 3e-3), the CNN's stitched IC as a share of the oracle's: 0.36 at ``e = 0.1``, 0.58 at 0.2, 0.69 at 0.3.
The LSTM and the attention network do not find it at these sizes (0.04 and -0.09 at 0.3). An XOR at 1% of the
variance is a hard target for ~17,000 training windows a fold; ``benchmarks/README.md`` has the table.
Both signals may be planted at once: below :data:`MAX_SIGNAL_IC` each, ``c'**2 + e'**2 < 0.59`` leaves the
market's shock most of the variance. With ``e = 0`` the bars are exactly the linear signal's (or the unplanted
market's).
"""

from __future__ import annotations

import math

import numpy as np

from fin_pipeline.core.limits import MAX_SIGNAL_IC

#: kappa: the planted market's overnight gap's standard deviation as a share of the daily return's.
PLANTED_GAP = 0.3
#: The temporal signal's two lags: q_t = sign(d_{t-6}) sign(d_{t-9}), days before the decision day t.
TEMPORAL_LAGS = (6, 9)


def check_signal_ic(value: object, name: str = "signal_ic") -> float:
    """``value`` as a float if it is a usable planted IC, in ``[0, MAX_SIGNAL_IC)``; else ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"synthetic: {name} must be a number in [0, {MAX_SIGNAL_IC}), got {value!r}")
    ic = float(value)
    if not 0.0 <= ic < MAX_SIGNAL_IC:  # also refuses NaN
        raise ValueError(f"synthetic: {name} must be in [0, {MAX_SIGNAL_IC}), got {value!r}")
    return ic


def close_loading(signal_ic: float) -> float:
    """``c' = c sqrt(1 + 2 kappa**2)``: the close-to-close loading that gives the next open-to-open return IC ``c``."""
    return signal_ic * math.sqrt(1.0 + 2.0 * PLANTED_GAP**2)


def overnight_gap(market_part: np.ndarray, own_part: np.ndarray, variance_ratio: float) -> np.ndarray:
    """``g = kappa s (market_part + own_part)``: the parts are ``beta sigma_m,t zg_m,t`` and ``sigma_t zg_t``,
    ``variance_ratio`` is ``s**2`` (the ticker's return variance over its mean diffusive variance)."""
    return PLANTED_GAP * math.sqrt(variance_ratio) * (market_part + own_part)


def temporal_predictor(ret_1d: np.ndarray) -> np.ndarray:
    """The temporal signal's oracle ``q_t = sign(d_{t-6}) sign(d_{t-9})`` of windows ``(..., W)`` of ``ret_1d``
    (the last entry is day t): ``(...)``, each ±1 (0 only where a return is exactly 0)."""
    ret_1d = np.asarray(ret_1d, dtype=np.float64)
    a, b = TEMPORAL_LAGS
    return np.sign(ret_1d[..., -1 - a]) * np.sign(ret_1d[..., -1 - b])


def deviation(
    ret: np.ndarray,
    trend: float,
    loading: float,
    pull: float,
    temporal_step: np.ndarray | None = None,
    temporal_share: float = 0.0,
) -> np.ndarray:
    """The log close's deviation from its trend line when past returns predict today's (sequential).

    ``d_t = trend + loading (d_{t-1} - trend) + keep (ret_t - trend) + step_t q_{t-1} - pull dev_{t-1}``,
    ``keep = sqrt(1 - loading**2 - temporal_share)``, ``q_{t-1} = sign(d_{t-7}) sign(d_{t-10})`` (0 before day
    10), the realized close-to-close log return, and ``dev_t = dev_{t-1} + d_t - trend``; ``d_{-1} = trend``,
    ``dev_{-1} = 0``. ``temporal_step`` is ``e' S_t`` per day (None: no temporal signal), ``temporal_share`` its
    mean square over ``Var(ret)``; ``pull`` the synthetic market's weak daily pull toward the trend line. Without
    a temporal step the arithmetic is the linear signal's alone, bit for bit.
    """
    keep = math.sqrt(1.0 - loading * loading - temporal_share)
    steps = [0.0] * len(ret) if temporal_step is None else np.asarray(temporal_step, np.float64).tolist()
    a, b = TEMPORAL_LAGS[0] + 1, TEMPORAL_LAGS[1] + 1  # q_{t-1}'s lags, counted from day t
    dev = np.empty(len(ret))
    signs = [0.0] * len(ret)
    prev_dev, prev_d = 0.0, trend
    for t, r in enumerate(ret.tolist()):  # ~15 ms per 10k days
        d = trend + loading * (prev_d - trend) + keep * (r - trend) - pull * prev_dev
        if temporal_step is not None and t >= b:
            d += steps[t] * signs[t - a] * signs[t - b]
        prev_dev = dev[t] = prev_dev + d - trend
        signs[t] = 1.0 if d > 0 else -1.0 if d < 0 else 0.0
        prev_d = d
    return dev
