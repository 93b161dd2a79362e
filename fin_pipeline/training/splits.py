"""Walk-forward splitting by calendar date: training | gap | tuning | gap | test, for the folds and the live model.

The pipeline's folds have **three** blocks (the original API's index
splitter, :mod:`fin_pipeline.training.index_splits`, has two)::

    expanding  [training ...........][gap][tuning][gap][test 0]
               [training ..................................][gap][tuning][gap][test 1]
    rolling            [training ...........][gap][tuning][gap][test 1]

* **test** is the scored, out-of-sample block. The test blocks are consecutive, never overlap, and the last one
  ends on the last eligible day. Nothing that picks a model reads it: it is predicted once, after training.
  The pipeline anchors them to the calendar (:func:`calendar_walk_forward_splits`): fold ``2025-07-01`` tests
  the eligible days of the period (month, quarter, half or year) that begins that day, and its key never
  changes. The last fold is *open* while its period has not ended (its test block runs to the last eligible
  day and grows as days arrive); every earlier fold is *closed*, and new days never move it. The count-based
  :func:`date_walk_forward_splits` (``num_folds`` blocks covering the second half of the history) remains for
  notebooks; its boundaries move as the history grows.
* **tuning** is the early-stopping block: the ``tune_days`` eligible days that end one gap before the test block.
  Early stopping, the best checkpoint, plateau schedules and baseline hyper-parameters look at it only.
* **training** ends one gap before the tuning block; it starts on the first eligible day (expanding) or
  ``train_days`` eligible days before its end (rolling; default: fold 0's expanding length).

One reading of the gap, everywhere: a window ending on day t has a target that reaches day t + h + L (h the
target horizon, L the execution's lag: 1 for ``next_open`` and ``next_close``, whose books enter the session
after the decision, 0 for ``close``; see :mod:`fin_pipeline.sources.execution`), its *last target date*; its
*span* is h + L. ``purge_days`` trading days lie strictly between the last target date of one block and the
first day of the next, and ``embargo_days`` more after them. Counted in windows' end days, the days dropped
between the last day of one block and the first day of the next are ``h + L + purge_days + embargo_days``.
``purge_days >= h + L`` is required (checked; default h + L): the next block then also starts after every
target that the previous block's windows could overlap. Example, h = 1, ``next_open`` (span 2), purge = 2:
training ends Monday (its target runs from Tuesday's open to Wednesday's open), Thursday and Friday are purged,
tuning starts on the next Monday. The value stored with a fold is the value configured.

Trading days are the union of the days given (every ticker's usable window end days); *eligible* days are those
with at least ``min_tickers`` windows, so a late listing or an early delisting never leaves a test block with
one ticker: blocks are cut on eligible days. A day between two eligible days of a test block that has fewer
tickers (a vendor hole in one ticker) stays in the block: the ticker missing some of the block's days is dropped
from that fold's scoring, named in its metadata (:func:`fin_pipeline.evaluation.scoring.holed_tickers`), and the fold is
not failed.

The live model (:func:`live_split`) is cut by the same rules, as one more fold: its "test" block is ``as_of``, the
data's last day, whose windows are forecast (their targets are not known yet), and its tuning block ends on the
last day whose target is realized.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from fin_pipeline.core.calendar import DEFAULT_FIRST_TEST_DATE, check_first_test_date, check_period, next_period_start
from fin_pipeline.training.fold_boundaries import BlockOptions, FoldBoundaries, as_date, check_count, fold_key, to_days

LIVE_FOLD = "live"  # the key of the live model's layout (no test block: it forecasts the next session)


class _TestBlock(NamedTuple):
    """What the cutter needs of a fold's test block: where its tuning block stops and the fields it stores."""

    fold: str
    tune_stop: int  # the tuning block is the tune_days eligible days before this position in the eligible days
    start: dt.date
    end: dt.date
    days: int  # trading days in the test range
    period_end: dt.date | None = None
    is_open: bool = False


def _last_at_or_before(eligible_pos: np.ndarray, limit: int) -> int:
    """Index into the eligible days of the last one whose trading-day position is <= ``limit`` (-1: none)."""
    return int(np.searchsorted(eligible_pos, limit, side="right")) - 1


def _calendar(dates: Any, min_tickers: int) -> tuple[np.ndarray, np.ndarray]:
    """``(trading days, positions of the eligible days)``; an error when none is eligible."""
    all_days = to_days(list(dates) if not isinstance(dates, np.ndarray | pd.Index) else dates)
    cal, counts = np.unique(all_days, return_counts=True)
    if len(cal) == 0:
        raise ValueError("date_walk_forward_splits needs at least one date")
    eligible = np.flatnonzero(counts >= min_tickers)  # positions in cal of the eligible days
    if len(eligible) == 0:
        raise ValueError(
            f"no day has min_tickers={min_tickers} tickers (at most {counts.max()} on any day of "
            f"{cal[0]}..{cal[-1]}); lower min_tickers or widen the universe"
        )
    return cal, eligible


