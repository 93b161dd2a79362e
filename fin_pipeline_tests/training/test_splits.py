"""Walk-forward splitting by index and by date: order, no overlap, purge/embargo gaps, errors."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fin_pipeline.core.calendar import next_period_start
from fin_pipeline.training import (
    DateWalkForwardSplitter,
    FoldBoundaries,
    WalkForwardValidator,
    fold_key,
)
from fin_pipeline.training import splits as splits_module

# Most tests below check the gap arithmetic with a target that ends h days after its window (the close-to-close
# convention, lag L = 0); the execution-lag tests at the end pass their own execution. Their calendars are short,
# so a fold needs one training day (the pipeline's default asks for a year: see test_one_min_train_days_default).
SHORT = {"execution": "close", "min_train_days": 1}


def date_walk_forward_splits(*args, **kwargs):
    return splits_module.date_walk_forward_splits(*args, **{**SHORT, **kwargs})


def calendar_walk_forward_splits(*args, **kwargs):
    return splits_module.calendar_walk_forward_splits(*args, **{**SHORT, **kwargs})


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


def index_of(days, day):
    return list(days).index(day)


def test_three_blocks_same_cut_for_every_ticker_with_the_configured_gap():
    cal = calendar(400)
    # Two tickers: one listed later, one with a few missing days; trading days are their union.
    a = cal[50:]
    b = cal.delete([100, 200, 300, 399])
    folds = date_walk_forward_splits(
        np.concatenate([a.values, b.values]),
        num_folds=4,
        test_days=30,
        tune_days=20,
        purge_days=2,
        embargo_days=1,
        horizon=2,
    )
    assert [f.fold for f in folds] == ["fold_00", "fold_01", "fold_02", "fold_03"]
    days = list(cal.date)
    assert folds[-1].test_end == days[-1]
    for f, nxt in zip(folds, folds[1:] + [None], strict=True):
        assert (f.horizon, f.purge_days, f.embargo_days) == (2, 2, 1)  # stored as configured
        assert f.train_start == days[0] and f.test_days == 30 and f.tune_days == 20
        for end, start in ((f.train_end, f.tune_start), (f.tune_end, f.test_start)):
            last_target = days.index(end) + 2  # a window ending on `end` has its target at end + h
            assert days.index(start) - last_target - 1 == 2 + 1  # purge + embargo strictly between
        assert days.index(f.tune_end) - days.index(f.tune_start) + 1 == 20
        if nxt is not None:
            assert days.index(nxt.test_start) == days.index(f.test_end) + 1  # consecutive test blocks
        for ticker_days in (a, b):
            masks = [f.mask(block, ticker_days) for block in ("train", "tune", "test")]
            assert sum(m.astype(int) for m in masks).max() == 1  # a window is in one block at most
            train, tune, test = (ticker_days[m] for m in masks)
            assert train.max().date() == f.train_end or train.max().date() < f.train_end
            assert train.max() < tune.min() and tune.max() < test.min()


def test_default_test_days_and_rolling_training():
    cal = calendar(400)
    folds = date_walk_forward_splits(cal, num_folds=4, tune_days=10)  # test_days default: 400 // 8 = 50
    assert [f.test_days for f in folds] == [50] * 4 and folds[0].test_start == cal[200].date()
    # tuning: 10 days ending h + purge = 2 days before the test block; training: 2 days before tuning
    assert folds[0].tune_end == cal[197].date() and folds[0].tune_start == cal[188].date()
    assert folds[0].train_end == cal[185].date()
    rolling = date_walk_forward_splits(cal, num_folds=4, tune_days=10, mode="rolling", train_days=50)
    assert [f.train_days for f in rolling] == [50] * 4
    assert rolling[1].train_end == cal[235].date() and rolling[1].train_start == cal[186].date()


def test_min_tickers_cuts_folds_on_days_with_enough_tickers():
    cal = calendar(300)
    late = cal[100:]  # lists on day 100
    early = cal[:250]  # delists after day 249
    steady = cal
    dates = np.concatenate([late.values, early.values, steady.values])
    folds = date_walk_forward_splits(dates, num_folds=2, tune_days=10, min_tickers=2)
    # every day has at least 2 tickers: the eligible days are all 300
    assert folds[-1].test_end == cal[-1].date()
    folds3 = date_walk_forward_splits(dates, num_folds=2, tune_days=10, min_tickers=3)
    # three tickers only on days 100 .. 249: 150 eligible days, test blocks of 150 // 4 = 37
    assert folds3[-1].test_end == cal[249].date() and folds3[0].train_start == cal[100].date()
    assert [f.test_days for f in folds3] == [37, 37]
    with pytest.raises(ValueError, match=r"no day has min_tickers=4 tickers \(at most 3"):
        date_walk_forward_splits(dates, num_folds=2, min_tickers=4)


def test_a_vendor_hole_inside_a_test_block_keeps_the_fold():
    cal = calendar(200)
    a, b = cal, cal.delete([180])  # b misses day 180: only 1 ticker that day (a hole, not a delisting)
    dates = np.concatenate([a.values, b.values])
    folds = date_walk_forward_splits(dates, num_folds=2, test_days=20, tune_days=10, min_tickers=2)
    # the eligible days are the 199 others: the last block is their last 20, and day 180 lies inside it
    assert folds[-1].test_start == cal[179].date() and folds[-1].test_end == cal[199].date()
    assert folds[-1].test_mask(dates).sum() == 2 * 21 - 1  # both tickers' windows of the block, b's hole left out


def test_tz_aware_and_unsorted_dates():
    cal = calendar(100)
    shuffled = np.random.default_rng(0).permutation(cal.tz_localize("America/New_York"))
    folds = date_walk_forward_splits(shuffled, num_folds=2, test_days=10, tune_days=5)
    assert folds[-1].test_end == cal[-1].date()
    # tuning ends 2 days before day 80 (the first test day), training 2 days before the tuning block's start
    assert folds[0].indices("train", cal.tz_localize("America/New_York")).max() == 80 - 2 - 1 - 5 - 2


def test_purge_shorter_than_horizon_leaks():
    with pytest.raises(ValueError, match=r"purge_days=1 must be >= the target's span h \+ L = 5"):
        date_walk_forward_splits(calendar(100), num_folds=2, purge_days=1, horizon=5)


def test_empty_blocks_name_fold_and_dates():
    with pytest.raises(ValueError, match=r"6 test blocks of 10 days need 60 eligible days; 2020-01-02\.\..* has 50"):
        date_walk_forward_splits(calendar(50), num_folds=6, test_days=10)
    with pytest.raises(ValueError, match=r"fold_00: no room for a tuning block of tune_days=30 before the test"):
        date_walk_forward_splits(calendar(50), num_folds=2, test_days=10, tune_days=30)
    with pytest.raises(ValueError, match=r"fold_00: 5 training days before the tuning block 2020-01-14\.\."):
        date_walk_forward_splits(calendar(36), num_folds=2, test_days=10, tune_days=5, purge_days=2, min_train_days=6)
    with pytest.raises(ValueError, match="at least one date"):
        date_walk_forward_splits([], num_folds=2)


def test_boundaries_round_trip_and_splitter_object():
    folds = DateWalkForwardSplitter(num_folds=3, test_days=5, tune_days=5, **SHORT).split(calendar(60))
    f = folds[1]
    assert FoldBoundaries.from_dict(f.to_dict()) == f
    assert FoldBoundaries.from_dict({**f.to_dict(), "test_windows": 12}) == f  # stored counts are ignored
    assert isinstance(f.test_start, dt.date) and f.to_dict()["test_start"] == f.test_start.isoformat()
    assert fold_key(11) == "fold_11"
    dates = calendar(60)[::-1]  # e.g. a window index in (ticker, date) order: positions need not follow dates
    positions = np.arange(1000, 1060)
    np.testing.assert_array_equal(f.indices("test", dates, positions), positions[f.test_mask(dates)])
    assert len(f.indices("test", dates, positions)) == 5
    with pytest.raises(ValueError, match="same length"):
        f.indices("train", dates, positions[:3])
    with pytest.raises(ValueError, match="block must be one of"):
        f.mask("validation", dates)


# --- calendar folds: a test block per month, quarter, half or year ---------------------------------------------


def bdays(start: str, end: str) -> pd.DatetimeIndex:
    return pd.bdate_range(start, end)


@pytest.mark.parametrize(
    ("period", "first", "keys"),
    [
        ("month", "2021-04-01", ["2021-04-01", "2021-05-01", "2021-06-01"]),
        ("quarter", "2020-10-01", ["2020-10-01", "2021-01-01", "2021-04-01"]),
        ("half", "2020-07-01", ["2020-07-01", "2021-01-01"]),
        ("year", "2020-01-01", ["2020-01-01", "2021-01-01"]),
    ],
)
def test_calendar_folds_test_whole_periods_and_the_last_one_is_open(period, first, keys):
    cal = bdays("2018-01-01", "2021-06-15")  # ends mid-June: the last period is still running
    folds = calendar_walk_forward_splits(cal, period, first, tune_days=20, horizon=1)
    assert [f.fold for f in folds] == keys
    days = list(cal.date)
    for f, nxt in zip(folds, folds[1:] + [None], strict=True):
        start = dt.date.fromisoformat(f.fold)
        assert f.test_start == min(d for d in days if d >= start)  # the period's first trading day
        assert f.period_end == next_period_start(start, period) - dt.timedelta(days=1)
        if nxt is not None:
            assert not f.is_open and f.test_end == max(d for d in days if d <= f.period_end)
            assert days.index(nxt.test_start) == days.index(f.test_end) + 1
        # training and tuning end before the period, with the gap (h + purge = 2 days dropped)
        assert days.index(f.test_start) - days.index(f.tune_end) - 1 == 2
        assert days.index(f.tune_start) - days.index(f.train_end) - 1 == 2
        assert f.tune_days == 20 and f.train_start == days[0]
    assert folds[-1].is_open and folds[-1].test_end == dt.date(2021, 6, 15)
    assert FoldBoundaries.from_dict(folds[-1].to_dict()) == folds[-1]


def test_new_days_never_move_a_closed_fold_and_grow_the_open_one():
    before = calendar_walk_forward_splits(bdays("2018-01-01", "2021-03-30"), "quarter", "2020-10-01", tune_days=20)
    after = calendar_walk_forward_splits(bdays("2018-01-01", "2021-04-01"), "quarter", "2020-10-01", tune_days=20)
    assert before[:1] == after[:1]  # 2020-10-01: closed, unchanged
    assert before[1].is_open and before[1].test_end == dt.date(2021, 3, 30)
    # the quarter ended: 2021-01-01 closes (its test block gains 31 March), 2021-04-01 appears, open
    assert not after[1].is_open and after[1].test_end == dt.date(2021, 3, 31)
    assert {k: v for k, v in after[1].to_dict().items() if k not in ("test_end", "test_days", "is_open")} == {
        k: v for k, v in before[1].to_dict().items() if k not in ("test_end", "test_days", "is_open")
    }
    assert after[2].fold == "2021-04-01" and after[2].is_open and after[2].test_start == after[2].test_end


def test_calendar_rolling_training_has_a_fixed_length():
    cal = bdays("2018-01-01", "2021-06-30")
    folds = calendar_walk_forward_splits(cal, "quarter", "2020-10-01", tune_days=20, mode="rolling", train_days=100)
    assert [f.train_days for f in folds] == [100] * 3
    assert folds[0].train_start < folds[1].train_start < folds[2].train_start
    default = calendar_walk_forward_splits(cal, "quarter", "2020-10-01", tune_days=20, mode="rolling")
    assert {f.train_days for f in default} == {default[0].train_days}  # the first fold's expanding length


def test_calendar_folds_bad_settings_are_named():
    cal = bdays("2018-01-01", "2021-06-30")
    with pytest.raises(ValueError, match=r"period must be one of \['month', 'quarter', 'half', 'year'\], got 'week'"):
        calendar_walk_forward_splits(cal, "week", "2020-10-01")
    with pytest.raises(ValueError, match=r"first_test_date=2020-11-01 is not the first day of a quarter"):
        calendar_walk_forward_splits(cal, "quarter", "2020-11-01")
    with pytest.raises(ValueError, match=r"first_test_date=2021-07-01 is after the data's last day .*\(2021-06-30\)"):
        calendar_walk_forward_splits(cal, "quarter", "2021-07-01")
    with pytest.raises(ValueError, match=r"rolling train_days=10 is shorter than the tuning block tune_days=20"):
        calendar_walk_forward_splits(cal, "quarter", "2020-10-01", tune_days=20, mode="rolling", train_days=10)


def test_a_period_without_days_for_min_tickers_names_the_fold_and_its_dates():
    a = bdays("2018-01-01", "2021-06-30")
    b = a[(a < "2021-01-01") | (a >= "2021-04-01")]  # b does not trade in the first quarter of 2021
    with pytest.raises(
        ValueError,
        match=r"fold 2021-01-01: its test period 2021-01-01\.\.2021-03-31 has no trading day with min_tickers=2",
    ):
        calendar_walk_forward_splits(np.concatenate([a.values, b.values]), "quarter", "2020-10-01", min_tickers=2)


# --- the execution lag: a next_open target ends on the open two sessions after its window -----------------------


def _target_reach(ws, positions, horizon):
    """The session of the last price each window's next_open target reads: its last row + 1 (entry) + h, by row."""
    last_rows = np.asarray(positions) + ws.window - 1
    return ws.row_dates[last_rows + 1 + horizon]


