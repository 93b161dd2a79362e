"""The fold layout of a universe: which windows train, tune (early stopping) and test in each fold.

:class:`FoldSpec` is the one place the fold settings and their defaults live; the Dagster ``FoldConfig`` is
derived from it. :func:`compute_folds` cuts the universe's calendar (see :mod:`fin_pipeline.training.splits` for
the three blocks and the one reading of the gap), :func:`fold_positions` gives each block's windows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from fin_pipeline.core.calendar import DEFAULT_FIRST_TEST_DATE, PERIODS, check_first_test_date
from fin_pipeline.features.windows import WindowSet
from fin_pipeline.sources.execution import resolve_execution, target_span
from fin_pipeline.training.fold_boundaries import BLOCKS, MODES, BlockOptions, FoldBoundaries
from fin_pipeline.training.spec import described
from fin_pipeline.training.splits import calendar_walk_forward_splits

_DEFAULT = BlockOptions()  # the splitters' defaults: a FoldSpec's are the same values


@dataclasses.dataclass(frozen=True)
class FoldSpec:
    """How the calendar is cut into folds (see :func:`compute_folds`).

    ``period`` and ``first_test_date`` name the fold partitions, so the pipeline takes them from the settings
    (FIN_PIPELINE_FOLD_PERIOD, FIN_PIPELINE_FIRST_TEST_DATE), not from run config.
    """

    period: str = described("quarter", "Calendar length of a fold's test block: month, quarter, half or year.")
    first_test_date: dt.date = described(
        DEFAULT_FIRST_TEST_DATE, "First day of the first fold's test period (the first day of a period)."
    )
    mode: str = described(_DEFAULT.mode, "'expanding' training window from the start, or 'rolling'.")
    train_days: int | None = described(
        None,
        "Rolling mode: trading days of every training block (at least tune_days); empty: the first fold's "
        "expanding length.",
        ge=1,
    )
    purge_days: int | None = described(
        None,
        "Trading days strictly between a block's last target date and the next block's first day; at least "
        "the target's span h + L (L = 1 when the books enter the session after the decision, next_open or "
        "next_close; 0 for close). Empty: h + L.",
        ge=0,
    )
    embargo_days: int = described(_DEFAULT.embargo_days, "Extra trading days between blocks, after the purge.", ge=0)
    tune_days: int = described(
        _DEFAULT.tune_days,
        "Trading days of the tuning (early-stopping) block before each test block (63: a quarter).",
        ge=5,
    )
    min_train_days: int = described(_DEFAULT.min_train_days, "A fold with fewer training days is an error.", ge=1)
    min_tickers: int | None = described(
        None,
        "Days with fewer usable tickers are not cut into folds; a test block may not contain one. "
        "Empty: half the universe, at least 2.",
        ge=1,
    )

    def validate(self, horizon: int = 1, universe_size: int | None = None, execution: str | None = None) -> FoldSpec:
        """Raise ``ValueError`` naming the field and value for a setting no fold could use, before any work.

        ``purge_days`` must cover the target's span h + L (L the execution's lag, see
        :mod:`fin_pipeline.sources.execution`; ``execution`` None: the project's default).
        """
        for f in dataclasses.fields(self):
            value, low = getattr(self, f.name), f.metadata.get("ge")
            if value is not None and low is not None and (isinstance(value, bool) or value < low):
                raise ValueError(f"fold config: {f.name} must be >= {low}, got {value}")
        if self.mode not in MODES:
            raise ValueError(f"fold config: mode must be one of {list(MODES)}, got {self.mode!r}")
        if self.period not in PERIODS:
            raise ValueError(
                f"fold config: period (FIN_PIPELINE_FOLD_PERIOD) must be one of {list(PERIODS)}, got {self.period!r}"
            )
        try:
            check_first_test_date(self.first_test_date, self.period)
        except ValueError as exc:
            raise ValueError(f"fold config (FIN_PIPELINE_FIRST_TEST_DATE): {exc}") from None
        if self.mode == "rolling" and self.train_days is not None and self.train_days < self.tune_days:
            raise ValueError(
                f"fold config: rolling train_days={self.train_days} is shorter than the tuning block "
                f"tune_days={self.tune_days}"
            )
        span = target_span(horizon, resolve_execution(execution))
        if self.purge_days is not None and self.purge_days < span:
            raise ValueError(
                f"fold config: purge_days={self.purge_days} must be >= the target's span h + L = {span} (horizon "
                f"h={horizon}, execution {resolve_execution(execution)!r}; or empty, which means h + L)"
            )
        if universe_size is not None and self.min_tickers is not None and self.min_tickers > universe_size:
            raise ValueError(
                f"fold config: min_tickers={self.min_tickers} is more than the universe's {universe_size} ticker(s)"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain values (the first test date as an ISO string): for the fold file and Dagster metadata."""
        return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in dataclasses.asdict(self).items()}

    def block_options(self, universe_size: int, horizon: int = 1, execution: str | None = None) -> dict[str, Any]:
        """The training, gap and tuning settings a splitter takes (the folds' and the live model's alike)."""
        return {
            "tune_days": self.tune_days,
            "train_days": self.train_days,
            "purge_days": self.purge_days,
            "embargo_days": self.embargo_days,
            "mode": self.mode,
            "min_train_days": self.min_train_days,
            "horizon": horizon,
            "min_tickers": self.tickers_needed(universe_size),
            "execution": execution,
        }

    def tickers_needed(self, universe_size: int) -> int:
        """``min_tickers``, or its default: half the universe (rounded up), at least 2, at most the universe."""
        if self.min_tickers is not None:
            return self.min_tickers
        return min(universe_size, max(2, math.ceil(universe_size / 2)))


