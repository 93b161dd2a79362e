"""The Probability of Backtest Overfitting by Combinatorially Symmetric Cross-Validation (CSCV).

Bailey, Borwein, López de Prado & Zhu (2015), "The Probability of Backtest Overfitting", Journal of
Computational Finance 20(4). Given a T × M matrix of per-period returns of M strategies (the same T periods):

1. cut the rows into S (even) contiguous blocks (:func:`numpy.array_split`: sizes differ by at most one row);
2. for each of the C(S, S/2) combinations c of S/2 blocks: the rows of c are in-sample (J), the rest out-of-sample
   (J̄); R_c(m) and R̄_c(m) are strategy m's Sharpe ratios mean/std (ddof 1, per period) on J and on J̄;
3. n* = argmax_m R_c(m) (the strategy a researcher would pick; ties go to the first), ω̄_c = rank of R̄_c(n*)
   among R̄_c(1..M) / (M + 1), rank 1 the worst out of sample (ties share their average rank), so ω̄_c ∈ (0, 1);
4. λ_c = ln(ω̄_c / (1 − ω̄_c)), the logit: λ_c ≤ 0 when the in-sample best is at or below the out-of-sample
   median;
5. PBO = (1 / C(S, S/2)) · Σ_c 1[λ_c ≤ 0], the share of combinations whose in-sample choice underperforms the
   median out of sample.

Every combination's complement is a combination too, so each row is in-sample exactly as often as it is
out-of-sample (the "symmetric" of CSCV). Strategies without skill give PBO ≈ 1/2 (exactly 1/2 in expectation for
i.i.d. strategies and even M); a strategy better than the others in every split gives PBO = 0.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
from scipy import stats

DEFAULT_SPLITS = 16  # the paper's S
MIN_BLOCK_ROWS = 2  # a block of one row would let a half of S/2 blocks hold too few rows for a spread


@dataclasses.dataclass(frozen=True)
class PBOResult:
    """PBO and each combination's choice: ``combinations[c]`` the in-sample blocks, ``chosen[c]`` n*,
    ``omega[c]`` ω̄_c, ``logits[c]`` λ_c (in the order of :func:`itertools.combinations`)."""

    pbo: float
    splits: int
    combinations: tuple[tuple[int, ...], ...]
    chosen: np.ndarray
    omega: np.ndarray
    logits: np.ndarray


def default_splits(periods: int, splits: int = DEFAULT_SPLITS) -> int:
    """S for ``periods`` rows: ``splits`` (16), fewer (the largest even number) when the rows cannot give every
    block :data:`MIN_BLOCK_ROWS`; ``ValueError`` when not even two blocks fit."""
    s = min(splits, periods // MIN_BLOCK_ROWS)
    s -= s % 2
    if s < 2:
        raise ValueError(
            f"PBO needs at least {2 * MIN_BLOCK_ROWS} periods (two blocks of {MIN_BLOCK_ROWS}), got {periods}"
        )
    return s


def _block_moments(returns: np.ndarray, splits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block and strategy: row count (S,), mean (S, M), sum of squared deviations from the mean (S, M)."""
    blocks = np.array_split(returns, splits, axis=0)
    counts = np.array([len(b) for b in blocks], np.float64)
    means = np.stack([b.mean(axis=0) for b in blocks])
    m2 = np.stack([((b - b.mean(axis=0)) ** 2).sum(axis=0) for b in blocks])
    return counts, means, m2


def _sharpes(member: np.ndarray, counts: np.ndarray, means: np.ndarray, m2: np.ndarray) -> np.ndarray:
    """(C, M) Sharpe ratios of the union of the blocks each row of ``member`` (C, S; 0/1) selects, from the
    blocks' moments: n = Σ n_b, μ = Σ n_b μ_b / n, M2 = Σ [M2_b + n_b (μ_b − μ)²], SR = μ / √(M2 / (n − 1))."""
    n = member @ counts  # (C,)
    mean = (member @ (counts[:, None] * means)) / n[:, None]
    spread = member @ m2 + member @ (counts[:, None] * means**2) - n[:, None] * mean**2
    std = np.sqrt(np.maximum(spread, 0.0) / (n[:, None] - 1.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(std > 1e-12 * np.maximum(np.abs(mean), 1.0), mean / std, np.nan)


def probability_of_backtest_overfitting(
    returns: np.ndarray, splits: int = DEFAULT_SPLITS, names: list[str] | None = None
) -> PBOResult:
    """PBO of the T × M matrix ``returns`` (rows periods, columns strategies) by CSCV with S = ``splits``.

    See the module docstring for the formula. ``ValueError`` for fewer than two strategies, a non-finite return,
    an odd S or one below 2, fewer than :data:`MIN_BLOCK_ROWS` rows per block, or a strategy whose returns are
    constant over a half (its Sharpe ratio is undefined; the message names it by ``names`` and the blocks).
    """
    r = np.asarray(returns, np.float64)
    if r.ndim != 2 or r.shape[1] < 2:
        raise ValueError(f"PBO needs a T x M matrix of returns with M >= 2 strategies, got shape {r.shape}")
    names = list(names) if names is not None else [f"strategy {m}" for m in range(r.shape[1])]
    bad = np.argwhere(~np.isfinite(r))
    if len(bad):
        t, m = bad[0]
        raise ValueError(f"PBO: return of {names[m]} in period {t} is not finite ({r[t, m]})")
    if splits < 2 or splits % 2:
        raise ValueError(f"PBO: the number of blocks S must be even and >= 2, got {splits}")
    if r.shape[0] < MIN_BLOCK_ROWS * splits:
        raise ValueError(
            f"PBO: {r.shape[0]} periods cannot fill S={splits} blocks of at least {MIN_BLOCK_ROWS} rows each"
        )
    counts, means, m2 = _block_moments(r, splits)
    combos = tuple(itertools.combinations(range(splits), splits // 2))
    member = np.zeros((len(combos), splits))
    for c, blocks in enumerate(combos):
        member[c, list(blocks)] = 1.0
    in_sample = _sharpes(member, counts, means, m2)
    out_sample = _sharpes(1.0 - member, counts, means, m2)
    for label, values, rows in (("in-sample", in_sample, member), ("out-of-sample", out_sample, 1.0 - member)):
        undefined = np.argwhere(np.isnan(values))
        if len(undefined):
            c, m = undefined[0]
            raise ValueError(
                f"PBO: the {label} Sharpe ratio of {names[m]} over blocks {np.flatnonzero(rows[c]).tolist()} is "
                "undefined (its returns are constant there)"
            )
    chosen = np.argmax(in_sample, axis=1)
    ranks = stats.rankdata(out_sample, method="average", axis=1)
    omega = ranks[np.arange(len(combos)), chosen] / (r.shape[1] + 1.0)
    logits = np.log(omega / (1.0 - omega))
    # λ ≤ 0 ⇔ ω̄ ≤ 1/2; compared on the ranks so that λ = 0 is not lost to rounding in the logarithm
    overfit = 2.0 * ranks[np.arange(len(combos)), chosen] <= r.shape[1] + 1.0
    return PBOResult(float(overfit.mean()), splits, combos, chosen, omega, logits)


def combinations_count(splits: int) -> int:
    """C(S, S/2): how many in-sample halves CSCV scores."""
    return math.comb(splits, splits // 2)