@pytest.mark.parametrize("horizon", [1, 3])
def test_no_training_target_reaches_into_the_next_block_under_next_open(horizon):
    from fin_pipeline.features import build_feature_frame, build_windows
    from fin_pipeline.sources.synthetic import SyntheticMarket

    market = SyntheticMarket(seed=3)
    frames = {
        t: build_feature_frame(
            market.fetch(t, dt.date(2019, 1, 2), dt.date(2020, 12, 31)), t, horizon, execution="next_open"
        )
        for t in ("AAA", "BBB")
    }
    ws = build_windows(frames)
    assert ws.execution == "next_open"
    dates = ws.index["date"].to_numpy()
    days = np.unique(ws.row_dates)  # the sessions (both tickers trade every one)
    folds = splits_module.date_walk_forward_splits(
        dates, num_folds=3, test_days=20, tune_days=20, horizon=horizon, execution=ws.execution, min_train_days=1
    )
    for fold in folds:
        assert fold.execution == "next_open" and fold.purge_days == horizon + 1  # default purge: the span h + L
        for block, nxt in (("train", fold.tune_start), ("tune", fold.test_start)):
            reach = _target_reach(ws, fold.indices(block, dates, ws.indices), horizon)
            assert reach.max() < np.datetime64(nxt), (fold.fold, block, reach.max(), nxt)
            # exactly purge_days trading days lie strictly between the last target date and the next block: the
            # rule counts the lag (without it, one of those days would be the last target date itself)
            between = (days > reach.max()) & (days < np.datetime64(nxt))
            assert between.sum() == fold.purge_days, (fold.fold, block)


