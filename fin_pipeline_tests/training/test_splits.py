"""Walk-forward splitting by index and by date: order, no overlap, purge/embargo gaps, errors."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fin_pipeline.training import (
    DateWalkForwardSplitter,
    FoldBoundaries,
    WalkForwardValidator,
    date_walk_forward_splits,
    fold_key,
)


def check_invariants(splits, n, v, purge, embargo, mode):
    val_blocks = [val for _, val in splits]
    assert val_blocks[-1][-1] == n - 1  # the last validation block ends on the last sample
    for (train, val), nxt in zip(splits, val_blocks[1:] + [None], strict=True):
        assert len(val) == v and np.all(np.diff(val) == 1)
        assert np.all(np.diff(train) == 1) and len(train) > 0
        assert val[0] - train[-1] - 1 == purge + embargo  # exactly the gap, no overlap
        assert not np.intersect1d(train, val).size
        if nxt is not None:
            assert nxt[0] == val[-1] + 1  # consecutive, non-overlapping validation blocks
        if mode == "expanding":
            assert train[0] == 0
    if mode == "rolling":
        assert len({len(train) for train, _ in splits}) == 1


def test_expanding_layout():
    splits = WalkForwardValidator(100, validation_size=10, num_steps=3, purge=2, embargo=1).get_splits()
    assert [(t[0], t[-1], v[0], v[-1]) for t, v in splits] == [(0, 66, 70, 79), (0, 76, 80, 89), (0, 86, 90, 99)]
    check_invariants(splits, 100, 10, 2, 1, "expanding")


def test_rolling_layout_keeps_fold0_length():
    splits = WalkForwardValidator(100, validation_size=10, num_steps=3, purge=1, mode="rolling").get_splits()
    assert [(t[0], t[-1]) for t, _ in splits] == [(0, 68), (10, 78), (20, 88)]
    check_invariants(splits, 100, 10, 1, 0, "rolling")
    fixed = WalkForwardValidator(100, 10, 3, mode="rolling", train_size=5).get_splits()
    assert [len(t) for t, _ in fixed] == [5, 5, 5] and fixed[0][0][-1] == 69


def test_fractional_validation_size_as_in_the_seed():
    validator = WalkForwardValidator(100, validation_size=0.2, num_steps=2)
    assert validator.validation_size == 20 and len(validator) == 2
    assert [len(v) for _, v in validator.get_splits()] == [20, 20]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 300),
    v=st.integers(1, 40),
    steps=st.integers(1, 8),
    purge=st.integers(0, 5),
    embargo=st.integers(0, 3),
    mode=st.sampled_from(["expanding", "rolling"]),
)
def test_splits_hold_invariants_or_name_the_empty_fold(n, v, steps, purge, embargo, mode):
    validator = WalkForwardValidator(n, v, steps, purge=purge, embargo=embargo, mode=mode)
    if n - steps * v - purge - embargo < 1:
        with pytest.raises(ValueError, match=r"fold 0 is empty .*training and \d+ validation"):
            validator.get_splits()
    else:
        check_invariants(validator.get_splits(), n, v, purge, embargo, mode)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_windows": 0, "validation_size": 1, "num_steps": 1},
        {"num_windows": 10, "validation_size": 0, "num_steps": 1},
        {"num_windows": 10, "validation_size": 2, "num_steps": 0},
        {"num_windows": 10, "validation_size": 2, "num_steps": 1, "purge": -1},
        {"num_windows": 10, "validation_size": 2, "num_steps": 1, "mode": "sliding"},
    ],
)
def test_bad_validator_settings(kwargs):
    with pytest.raises(ValueError):
        WalkForwardValidator(**kwargs)


# --- by date -------------------------------------------------------------------------------------------------


def calendar(n: int, start: str = "2020-01-02") -> pd.DatetimeIndex:
    return pd.bdate_range(start, periods=n)


def test_date_folds_same_cut_for_every_ticker_with_purge():
    cal = calendar(400)
    # Two tickers: one listed later, one with a few missing days; the calendar is their union.
    a = cal[50:]
    b = cal.delete([100, 200, 300, 399])
    folds = date_walk_forward_splits(
        np.concatenate([a.values, b.values]), num_folds=4, validation_days=30, purge_days=2, embargo_days=1, horizon=2
    )
    assert [f.fold for f in folds] == ["fold_00", "fold_01", "fold_02", "fold_03"]
    assert folds[-1].val_end == cal[-1].date()
    days = list(cal.date)
    for f, nxt in zip(folds, folds[1:] + [None], strict=True):
        assert f.train_start == cal[0].date() and f.val_days == 30
        gap = days.index(f.val_start) - days.index(f.train_end) - 1
        assert gap == 3  # purge 2 + embargo 1 trading days belong to neither block
        # a training window ending on train_end has its target at train_end + h, strictly before validation
        assert days.index(f.train_end) + 2 < days.index(f.val_start)
        if nxt is not None:
            assert days.index(nxt.val_start) == days.index(f.val_end) + 1
        for ticker_days in (a, b):
            train, val = f.train_mask(ticker_days), f.val_mask(ticker_days)
            assert not (train & val).any()
            assert ticker_days[train].max().date() <= f.train_end < f.val_start <= ticker_days[val].min().date()
            assert ticker_days[val].max().date() <= f.val_end


def test_date_folds_rolling_and_default_validation_days():
    cal = calendar(240)
    folds = date_walk_forward_splits(cal, num_folds=4)  # validation_days default: 240 // 8 = 30
    assert [f.val_days for f in folds] == [30] * 4 and folds[0].val_start == cal[120].date()
    rolling = date_walk_forward_splits(cal, num_folds=4, mode="rolling", train_days=50)
    assert [f.train_days for f in rolling] == [50] * 4
    assert rolling[1].train_start == cal[150 - 1 - 50].date()  # 50 days ending before a 1-day purge


def test_tz_aware_and_unsorted_dates():
    cal = calendar(100)
    shuffled = np.random.default_rng(0).permutation(cal.tz_localize("America/New_York"))
    folds = date_walk_forward_splits(shuffled, num_folds=2, validation_days=10)
    assert folds[-1].val_end == cal[-1].date()
    assert folds[0].train_indices(cal.tz_localize("America/New_York")).max() == 100 - 20 - 2


def test_purge_shorter_than_horizon_leaks():
    with pytest.raises(ValueError, match="purge_days=1 must be >= the target horizon 5"):
        date_walk_forward_splits(calendar(100), num_folds=2, purge_days=1, horizon=5)


def test_empty_fold_names_fold_and_dates():
    with pytest.raises(ValueError, match=r"fold_00: validation block .* 2020-01-02"):
        date_walk_forward_splits(calendar(50), num_folds=6, validation_days=10)
    with pytest.raises(ValueError, match=r"fold_00: 5 training days before validation 2020-01-13\.\.2020-01-24"):
        date_walk_forward_splits(calendar(27), num_folds=2, validation_days=10, purge_days=2, min_train_days=6)
    with pytest.raises(ValueError, match="at least one date"):
        date_walk_forward_splits([], num_folds=2)


def test_boundaries_round_trip_and_splitter_object():
    folds = DateWalkForwardSplitter(num_folds=3, validation_days=5).split(calendar(60))
    f = folds[1]
    assert FoldBoundaries.from_dict(f.to_dict()) == f
    assert isinstance(f.val_start, dt.date) and f.to_dict()["val_start"] == f.val_start.isoformat()
    assert fold_key(11) == "fold_11"
    dates = calendar(60)[::-1]  # e.g. a window index in (ticker, date) order: positions need not follow dates
    positions = np.arange(1000, 1060)
    np.testing.assert_array_equal(f.val_indices(dates, positions), positions[f.val_mask(dates)])
    assert len(f.val_indices(dates, positions)) == 5
    with pytest.raises(ValueError, match="same length"):
        f.train_indices(dates, positions[:3])
