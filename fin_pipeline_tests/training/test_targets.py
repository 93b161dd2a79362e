"""Cross-sectional targets: z-scores and centred ranks worked out by hand on a tiny frame, each day from its own
cross-section only (changing a later day changes nothing earlier), and what ``train_fold`` fits."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fin_pipeline.features.windows import WindowSet
from fin_pipeline.training.normalization import FoldStats
from fin_pipeline.training.spec import TrainSpec
from fin_pipeline.training.targets import cross_sectional, fitting_targets

# Three days: day 0 has three tickers, day 1 two (one tie-free pair), day 2 one ticker (no cross-section).
VALUES = np.array([0.01, -0.02, 0.04, 0.03, -0.01, 0.05])
DAYS = np.array(["d0", "d0", "d0", "d1", "d1", "d2"])


def test_zscore_by_hand():
    # day 0: mean 0.01, population std sqrt((0 + 0.0009 + 0.0009) / 3) = sqrt(0.0006)
    s0 = math.sqrt(0.0006)
    # day 1: mean 0.01, deviations +-0.02, population std 0.02
    expected = [0.0, -0.03 / s0, 0.03 / s0, 1.0, -1.0, 0.0]
    np.testing.assert_allclose(cross_sectional(VALUES, DAYS, "zscore"), expected, atol=1e-12)


def test_rank_by_hand():
    # day 0: ranks (2, 1, 3), n = 3: (rank - 2) / sqrt(8 / 12); day 1: ranks (2, 1), n = 2: (rank - 1.5) / 0.5
    s0 = math.sqrt(8 / 12)
    expected = [0.0, -1 / s0, 1 / s0, 1.0, -1.0, 0.0]
    np.testing.assert_allclose(cross_sectional(VALUES, DAYS, "rank"), expected, atol=1e-12)
    # ties share their average rank: (1.5, 1.5, 3) -> (-0.5, -0.5, 1) / s0
    tied = cross_sectional(np.array([0.1, 0.1, 0.3]), np.array([0, 0, 0]), "rank")
    np.testing.assert_allclose(tied, np.array([-0.5, -0.5, 1.0]) / s0, atol=1e-12)


@pytest.mark.parametrize("kind", ["zscore", "rank"])
def test_a_later_day_changes_nothing_earlier(kind):
    before = cross_sectional(VALUES, DAYS, kind)
    changed = VALUES.copy()
    changed[3:] = [9.0, -7.0, 3.0]  # days 1 and 2 rewritten
    after = cross_sectional(changed, DAYS, kind)
    np.testing.assert_array_equal(after[:3], before[:3])
    # and the order of the rows does not matter: each day is its own group
    order = np.array([5, 3, 0, 4, 2, 1])
    np.testing.assert_allclose(cross_sectional(VALUES[order], DAYS[order], kind), before[order], atol=1e-12)


def tiny_window_set() -> WindowSet:
    """Two tickers x 4 rows, windows of 2 rows: 3 window positions per ticker, 6 in all (positions 0-2, 4-6)."""
    targets = np.array([0.01, 0.02, -0.01, 0.03, 0.02, -0.04, 0.05, 0.01], np.float32)
    values = np.zeros((8, 1), np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(values, 2, axis=0).transpose(0, 2, 1)
    days = pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06"] * 2)
    index = pd.DataFrame(
        {
            "ticker": ["A"] * 3 + ["B"] * 3,
            "date": days,
            "window": [0, 1, 2, 4, 5, 6],
            "target": targets[[1, 2, 3, 5, 6, 7]],
        }
    )
    spans = {"A": (0, 4), "B": (4, 8)}
    return WindowSet(values, targets, windows, index, spans, window=2, feature_columns=("f",))


def test_fitting_targets_of_windows():
    ws = tiny_window_set()
    stats = FoldStats(np.zeros(1, np.float32), np.ones(1, np.float32), 8, 0.02)
    raw = fitting_targets(ws, stats, "raw")
    np.testing.assert_allclose(raw, ws.targets[1:] / np.float32(0.02), rtol=1e-6)
    z = fitting_targets(ws, stats, "zscore")
    # each day has A and B: the larger gets +1, the smaller -1 (two values: deviations are +-half the gap)
    pairs = {0: 4, 1: 5, 2: 6}
    for a, b in pairs.items():
        ya, yb = ws.targets[a + 1], ws.targets[b + 1]
        assert (z[a], z[b]) == ((1.0, -1.0) if ya > yb else (-1.0, 1.0))
    assert z[3] == raw[3]  # position 3 (across the tickers' seam) is not a usable window: left as it was


def test_an_unknown_target_is_refused_by_name():
    with pytest.raises(ValueError, match="target must be one of"):
        TrainSpec(target="percentile").check_values()
