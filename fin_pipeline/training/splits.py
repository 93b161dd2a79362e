"""Walk-forward splitting: by sample index (``WalkForwardValidator``, the original API) and by calendar date.

The original API's index splitter has two blocks per fold (train | gap | validation); the date splitter that the
pipeline uses has **three**::

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

The index splitter reads its ``purge`` as samples dropped between the last training sample and the first
validation sample (``>= h`` for no overlap of targets), and ``embargo`` as extra samples after it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from fin_pipeline.core.calendar import (  # noqa: F401  (re-exported: the fold layout is read here)
    DEFAULT_FIRST_TEST_DATE,
    PERIOD_CRONS,
    PERIODS,
    check_first_test_date,
    check_period,
    next_period_start,
    period_start,
)
from fin_pipeline.sources.execution import resolve_execution, target_span

MODES = ("expanding", "rolling")


def _check_count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    return mode


def _layout(
    n: int, val_size: int, num_folds: int, gap: int, mode: str, train_size: int | None
) -> list[tuple[int, int, int, int]]:
    """``[(train_start, train_stop, val_start, val_stop)]`` half-open positions; the last block ends at ``n``.

    Rolling training sets all have ``train_size`` samples (default: fold 0's expanding length) and start no
    earlier than 0. Blocks that come out empty are returned as such; the callers name them in their errors.
    """
    first_val = n - num_folds * val_size
    rolling_size = train_size if train_size is not None else max(first_val - gap, 0)
    out = []
    for i in range(num_folds):
        val_start = first_val + i * val_size
        train_stop = max(val_start - gap, 0)
        train_start = 0 if mode == "expanding" else max(train_stop - rolling_size, 0)
        out.append((train_start, train_stop, max(val_start, 0), val_start + val_size))
    return out


class WalkForwardValidator:
    """Walk-forward (train, validation) index splits over ``num_windows`` time-ordered samples.

    Args:
        num_windows: total number of samples, in time order (sample i precedes sample i + 1).
        validation_size: samples per validation block; a float in (0, 1) is read as the original API did, a fraction of
            ``num_windows`` (``int(num_windows * validation_size)``).
        num_steps: number of folds. The ``num_steps`` validation blocks are consecutive and the last one ends
            at the last sample: fold i validates on
            ``[N - (num_steps - i) * V, N - (num_steps - 1 - i) * V)``.
        purge: samples dropped between training and validation (``>=`` the target horizon; see the module doc).
        embargo: extra samples dropped after the purge.
        mode: ``'expanding'`` (training starts at sample 0) or ``'rolling'`` (training is the ``train_size``
            samples before the gap, fewer when the data does not reach back that far; default ``train_size``:
            fold 0's expanding length).

    ``get_splits()`` raises ``ValueError`` naming the fold and sizes when a fold's training or validation block is
    empty (too many folds or too large blocks for ``num_windows``).
    """

    def __init__(
        self,
        num_windows: int,
        validation_size: int | float = 0.2,
        num_steps: int = 5,
        purge: int = 0,
        embargo: int = 0,
        mode: str = "expanding",
        train_size: int | None = None,
    ) -> None:
        self.num_windows = _check_count("num_windows", num_windows, 1)
        if isinstance(validation_size, float) and 0.0 < validation_size < 1.0:
            validation_size = int(num_windows * validation_size)
        self.validation_size = _check_count("validation_size", validation_size, 1)
        self.num_steps = _check_count("num_steps", num_steps, 1)
        self.purge = _check_count("purge", purge, 0)
        self.embargo = _check_count("embargo", embargo, 0)
        self.mode = _check_mode(mode)
        self.train_size = None if train_size is None else _check_count("train_size", train_size, 1)

    def get_splits(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(train_idx, val_idx)]``, one pair of sorted int64 arrays per fold, earliest fold first."""
        layout = _layout(
            self.num_windows,
            self.validation_size,
            self.num_steps,
            self.purge + self.embargo,
            self.mode,
            self.train_size,
        )
        splits = []
        for i, (t0, t1, v0, v1) in enumerate(layout):
            if t1 <= t0 or v1 - v0 < self.validation_size:
                raise ValueError(
                    f"fold {i} is empty or cut short: {max(t1 - t0, 0)} training and {max(v1 - v0, 0)} validation "
                    f"samples "
                    f"(num_windows={self.num_windows}, validation_size={self.validation_size}, "
                    f"num_steps={self.num_steps}, purge={self.purge}, embargo={self.embargo}, mode={self.mode!r})"
                )
            splits.append((np.arange(t0, t1, dtype=np.int64), np.arange(v0, v1, dtype=np.int64)))
        return splits

    def __len__(self) -> int:
        return self.num_steps


def _to_days(dates: Any) -> np.ndarray:
    """Any date-like array (dates, strings, naive or tz-aware timestamps) -> ``datetime64[D]``.

    A tz-aware timestamp counts on its own wall-clock date (a New York midnight bar is that New York day).
    """
    idx = pd.DatetimeIndex(pd.to_datetime(np.asarray(dates) if not isinstance(dates, pd.Index) else dates))
    if idx.tz is not None:
        idx = idx.tz_localize(None)
    return idx.values.astype("datetime64[D]")


def _as_date(day: np.datetime64) -> dt.date:
    return pd.Timestamp(day).date()


def _pick(mask: np.ndarray, positions: Any) -> np.ndarray:
    if positions is None:
        return np.flatnonzero(mask)
    positions = np.asarray(positions)
    if positions.shape != mask.shape:
        raise ValueError(f"positions {positions.shape} and window dates {mask.shape} must have the same length")
    return positions[mask]


BLOCKS = ("train", "tune", "test")
_DATES = ("train_start", "train_end", "tune_start", "tune_end", "test_start", "test_end", "period_end")


@dataclasses.dataclass(frozen=True)
class FoldBoundaries:
    """One fold's calendar cut, the same for every ticker. All dates are inclusive trading days.

    A window belongs to a block when its last day lies in the block's ``[start, end]``. Between the blocks lie
    ``horizon + L + purge_days + embargo_days`` trading days that belong to none, L the lag of ``execution``
    (see the module docstring).
    """

    fold: str  # the partition key: the test period's first day ('2025-07-01'), or 'fold_00' for count-based folds
    index: int
    train_start: dt.date
    train_end: dt.date
    tune_start: dt.date
    tune_end: dt.date
    test_start: dt.date
    test_end: dt.date
    horizon: int
    purge_days: int  # as configured: trading days strictly between a block's last target date and the next block
    embargo_days: int
    min_tickers: int
    train_days: int  # trading days in the training range
    tune_days: int
    test_days: int
    # Calendar folds: the last calendar day of the test period, and whether the period is still running (the
    # data ends before it does: the test block grows as days arrive). Count-based folds: None and False.
    period_end: dt.date | None = None
    is_open: bool = False
    # When the books trade, hence the target's span h + L (sources/execution.py). A stored fold without it was cut
    # under the close-to-close convention, the only one before this field existed.
    execution: str = "close"

    def mask(self, block: str, window_dates: Any) -> np.ndarray:
        """Boolean mask over windows (given each window's last day) that fall in ``block`` (train, tune, test)."""
        if block not in BLOCKS:
            raise ValueError(f"block must be one of {BLOCKS}, got {block!r}")
        d = _to_days(window_dates)
        start, end = getattr(self, f"{block}_start"), getattr(self, f"{block}_end")
        return (d >= np.datetime64(start)) & (d <= np.datetime64(end))

    def indices(self, block: str, window_dates: Any, positions: Any = None) -> np.ndarray:
        """Indices of ``block``'s windows: positions into ``window_dates``, or ``positions[mask]`` when given
        (e.g. ``WindowSet.indices``, the windows' positions in the zero-copy window array)."""
        return _pick(self.mask(block, window_dates), positions)

    def train_mask(self, window_dates: Any) -> np.ndarray:
        return self.mask("train", window_dates)

    def tune_mask(self, window_dates: Any) -> np.ndarray:
        return self.mask("tune", window_dates)

    def test_mask(self, window_dates: Any) -> np.ndarray:
        return self.mask("test", window_dates)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (dates as ISO strings): for Dagster metadata, JSON, or a checkpoint's ``extra``."""
        return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FoldBoundaries:
        """The inverse of :meth:`to_dict`; keys that are not fields (counts stored beside them) are ignored."""
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(
            **{
                k: (dt.date.fromisoformat(v) if k in _DATES and v is not None else v)
                for k, v in data.items()
                if k in fields
            }
        )


def fold_key(index: int) -> str:
    """The fold partition key: ``fold_key(3) == 'fold_03'``."""
    return f"fold_{index:02d}"


def _last_at_or_before(eligible_pos: np.ndarray, limit: int) -> int:
    """Index into the eligible days of the last one whose trading-day position is <= ``limit`` (-1: none)."""
    return int(np.searchsorted(eligible_pos, limit, side="right")) - 1


def _calendar(dates: Any, min_tickers: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(trading days, tickers per day, positions of the eligible days)``; an error when none is eligible."""
    all_days = _to_days(list(dates) if not isinstance(dates, np.ndarray | pd.Index) else dates)
    cal, counts = np.unique(all_days, return_counts=True)
    if len(cal) == 0:
        raise ValueError("date_walk_forward_splits needs at least one date")
    eligible = np.flatnonzero(counts >= min_tickers)  # positions in cal of the eligible days
    if len(eligible) == 0:
        raise ValueError(
            f"no day has min_tickers={min_tickers} tickers (at most {counts.max()} on any day of "
            f"{cal[0]}..{cal[-1]}); lower min_tickers or widen the universe"
        )
    return cal, counts, eligible


def _check_gap(
    horizon: int, purge_days: int | None, embargo_days: int, execution: str | None
) -> tuple[int, int, int, str]:
    horizon = _check_count("horizon", horizon, 1)
    execution = resolve_execution(execution)
    span = target_span(horizon, execution)
    purge_days = span if purge_days is None else _check_count("purge_days", purge_days, 0)
    if purge_days < span:
        raise ValueError(
            f"purge_days={purge_days} must be >= the target's span h + L = {span} trading days (horizon h={horizon}, "
            f"execution {execution!r} enters L={span - horizon} session(s) after the decision): training targets "
            "would leak"
        )
    return horizon, purge_days, _check_count("embargo_days", embargo_days, 0), execution


def date_walk_forward_splits(
    dates: Iterable[Any],
    num_folds: int = 12,
    test_days: int | None = None,
    tune_days: int = 63,
    purge_days: int | None = None,
    embargo_days: int = 0,
    mode: str = "expanding",
    min_train_days: int = 1,
    train_days: int | None = None,
    horizon: int = 1,
    min_tickers: int = 1,
    execution: str | None = None,
) -> list[FoldBoundaries]:
    """Walk-forward folds of three blocks cut on a trading calendar, ``num_folds`` test blocks of equal length.

    Args:
        dates: the last day of every usable window of every ticker (one entry per ticker and day; order does not
            matter). Trading days are their distinct values; a day's ticker count is how often it occurs.
        num_folds: number of folds; the last test block ends on the last eligible day.
        test_days: eligible days per test block; default ``eligible // (2 * num_folds)``, so the test blocks
            cover the second half of the eligible days.
        tune_days: eligible days per tuning (early-stopping) block, ending one gap before the test block.
        purge_days: trading days strictly between a block's last target date and the next block's first day,
            at least the target's span ``horizon + L`` (the default).
        embargo_days: extra trading days after the purge.
        mode: ``'expanding'`` or ``'rolling'`` (every training range ``train_days`` eligible days long; default:
            fold 0's).
        min_train_days: a fold with fewer training days is an error.
        horizon: the target horizon h in trading days.
        min_tickers: a day is eligible when it has at least this many windows (tickers).
        execution: when the books trade (``next_open``, ``next_close``, ``close``; None: the project's default),
            which sets the lag L of the targets' span.

    Raises ``ValueError`` naming the fold and its dates when a block is empty or too short, or when no day has
    ``min_tickers`` tickers (a thin day inside a test block is kept: see the module docstring).
    """
    num_folds = _check_count("num_folds", num_folds, 1)
    horizon, purge_days, embargo_days, execution = _check_gap(horizon, purge_days, embargo_days, execution)
    min_tickers = _check_count("min_tickers", min_tickers, 1)
    cal, _, eligible = _calendar(dates, min_tickers)
    n = len(eligible)
    if test_days is None:
        test_days = max(n // (2 * num_folds), 1)
    test_days = _check_count("test_days", test_days, 1)
    first_test = n - num_folds * test_days
    if first_test < 0:
        raise ValueError(
            f"{num_folds} test blocks of {test_days} days need {num_folds * test_days} eligible days; "
            f"{cal[0]}..{cal[-1]} has {n} with at least min_tickers={min_tickers} tickers"
        )
    tests = [
        (fold_key(i), first_test + i * test_days, first_test + (i + 1) * test_days, None, False)
        for i in range(num_folds)
    ]
    return _three_blocks(
        cal,
        eligible,
        tests,
        tune_days,
        horizon,
        purge_days,
        embargo_days,
        mode,
        min_train_days,
        train_days,
        min_tickers,
        execution,
    )


def calendar_walk_forward_splits(
    dates: Iterable[Any],
    period: str = "quarter",
    first_test_date: dt.date | str = DEFAULT_FIRST_TEST_DATE,
    tune_days: int = 63,
    purge_days: int | None = None,
    embargo_days: int = 0,
    mode: str = "expanding",
    min_train_days: int = 1,
    train_days: int | None = None,
    horizon: int = 1,
    min_tickers: int = 1,
    execution: str | None = None,
) -> list[FoldBoundaries]:
    """Walk-forward folds whose test blocks are calendar periods, from ``first_test_date`` to the data's end.

    Fold ``k`` (its key: the period's first day, ``'2024-04-01'``) tests the eligible days of its period; the
    last fold, whose period contains the last eligible day, is open when the period runs past the last trading
    day. Its training and tuning blocks end before the period with the gap, so a fold depends only on rows
    before its period (and new days never move a closed fold). The other arguments are those of
    :func:`date_walk_forward_splits`; ``train_days`` (rolling) must be at least ``tune_days``.

    Raises ``ValueError`` for an unknown period, a ``first_test_date`` that is not a period's first day or lies
    after the last eligible day, a rolling ``train_days`` shorter than ``tune_days``, and a period (fold) with no
    day on which ``min_tickers`` tickers trade (naming the fold and its dates).
    """
    period = check_period(period)
    first = dt.date.fromisoformat(first_test_date) if isinstance(first_test_date, str) else first_test_date
    check_first_test_date(first, period)
    horizon, purge_days, embargo_days, execution = _check_gap(horizon, purge_days, embargo_days, execution)
    tune_days = _check_count("tune_days", tune_days, 1)
    min_tickers = _check_count("min_tickers", min_tickers, 1)
    if mode == "rolling" and train_days is not None and train_days < tune_days:
        raise ValueError(f"rolling train_days={train_days} is shorter than the tuning block tune_days={tune_days}")
    cal, _, eligible = _calendar(dates, min_tickers)
    days = cal[eligible]  # the eligible days, sorted
    last, last_trading = _as_date(days[-1]), _as_date(cal[-1])
    if first > last:
        raise ValueError(
            f"first_test_date={first} is after the data's last day with min_tickers={min_tickers} tickers "
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
                f"min_tickers={min_tickers} tickers; fix the data or lower min_tickers"
            )
        period_end = stop - dt.timedelta(days=1)
        tests.append((start.isoformat(), s0, s1, period_end, last_trading < period_end))
        start = stop
    return _three_blocks(
        cal,
        eligible,
        tests,
        tune_days,
        horizon,
        purge_days,
        embargo_days,
        mode,
        min_train_days,
        train_days,
        min_tickers,
        execution,
    )


def _three_blocks(
    cal: np.ndarray,
    eligible: np.ndarray,
    tests: list[tuple[str, int, int, dt.date | None, bool]],
    tune_days: int,
    horizon: int,
    purge_days: int,
    embargo_days: int,
    mode: str,
    min_train_days: int,
    train_days: int | None,
    min_tickers: int,
    execution: str,
) -> list[FoldBoundaries]:
    """Tuning and training blocks before each test block ``[s0, s1)`` (positions in the eligible days)."""
    tune_days = _check_count("tune_days", tune_days, 1)
    min_train_days = _check_count("min_train_days", min_train_days, 1)
    mode = _check_mode(mode)
    train_days = None if train_days is None else _check_count("train_days", train_days, 1)
    gap = target_span(horizon, execution) + purge_days + embargo_days  # trading days dropped between two blocks

    def day(k: int) -> np.datetime64:  # the k-th eligible day
        return cal[eligible[k]]

    layout = []
    # A day inside a test block with fewer than min_tickers tickers (a vendor hole: a ticker missing some days) stays
    # in the block; the ticker missing days is dropped from that fold's scoring (fin_pipeline.evaluation.scoring).
    for name, s0, s1, _, _ in tests:
        u1 = _last_at_or_before(eligible, eligible[s0] - gap - 1) + 1  # tuning: [u0, u1)
        u0 = u1 - tune_days
        if u0 < 0:
            raise ValueError(
                f"{name}: no room for a tuning block of tune_days={tune_days} before the test block "
                f"{day(s0)}..{day(s1 - 1)} (gap {gap} days, eligible days from {day(0)})"
            )
        t1 = _last_at_or_before(eligible, eligible[u0] - gap - 1) + 1  # training: [t0, t1)
        layout.append((t1, u0, u1))
    rolling = train_days if train_days is not None else max(layout[0][0], 1)
    folds = []
    for i, ((name, s0, s1, period_end, is_open), (t1, u0, u1)) in enumerate(zip(tests, layout, strict=True)):
        t0 = 0 if mode == "expanding" else max(t1 - rolling, 0)
        span = eligible[t1 - 1] - eligible[t0] + 1 if t1 > t0 else 0  # trading days in the training range
        if span < min_train_days:
            raise ValueError(
                f"{name}: {max(span, 0)} training days before the tuning block {day(u0)}..{day(u1 - 1)} "
                f"(gap {gap} days, eligible days from {day(0)}); at least min_train_days={min_train_days} are needed"
            )
        folds.append(
            FoldBoundaries(
                fold=name,
                index=i,
                train_start=_as_date(day(t0)),
                train_end=_as_date(day(t1 - 1)),
                tune_start=_as_date(day(u0)),
                tune_end=_as_date(day(u1 - 1)),
                test_start=_as_date(day(s0)),
                test_end=_as_date(day(s1 - 1)),
                horizon=horizon,
                execution=execution,
                purge_days=purge_days,
                embargo_days=embargo_days,
                min_tickers=min_tickers,
                train_days=int(span),
                tune_days=int(eligible[u1 - 1] - eligible[u0] + 1),
                test_days=int(eligible[s1 - 1] - eligible[s0] + 1),
                period_end=period_end,
                is_open=is_open,
            )
        )
    return folds


LIVE_FOLD = "live"  # the key of the live model's layout (no test block: it forecasts the next session)


def live_split(
    dates: Iterable[Any],
    as_of: dt.date,
    tune_days: int = 63,
    purge_days: int | None = None,
    embargo_days: int = 0,
    mode: str = "expanding",
    min_train_days: int = 1,
    train_days: int | None = None,
    horizon: int = 1,
    min_tickers: int = 1,
    execution: str | None = None,
) -> FoldBoundaries:
    """The live model's cut: training | gap | tuning, the tuning block ending on the last day whose target is
    realized; the "test" block is ``as_of``, the data's last day, whose windows are forecast (their targets are
    not known yet, so none of them is in ``dates``).

    ``dates`` are the window end days with a realized target (``WindowSet.index['date']``). The same rules as a
    fold's: the gap ``horizon + L + purge_days + embargo_days`` trading days between training and tuning, the tuning
    block the last ``tune_days`` eligible days (``min_tickers`` tickers), expanding or rolling (``train_days``;
    all the history when None) training. Errors name the setting.
    """
    horizon, purge_days, embargo_days, execution = _check_gap(horizon, purge_days, embargo_days, execution)
    tune_days = _check_count("tune_days", tune_days, 1)
    min_train_days = _check_count("min_train_days", min_train_days, 1)
    mode = _check_mode(mode)
    cal, _, eligible = _calendar(dates, min_tickers)
    last = _as_date(cal[eligible[-1]])
    if last >= as_of:
        raise ValueError(f"live: the last day with a realized target ({last}) is not before as_of={as_of}")
    gap = target_span(horizon, execution) + purge_days + embargo_days

    def day(k: int) -> np.datetime64:
        return cal[eligible[k]]

    u1 = len(eligible)
    u0 = u1 - tune_days
    t1 = _last_at_or_before(eligible, eligible[u0] - gap - 1) + 1 if u0 >= 0 else 0
    if u0 < 0 or t1 <= 0:
        raise ValueError(
            f"live: no room for a tuning block of tune_days={tune_days} and a gap of {gap} days after some "
            f"training in the {len(eligible)} eligible days {day(0)}..{day(u1 - 1)}"
        )
    t0 = 0 if mode == "expanding" or train_days is None else max(t1 - _check_count("train_days", train_days, 1), 0)
    span = int(eligible[t1 - 1] - eligible[t0] + 1)
    if span < min_train_days:
        raise ValueError(
            f"live: {span} training days before the tuning block {day(u0)}..{day(u1 - 1)}; at least "
            f"min_train_days={min_train_days} are needed"
        )
    return FoldBoundaries(
        fold=LIVE_FOLD,
        index=0,
        train_start=_as_date(day(t0)),
        train_end=_as_date(day(t1 - 1)),
        tune_start=_as_date(day(u0)),
        tune_end=_as_date(day(u1 - 1)),
        test_start=as_of,
        test_end=as_of,
        horizon=horizon,
        execution=execution,
        purge_days=purge_days,
        embargo_days=embargo_days,
        min_tickers=min_tickers,
        train_days=span,
        tune_days=int(eligible[u1 - 1] - eligible[u0] + 1),
        test_days=1,
    )


class DateWalkForwardSplitter:
    """Object form of :func:`date_walk_forward_splits`: keep the settings, ``split(dates)`` the calendar."""

    def __init__(self, num_folds: int = 12, **kwargs: Any) -> None:
        self.num_folds = num_folds
        self.kwargs = kwargs

    def split(self, dates: Iterable[Any]) -> list[FoldBoundaries]:
        return date_walk_forward_splits(dates, self.num_folds, **self.kwargs)