def _test_block(
    fold: str,
    cal: np.ndarray,
    eligible: np.ndarray,
    s0: int,
    s1: int,
    gap: int,
    period_end: dt.date | None = None,
    is_open: bool = False,
) -> _TestBlock:
    """The test block of the eligible days ``[s0, s1)``; its tuning block ends ``gap`` trading days before it."""
    return _TestBlock(
        fold,
        _last_at_or_before(eligible, eligible[s0] - gap - 1) + 1,
        as_date(cal[eligible[s0]]),
        as_date(cal[eligible[s1 - 1]]),
        int(eligible[s1 - 1] - eligible[s0] + 1),
        period_end,
        is_open,
    )


def _cut(cal: np.ndarray, eligible: np.ndarray, tests: list[_TestBlock], o: BlockOptions) -> list[FoldBoundaries]:
    """Tuning and training blocks before each test block, by the rules of the module doc (``o`` checked)."""
    gap = o.gap

    def day(k: int) -> np.datetime64:  # the k-th eligible day
        return cal[eligible[k]]

    layout = []
    # A day inside a test block with fewer than min_tickers tickers (a vendor hole: a ticker missing some days) stays
    # in the block; the ticker missing days is dropped from that fold's scoring (fin_pipeline.evaluation.scoring).
    for test in tests:
        u1 = test.tune_stop  # tuning: [u0, u1)
        u0 = u1 - o.tune_days
        if u0 < 0:
            raise ValueError(
                f"{test.fold}: no room for a tuning block of tune_days={o.tune_days} before the test block "
                f"{test.start}..{test.end} (gap {gap} days, eligible days from {day(0)})"
            )
        t1 = _last_at_or_before(eligible, eligible[u0] - gap - 1) + 1  # training: [t0, t1)
        layout.append((t1, u0, u1))
    rolling = o.train_days if o.train_days is not None else max(layout[0][0], 1)
    # every fold stores the settings it was cut with (purge_days resolved to the span when left empty)
    stored = {k: getattr(o, k) for k in ("horizon", "execution", "purge_days", "embargo_days", "min_tickers")}
    folds = []
    for i, (test, (t1, u0, u1)) in enumerate(zip(tests, layout, strict=True)):
        t0 = 0 if o.mode == "expanding" else max(t1 - rolling, 0)
        span = eligible[t1 - 1] - eligible[t0] + 1 if t1 > t0 else 0  # trading days in the training range
        if span < o.min_train_days:
            raise ValueError(
                f"{test.fold}: {max(span, 0)} training days before the tuning block {day(u0)}..{day(u1 - 1)} "
                f"(gap {gap} days, eligible days from {day(0)}); at least min_train_days={o.min_train_days} are "
                "needed"
            )
        folds.append(
            FoldBoundaries(
                fold=test.fold,
                index=i,
                train_start=as_date(day(t0)),
                train_end=as_date(day(t1 - 1)),
                tune_start=as_date(day(u0)),
                tune_end=as_date(day(u1 - 1)),
                train_days=int(span),
                tune_days=int(eligible[u1 - 1] - eligible[u0] + 1),
                test_start=test.start,
                test_end=test.end,
                test_days=test.days,
                period_end=test.period_end,
                is_open=test.is_open,
                **stored,
            )
        )
    return folds


