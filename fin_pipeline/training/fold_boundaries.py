"""One fold's calendar cut (:class:`FoldBoundaries`), the settings that cut it (:class:`BlockOptions`), and the
checks every splitter shares.

A fold has three blocks, ``train``, ``tune`` and ``test`` (:data:`BLOCKS`), each a range of inclusive trading days;
a window belongs to a block when its last day lies in the block. The date splitters of
:mod:`fin_pipeline.training.splits` cut them; the fold assets, scoring and the live model read them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from fin_pipeline.sources.execution import resolve_execution, target_span

MODES = ("expanding", "rolling")
BLOCKS = ("train", "tune", "test")
_DATES = ("train_start", "train_end", "tune_start", "tune_end", "test_start", "test_end", "period_end")


def check_count(name: str, value: Any, minimum: int) -> int:
    """``value`` as an ``int``; ``ValueError`` naming ``name`` unless it is an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_mode(mode: str) -> str:
    """``mode`` when it is one of :data:`MODES`, else ``ValueError``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    return mode


def to_days(dates: Any) -> np.ndarray:
    """Any date-like array (dates, strings, naive or tz-aware timestamps) -> ``datetime64[D]``.

    A tz-aware timestamp counts on its own wall-clock date (a New York midnight bar is that New York day).
    """
    idx = pd.DatetimeIndex(pd.to_datetime(np.asarray(dates) if not isinstance(dates, pd.Index) else dates))
    if idx.tz is not None:
        idx = idx.tz_localize(None)
    return idx.values.astype("datetime64[D]")


def as_date(day: np.datetime64) -> dt.date:
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

    A window belongs to a block when its last day lies in the block's ``[start, end]``. Between the blocks lie
    ``horizon + L + purge_days + embargo_days`` trading days that belong to none, L the lag of ``execution``
    (see :mod:`fin_pipeline.training.splits`).
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
        d = to_days(window_dates)
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


@dataclasses.dataclass(frozen=True)
class BlockOptions:
    """The training, gap and tuning settings of a cut, the folds' and the live model's alike, and their defaults
    (:class:`~fin_pipeline.training.folds.FoldSpec` takes its defaults from here).

    Attributes:
        tune_days: eligible days per tuning (early-stopping) block, ending one gap before the test block.
        purge_days: trading days strictly between a block's last target date and the next block's first day,
            at least the target's span ``horizon + L`` (None: that span).
        embargo_days: extra trading days after the purge.
        mode: ``'expanding'`` or ``'rolling'`` (every training range ``train_days`` eligible days long; None:
            fold 0's expanding length).
        min_train_days: a fold with fewer training days is an error.
        horizon: the target horizon h in trading days.
        min_tickers: a day is eligible when it has at least this many windows (tickers).
        execution: when the books trade (``next_open``, ``next_close``, ``close``; None: the project's default),
            which sets the lag L of the targets' span.
    """

    tune_days: int = 63
    purge_days: int | None = None
    embargo_days: int = 0
    mode: str = "expanding"
    min_train_days: int = 252
    train_days: int | None = None
    horizon: int = 1
    min_tickers: int = 1
    execution: str | None = None

    def checked(self) -> BlockOptions:
        """These options checked, with ``purge_days`` and ``execution`` resolved; ``ValueError`` naming the
        setting otherwise (a purge shorter than the targets' span would let training targets leak)."""
        horizon = check_count("horizon", self.horizon, 1)
        execution = resolve_execution(self.execution)
        span = target_span(horizon, execution)
        purge_days = span if self.purge_days is None else check_count("purge_days", self.purge_days, 0)
        if purge_days < span:
            raise ValueError(
                f"purge_days={purge_days} must be >= the target's span h + L = {span} trading days (horizon "
                f"h={horizon}, execution {execution!r} enters L={span - horizon} session(s) after the decision): "
                "training targets would leak"
            )
        return BlockOptions(
            tune_days=check_count("tune_days", self.tune_days, 1),
            purge_days=purge_days,
            embargo_days=check_count("embargo_days", self.embargo_days, 0),
            mode=check_mode(self.mode),
            min_train_days=check_count("min_train_days", self.min_train_days, 1),
            train_days=None if self.train_days is None else check_count("train_days", self.train_days, 1),
            horizon=horizon,
            min_tickers=check_count("min_tickers", self.min_tickers, 1),
            execution=execution,
        )

    @property
    def gap(self) -> int:
        """Trading days dropped between two blocks, counted in windows' end days: h + L + purge + embargo."""
        return target_span(self.horizon, self.execution) + self.purge_days + self.embargo_days


def fold_key(index: int) -> str:
    """The fold partition key: ``fold_key(3) == 'fold_03'``."""
    return f"fold_{index:02d}"
