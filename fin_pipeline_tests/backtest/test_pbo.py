"""PBO by CSCV: skill-less strategies overfit half the time, a dominant one never, and a 4-block case by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fin_pipeline.backtest.pbo import combinations_count, default_splits, probability_of_backtest_overfitting


def block_rows(values_per_block: list[float]) -> np.ndarray:
    """Two rows per block, each equal to the block's value."""
    return np.repeat(np.asarray(values_per_block, np.float64), 2)


def test_four_blocks_by_hand():
    # Rows are constant within each of the S = 4 blocks of 2 rows, so the Sharpe ratio of blocks {i, j} (values
    # x_i, x_j, 4 rows) is mean/std = ((x_i + x_j)/2) / (|x_i − x_j|/√3) = (√3/2)·(x_i + x_j)/|x_i − x_j|: the
    # ordering follows s_ij = (x_i + x_j)/|x_i − x_j|, computed below by hand.
    a = [4, 2, -1, -3]  # strong early, weak late
    b = [-3, -1, 2, 4]  # the mirror
    c = [1, 3, 6, 10]  # steady
    returns = np.column_stack([block_rows(a), block_rows(b), block_rows(c)])
    # s_ij per strategy:            {0,1}  {0,2}  {0,3}  {1,2}  {1,3}  {2,3}
    #   A                            3     0.6    1/7    1/3   -0.2    -2
    #   B                           -2    -0.2    1/7    1/3    0.6     3
    #   C                            2     1.4    11/9    3     13/7    4
    # combination (IS, OOS)   IS best   OOS scores (A, B, C)   rank of best (1 = worst)   ω̄ = rank/4   λ ≤ 0?
    # {0,1} | {2,3}            A (3)     (-2, 3, 4)            1                          1/4           yes
    # {0,2} | {1,3}            C (1.4)   (-0.2, 0.6, 13/7)     3                          3/4           no
    # {0,3} | {1,2}            C (11/9)  (1/3, 1/3, 3)         3                          3/4           no
    # {1,2} | {0,3}            C (3)     (1/7, 1/7, 11/9)      3                          3/4           no
    # {1,3} | {0,2}            C (13/7)  (0.6, -0.2, 1.4)      3                          3/4           no
    # {2,3} | {0,1}            C (4)     (3, -2, 2)            2                          2/4 (λ = 0)   yes
    result = probability_of_backtest_overfitting(returns, splits=4)
    assert result.combinations == ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))
    assert result.chosen.tolist() == [0, 2, 2, 2, 2, 2]
    np.testing.assert_allclose(result.omega, [1 / 4, 3 / 4, 3 / 4, 3 / 4, 3 / 4, 2 / 4])
    np.testing.assert_allclose(result.logits, [math.log(1 / 3), math.log(3), math.log(3), math.log(3), math.log(3), 0])
    assert result.pbo == pytest.approx(2 / 6)


def test_skill_less_strategies_overfit_half_the_time():
    # M = 10 i.i.d. strategies (M even: the in-sample best's out-of-sample rank is uniform on 1..10, ranks 1..5
    # give λ ≤ 0, so E[PBO] = 1/2 exactly). The C(8, 4) = 70 combinations of one matrix share their rows and are
    # far from independent (one matrix's PBO spreads about as widely whatever S is), so the tolerance comes from
    # R independent matrices: each PBO lies in [0, 1], its variance is at most 1/4, the mean of R has a standard
    # error of at most 1/(2√R), and the test allows 4 of those.
    r_count, splits = 300, 8
    results = [
        probability_of_backtest_overfitting(np.random.default_rng(seed).normal(size=(160, 10)), splits)
        for seed in range(r_count)
    ]
    assert len(results[0].omega) == combinations_count(splits) == 70
    pbos = [r.pbo for r in results]
    assert abs(np.mean(pbos) - 0.5) <= 4 * 0.5 / math.sqrt(r_count)


def test_a_dominant_strategy_is_never_overfit():
    rng = np.random.default_rng(11)
    returns = rng.normal(0.0, 1.0, size=(400, 6))
    returns[:, 3] += 3.0  # a Sharpe of about 3 per period against about 0: best in every half
    result = probability_of_backtest_overfitting(returns, splits=16)
    assert len(result.chosen) == math.comb(16, 8)
    assert (result.chosen == 3).all() and result.pbo == 0.0
    np.testing.assert_allclose(result.omega, 6 / 7)  # the best of 6 out of sample: rank 6 of 6


def test_bad_input_is_refused_with_the_place():
    with pytest.raises(ValueError, match="M >= 2"):
        probability_of_backtest_overfitting(np.zeros((20, 1)), 4)
    with pytest.raises(ValueError, match="even"):
        probability_of_backtest_overfitting(np.random.default_rng(0).normal(size=(20, 2)), 3)
    bad = np.random.default_rng(0).normal(size=(20, 2))
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="ridge in period 5"):
        probability_of_backtest_overfitting(bad, 4, names=["lstm", "ridge"])
    flat = np.random.default_rng(0).normal(size=(8, 2))
    flat[:, 0] = 0.01
    with pytest.raises(ValueError, match="lstm over blocks"):
        probability_of_backtest_overfitting(flat, 4, names=["lstm", "ridge"])
    assert default_splits(1000) == 16 and default_splits(13) == 6
    with pytest.raises(ValueError, match="at least 4 periods"):
        default_splits(3)