def date_walk_forward_splits(
    dates: Iterable[Any], num_folds: int = 12, test_days: int | None = None, **options: Any
) -> list[FoldBoundaries]:
    """Walk-forward folds of three blocks cut on a trading calendar, ``num_folds`` test blocks of equal length.

    Args:
        dates: the last day of every usable window of every ticker (one entry per ticker and day; order does not
            matter). Trading days are their distinct values; a day's ticker count is how often it occurs.
        num_folds: number of folds; the last test block ends on the last eligible day.
        test_days: eligible days per test block; default ``eligible // (2 * num_folds)``, so the test blocks
            cover the second half of the eligible days.
        options: the training, gap and tuning settings, :class:`BlockOptions` (``tune_days``, ``purge_days``,
            ``embargo_days``, ``mode``, ``min_train_days``, ``train_days``, ``horizon``, ``min_tickers``,
            ``execution``) and their defaults.

    Raises ``ValueError`` naming the fold and its dates when a block is empty or too short, or when no day has
    ``min_tickers`` tickers (a thin day inside a test block is kept: see the module docstring).
    """
    num_folds = check_count("num_folds", num_folds, 1)
    o = BlockOptions(**options).checked()
    cal, eligible = _calendar(dates, o.min_tickers)
    n = len(eligible)
    if test_days is None:
        test_days = max(n // (2 * num_folds), 1)
    test_days = check_count("test_days", test_days, 1)
    first_test = n - num_folds * test_days
    if first_test < 0:
        raise ValueError(
            f"{num_folds} test blocks of {test_days} days need {num_folds * test_days} eligible days; "
            f"{cal[0]}..{cal[-1]} has {n} with at least min_tickers={o.min_tickers} tickers"
        )
    starts = [first_test + i * test_days for i in range(num_folds)]
    tests = [_test_block(fold_key(i), cal, eligible, s0, s0 + test_days, o.gap) for i, s0 in enumerate(starts)]
    return _cut(cal, eligible, tests, o)


def calendar_walk_forward_splits(
    dates: Iterable[Any], period: str = "quarter", first_test_date: dt.date | str = DEFAULT_FIRST_TEST_DATE, **options
) -> list[FoldBoundaries]:
    """Walk-forward folds whose test blocks are calendar periods, from ``first_test_date`` to the data's end.

    Fold ``k`` (its key: the period's first day, ``'2024-04-01'``) tests the eligible days of its period; the
    last fold, whose period contains the last eligible day, is open when the period runs past the last trading
    day. Its training and tuning blocks end before the period with the gap, so a fold depends only on rows
    before its period (and new days never move a closed fold). ``dates`` and ``options`` are those of
    :func:`date_walk_forward_splits`; ``train_days`` (rolling) must be at least ``tune_days``.

    Raises ``ValueError`` for an unknown period, a ``first_test_date`` that is not a period's first day or lies
    after the last eligible day, a rolling ``train_days`` shorter than ``tune_days``, and a period (fold) with no
    day on which ``min_tickers`` tickers trade (naming the fold and its dates).
    """
    period = check_period(period)
    first = dt.date.fromisoformat(first_test_date) if isinstance(first_test_date, str) else first_test_date
    check_first_test_date(first, period)
    o = BlockOptions(**options).checked()
    if o.mode == "rolling" and o.train_days is not None and o.train_days < o.tune_days:
        raise ValueError(f"rolling train_days={o.train_days} is shorter than the tuning block tune_days={o.tune_days}")
    cal, eligible = _calendar(dates, o.min_tickers)
    days = cal[eligible]  # the eligible days, sorted
    last, last_trading = as_date(days[-1]), as_date(cal[-1])
    if first > last:
        raise ValueError(
            f"first_test_date={first} is after the data's last day with min_tickers={o.min_tickers} tickers "
            f"({last}): no fold can be tested; set an earlier first test date or fetch more data"
        )
    tests = []
    start = first
    while start <= last:
        stop = next_period_start(start, period)  # exclusive
        s0 = int(np.searchsorted(days, np.datetime64(start)))
        s1 = int(np.searchsorted(days, np.datetime64(stop)))
        if s1 == s0:
            raise ValueError(
                f"fold {start}: its test period {start}..{stop - dt.timedelta(days=1)} has no trading day with "
                f"min_tickers={o.min_tickers} tickers; fix the data or lower min_tickers"
            )
        end = stop - dt.timedelta(days=1)
        tests.append(_test_block(start.isoformat(), cal, eligible, s0, s1, o.gap, end, last_trading < end))
        start = stop
    return _cut(cal, eligible, tests, o)


def live_split(dates: Iterable[Any], as_of: dt.date, **options: Any) -> FoldBoundaries:
    """The live model's cut: training | gap | tuning, the tuning block ending on the last day whose target is
    realized; the "test" block is ``as_of``, the data's last day, whose windows are forecast (their targets are
    not known yet, so none of them is in ``dates``).

    ``dates`` are the window end days with a realized target (``WindowSet.index['date']``); ``options`` those of
    :func:`date_walk_forward_splits`. It is a fold cut by the same rules (:func:`_cut`): the gap between training
    and tuning, the tuning block the last ``tune_days`` eligible days, expanding or rolling training (``train_days``;
    all the history when None). Errors name the setting.
    """
    o = BlockOptions(**options).checked()
    cal, eligible = _calendar(dates, o.min_tickers)
    last = as_date(cal[eligible[-1]])
    if last >= as_of:
        raise ValueError(f"live: the last day with a realized target ({last}) is not before as_of={as_of}")
    return _cut(cal, eligible, [_TestBlock(LIVE_FOLD, len(eligible), as_of, as_of, 1)], o)[0]


class DateWalkForwardSplitter:
    """Object form of :func:`date_walk_forward_splits`: keep the settings, ``split(dates)`` the calendar."""

    def __init__(self, num_folds: int = 12, **kwargs: Any) -> None:
        self.num_folds = num_folds
        self.kwargs = kwargs

    def split(self, dates: Iterable[Any]) -> list[FoldBoundaries]:
        return date_walk_forward_splits(dates, self.num_folds, **self.kwargs)
