"""How far the numbers may go: the largest planted signal, and the fewest days each out-of-sample statistic needs.

Leaves: the settings check against them, and the sources, the statistics and the tables that print "n/a (n days)"
read them from here, so each bound is stated once.
"""

from __future__ import annotations

import math

#: Planted ICs are refused from here on: beyond it the returns would be more predictable than any market.
MAX_SIGNAL_IC = 0.5


def hac_defined(n: int, lags: int) -> bool:
    """Whether a Newey–West mean test with ``lags`` lags is defined on n values: n ≥ max(2, L + 1).

    The lag-L autocovariance averages the n − L products e_t·e_{t−L}: with n ≤ L there is none, and the
    weights of the missing lags would silently be zero; the t reference needs n − 1 ≥ 1 degrees of freedom.
    """
    return n >= max(2, lags + 1)


def default_lags(n: int, horizon: int) -> int:
    """Newey–West lags L = max(h − 1, ⌊4 · (n/100)^(2/9)⌋).

    The second term is the rule of thumb of Newey & West (1994), "Automatic lag selection in covariance matrix
    estimation", RES 61(4) (Bartlett kernel; 7 lags for n = 2,000 days, 4 for 150); the first guarantees the
    h − 1 lags that overlapping h-day targets make autocorrelated by construction (Hansen & Hodrick 1980).
    """
    if n < 0 or horizon < 1:
        raise ValueError(f"need n >= 0 and horizon >= 1, got n={n}, horizon={horizon}")
    return max(horizon - 1, math.floor(4.0 * (n / 100.0) ** (2.0 / 9.0)))


def days_needed(horizon: int = 1) -> int:
    """The fewest days on which every statistic here is defined for a series that varies (8 for h = 1).

    The smallest n with a bootstrap block length (:func:`block_length_defined`), a Newey–West test with
    :func:`default_lags`(n, h) lags (:func:`hac_defined`) and a positive Harvey–Leybourne–Newbold factor
    n + 1 − 2h + h(h − 1)/n (:func:`diebold_mariano`). Below it an undefined statistic is "too few days"; from it
    on, a degenerate series (no variation).
    """
    n = 2
    while not (
        block_length_defined(n)
        and hac_defined(n, default_lags(n, horizon))
        and n + 1 - 2 * horizon + horizon * (horizon - 1) / n > 0
    ):
        n += 1
    return n


def block_length_defined(n: int) -> bool:
    """Whether the Politis–White block length can be estimated on n values: n ≥ ⌈√n⌉ + k_n, k_n = max(5, ⌊log₁₀ n⌋).

    The estimate scans the autocorrelations up to lag m_max = ⌈√n⌉ + k_n for k_n consecutive insignificant
    ones (Politis & White 2004, section 3.2; ``arch.bootstrap.optimal_block_length``): a series shorter than
    m_max has no such lags. The first n that passes is 8.
    """
    return n >= 2 and n >= math.ceil(math.sqrt(n)) + max(5, math.floor(math.log10(n)))