def compute_folds(ws: WindowSet, spec: FoldSpec, horizon: int = 1) -> list[FoldBoundaries]:
    """Fold boundaries on the calendar of the universe's usable window end days, the same cut for every ticker:
    one fold per ``spec.period`` from ``spec.first_test_date`` to the last day with enough tickers. The gaps cover
    the targets' span under the windows' execution (``ws.execution``)."""
    spec.validate(horizon, len(ws.spans), ws.execution)
    options = spec.block_options(len(ws.spans), horizon, ws.execution)
    return calendar_walk_forward_splits(ws.index["date"].to_numpy(), spec.period, spec.first_test_date, **options)


class FoldPositions(NamedTuple):
    """Positions into ``ws.windows`` of a fold's training, tuning and test windows."""

    train: np.ndarray
    tune: np.ndarray
    test: np.ndarray


def fold_positions(ws: WindowSet, fold: FoldBoundaries) -> FoldPositions:
    """The fold's windows per block; an empty training or tuning block is an error naming the fold."""
    dates = ws.index["date"].to_numpy()
    pos = FoldPositions(*(fold.indices(block, dates, ws.indices) for block in BLOCKS))
    for block, name in (("train", "training"), ("tune", "tuning")):
        if len(getattr(pos, block)) == 0:
            raise ValueError(
                f"{fold.fold}: the {name} block {getattr(fold, f'{block}_start')}..{getattr(fold, f'{block}_end')} "
                "has no usable window"
            )
    return pos


def fold_record(ws: WindowSet, fold: FoldBoundaries) -> dict[str, Any]:
    """The fold's boundaries with its counts: windows and tickers per block, and the fewest tickers on a test day."""
    record = fold.to_dict()
    dates = ws.index["date"].to_numpy()
    for block in BLOCKS:
        mask = fold.mask(block, dates)
        record[f"{block}_windows"] = int(mask.sum())
        record[f"{block}_tickers"] = int(ws.index["ticker"][mask].nunique())
    per_day = ws.index.loc[fold.mask("test", dates)].groupby("date", observed=True).size()
    record["test_min_tickers_per_day"] = int(per_day.min()) if len(per_day) else 0
    return record


def eligible_days(ws: WindowSet, spec: FoldSpec) -> np.ndarray:
    """The days (``datetime64[D]``, sorted) with at least ``min_tickers`` usable windows: the days folds are cut on."""
    days, counts = np.unique(ws.index["date"].to_numpy().astype("datetime64[D]"), return_counts=True)
    return days[counts >= spec.tickers_needed(len(ws.spans))]


def universe_end_message(ws: WindowSet, spec: FoldSpec, keys: list[str]) -> str | None:
    """Why fold partitions ``keys`` (periods begun in the data) cannot all be cut, in the words that the CLI, the
    nightly sensor and the fold asset all use; None when each has an eligible day.

    A fold's test block holds only days with ``min_tickers`` tickers; when tickers end (delisted, a vendor file
    that stops) and fewer remain, the folds end at the last such day and no new fold can start.
    """
    days = eligible_days(ws, spec)
    last = pd.Timestamp(days[-1]).date() if len(days) else None
    beyond = [k for k in keys if last is None or dt.date.fromisoformat(k) > last]
    if not beyond:
        return None
    need, size = spec.tickers_needed(len(ws.spans)), len(ws.spans)
    # each ticker's last bar (its last row: a session whose target is not known yet counts, it traded)
    if ws.row_dates is not None:
        ends = {t: pd.Timestamp(ws.row_dates[stop - 1]).date() for t, (_, stop) in ws.spans.items()}
    else:
        ends = {t: pd.Timestamp(d).date() for t, d in ws.index.groupby("ticker", observed=True)["date"].max().items()}
    end = max(ends.values())
    ended = sorted((d, str(t)) for t, d in ends.items() if d < end)
    trading = size - len(ended)
    said = ", ".join(f"{t} on {d}" for d, t in ended) or "none"
    cut = f"the last day on which {need} tickers have a usable window is {last}" if last else "no day has that many"
    return (
        f"the universe has thinned: {len(ended)} of {size} tickers' data ended before {end} ({said}), leaving "
        f"{trading} ticker(s), fewer than min_tickers={need}; a fold's test block needs {need} tickers a day, so no "
        f"new fold can start: fold(s) {', '.join(beyond)} cannot be cut ({cut}). Set FIN_PIPELINE_MIN_TICKERS "
        f"(fin-pipeline run --min-tickers) to at most {trading}, or add tickers to the universe"
    )