def test_purge_must_cover_the_execution_lag():
    with pytest.raises(ValueError, match=r"purge_days=1 must be >= the target's span h \+ L = 2 .*'next_open'"):
        splits_module.date_walk_forward_splits(calendar(200), num_folds=2, purge_days=1, execution="next_open")
    ok = date_walk_forward_splits(calendar(200), num_folds=2, purge_days=1)
    assert ok[0].purge_days == 1
    with pytest.raises(ValueError, match="execution='tomorrow' is not one of"):
        splits_module.date_walk_forward_splits(calendar(200), num_folds=2, execution="tomorrow")


# --- the live model: one more fold, its tuning block ending on the last realized day -----------------------------


def test_live_split_by_hand():
    cal = calendar(100)  # every day eligible; the 100 days are the windows with a realized target
    as_of = (cal[-1] + pd.offsets.BDay(1)).date()
    live = splits_module.live_split(cal, as_of, tune_days=10, min_train_days=1, execution="close")
    # close, h = 1: span 1, purge 1, gap 2. Tuning: the last 10 days 90..99; training ends on 99 - 10 - 2 = 87.
    assert (live.fold, live.index, live.tune_start, live.tune_end) == ("live", 0, cal[90].date(), cal[99].date())
    assert (live.train_start, live.train_end, live.train_days, live.tune_days) == (
        cal[0].date(),
        cal[87].date(),
        88,
        10,
    )
    assert (live.test_start, live.test_end, live.test_days, live.period_end, live.is_open) == (
        as_of,
        as_of,
        1,
        None,
        False,
    )
    # next_open, h = 1: span 2, purge 2, gap 4: training ends on day 85; rolling keeps its last train_days days
    rolling = splits_module.live_split(
        cal, as_of, tune_days=10, min_train_days=1, execution="next_open", mode="rolling", train_days=30
    )
    assert (rolling.train_start, rolling.train_end, rolling.purge_days) == (cal[56].date(), cal[85].date(), 2)
    with pytest.raises(ValueError, match=r"live: the last day with a realized target \(2020-05-20\) is not before"):
        splits_module.live_split(cal, cal[-1].date(), tune_days=10, min_train_days=1)
    with pytest.raises(ValueError, match=r"live: no room for a tuning block of tune_days=120"):
        splits_module.live_split(cal, as_of, tune_days=120, min_train_days=1)


def test_one_min_train_days_default():
    # the splitters and the pipeline's FoldSpec share one default: a year of trading days. By hand: 4 test blocks
    # of 50 from day 200, tuning 188..197 (gap 2), training 0..185; live: tuning 137..199, training 0..134
    from fin_pipeline.training.folds import FoldSpec

    assert FoldSpec().min_train_days == 252
    with pytest.raises(ValueError, match=r"fold_00: 186 training days .*at least min_train_days=252 are needed"):
        splits_module.date_walk_forward_splits(calendar(400), num_folds=4, tune_days=10, execution="close")
    as_of = (calendar(200)[-1] + pd.offsets.BDay(1)).date()
    with pytest.raises(ValueError, match=r"live: 135 training days .*min_train_days=252"):
        splits_module.live_split(calendar(200), as_of, execution="close")
    assert splits_module.live_split(calendar(400), (calendar(400)[-1] + pd.offsets.BDay(1)).date()).train_days > 252
