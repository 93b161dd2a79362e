"""Walk-forward splitting: by sample index (the seed's ``WalkForwardValidator``) and by calendar date.

Both lay the folds out the same way. The validation blocks are consecutive, do not overlap, and the last one
ends on the last sample (or day); fold 0 is the earliest. Training always precedes its validation block::

    expanding   [train ..........][purge][embargo][val 0]
                [train ...................................][purge][embargo][val 1]
    rolling             [train ..........][purge][embargo][val 1]

Gap reading (one reading for both splitters, ``DESIGN.md`` "Time, leakage and folds"):

* ``purge`` = samples (trading days) dropped between the last training sample and the first validation
  sample. A window ending on day t has a target that reaches day t + h (h the target horizon), so with
  ``purge >= h`` the last training target ends strictly before the first validation day. Example, h = 1,
  purge = 1, validation starting on a Monday: the last training window ends on Thursday (target Thursday ->
  Friday close); Friday's window, whose target reaches Monday's close, is purged.
* ``embargo`` = extra samples (days) dropped *after* the purge, before validation: a margin against serial
  correlation. Walk-forward training never follows its validation block, so the other reading of an embargo
  (samples after a test block that later training may not use) never applies here.

The gap between ``train_end`` and ``val_start`` is therefore ``purge + embargo`` samples.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

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
        validation_size: samples per validation block; a float in (0, 1) is read as the seed did, a fraction of
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


@dataclasses.dataclass(frozen=True)
class FoldBoundaries:
    """One fold's calendar cut, the same for every ticker. All dates are inclusive trading days.

    Training windows are those whose last day lies in ``[train_start, train_end]``, validation windows those in
    ``[val_start, val_end]``. ``purge_days + embargo_days`` trading days lie strictly between ``train_end`` and
    ``val_start``; they belong to neither.
    """

    fold: str  # 'fold_00', the partition key
    index: int
    train_start: dt.date
    train_end: dt.date
    val_start: dt.date
    val_end: dt.date
    purge_days: int
    embargo_days: int
    train_days: int  # trading days of the calendar in the training range
    val_days: int

    def train_mask(self, window_dates: Any) -> np.ndarray:
        """Boolean mask over windows (given each window's last day) that fall in the training range."""
        d = _to_days(window_dates)
        return (d >= np.datetime64(self.train_start)) & (d <= np.datetime64(self.train_end))

    def val_mask(self, window_dates: Any) -> np.ndarray:
        """Boolean mask over windows (given each window's last day) that fall in the validation range."""
        d = _to_days(window_dates)
        return (d >= np.datetime64(self.val_start)) & (d <= np.datetime64(self.val_end))

    def train_indices(self, window_dates: Any, positions: Any = None) -> np.ndarray:
        """Indices of the training windows: positions into ``window_dates``, or ``positions[mask]`` when given
        (e.g. ``WindowSet.indices``, the windows' positions in the zero-copy window array)."""
        return _pick(self.train_mask(window_dates), positions)

    def val_indices(self, window_dates: Any, positions: Any = None) -> np.ndarray:
        """Like :meth:`train_indices`, for the validation windows."""
        return _pick(self.val_mask(window_dates), positions)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (dates as ISO strings): for Dagster metadata, JSON, or a checkpoint's ``extra``."""
        return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FoldBoundaries:
        dates = ("train_start", "train_end", "val_start", "val_end")
        return cls(**{k: (dt.date.fromisoformat(v) if k in dates else v) for k, v in data.items()})


def fold_key(index: int) -> str:
    """The fold partition key: ``fold_key(3) == 'fold_03'``."""
    return f"fold_{index:02d}"


def date_walk_forward_splits(
    dates: Iterable[Any],
    num_folds: int = 12,
    validation_days: int | None = None,
    purge_days: int | None = None,
    embargo_days: int = 0,
    mode: str = "expanding",
    min_train_days: int = 1,
    train_days: int | None = None,
    horizon: int = 1,
) -> list[FoldBoundaries]:
    """Walk-forward folds cut on a trading calendar, the same cut for every ticker.

    Args:
        dates: the usable days (e.g. the last day of every valid window of every ticker, or their union); the
            calendar is their sorted unique set, so duplicates across tickers and order do not matter.
        num_folds: number of folds; the last validation block ends on the last calendar day.
        validation_days: trading days per validation block; default ``len(calendar) // (2 * num_folds)``, so
            the validation blocks cover the second half of the calendar.
        purge_days: trading days dropped between training and validation, at least ``horizon`` (default
            ``horizon``): the last training target then ends before the first validation day.
        embargo_days: extra trading days dropped after the purge.
        mode: ``'expanding'`` or ``'rolling'`` (every training range ``train_days`` long; default: fold 0's).
        min_train_days: a fold with fewer training days is an error.
        horizon: the target horizon h in trading days.

    Raises ``ValueError`` naming the fold and its dates when a block is empty or training is too short.
    """
    cal = np.unique(_to_days(list(dates) if not isinstance(dates, np.ndarray | pd.Index) else dates))
    num_folds = _check_count("num_folds", num_folds, 1)
    horizon = _check_count("horizon", horizon, 1)
    purge_days = horizon if purge_days is None else _check_count("purge_days", purge_days, 0)
    if purge_days < horizon:
        raise ValueError(
            f"purge_days={purge_days} must be >= the target horizon {horizon}: training targets would leak"
        )
    embargo_days = _check_count("embargo_days", embargo_days, 0)
    min_train_days = _check_count("min_train_days", min_train_days, 1)
    mode = _check_mode(mode)
    if len(cal) == 0:
        raise ValueError("date_walk_forward_splits needs at least one date")
    if validation_days is None:
        validation_days = max(len(cal) // (2 * num_folds), 1)
    validation_days = _check_count("validation_days", validation_days, 1)
    train_days = None if train_days is None else _check_count("train_days", train_days, 1)

    gap = purge_days + embargo_days
    folds = []
    for i, (t0, t1, v0, v1) in enumerate(_layout(len(cal), validation_days, num_folds, gap, mode, train_days)):
        name = fold_key(i)
        if v1 <= v0 or v1 > len(cal) or v1 - v0 < validation_days:
            raise ValueError(
                f"{name}: validation block is empty or cut short: {num_folds} folds of {validation_days} days need "
                f"{num_folds * validation_days} days, the calendar {cal[0]}..{cal[-1]} has {len(cal)}"
            )
        if t1 - t0 < min_train_days:
            raise ValueError(
                f"{name}: {max(t1 - t0, 0)} training days before validation {cal[v0]}..{cal[v1 - 1]} (after a gap of "
                f"{gap} days, calendar from {cal[0]}); at least min_train_days={min_train_days} are needed"
            )
        folds.append(
            FoldBoundaries(
                fold=name,
                index=i,
                train_start=_as_date(cal[t0]),
                train_end=_as_date(cal[t1 - 1]),
                val_start=_as_date(cal[v0]),
                val_end=_as_date(cal[v1 - 1]),
                purge_days=purge_days,
                embargo_days=embargo_days,
                train_days=t1 - t0,
                val_days=v1 - v0,
            )
        )
    return folds


class DateWalkForwardSplitter:
    """Object form of :func:`date_walk_forward_splits`: keep the settings, ``split(dates)`` the calendar."""

    def __init__(self, num_folds: int = 12, **kwargs: Any) -> None:
        self.num_folds = num_folds
        self.kwargs = kwargs

    def split(self, dates: Iterable[Any]) -> list[FoldBoundaries]:
        return date_walk_forward_splits(dates, self.num_folds, **self.kwargs)
