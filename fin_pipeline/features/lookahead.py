"""The look-ahead check: a feature of day t must not change when the days after t are cut off.

Recompute the features on the candles cut at a few points and compare every row before each cut with the
same row computed on the whole history. A causal column is bit-identical there (TA-Lib's recursions start at
the first row, and cutting the end does not move the start); a column that peeks at later rows differs on
the last rows before the cut, if nowhere else. NaN on both sides counts as equal.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from fin_pipeline.features.columns import compute_features
from fin_pipeline.sources.base import session_dates

#: Default number of cut points, spread evenly over the history.
DEFAULT_CUTS = 3


def default_cuts(rows: int, count: int = DEFAULT_CUTS) -> list[int]:
    """``count`` cut points (rows kept) spread evenly inside ``[1, rows)``: at 1/4, 2/4, 3/4 for 3."""
    return sorted({min(max(1, round(rows * k / (count + 1))), max(rows - 1, 1)) for k in range(1, count + 1)})


def _rows_kept(candles: pd.DataFrame, cut: int | str | dt.date | pd.Timestamp) -> int:
    """A cut given as rows kept (int) or as a date (the rows up to and including that session date)."""
    if isinstance(cut, int | np.integer):
        return int(cut)
    dates = pd.to_datetime(session_dates(candles["timestamp"]).to_numpy())
    return int(np.searchsorted(dates.to_numpy(), np.datetime64(pd.Timestamp(cut).date()), side="right"))


def lookahead_violations(
    candles: pd.DataFrame,
    compute: Callable[[pd.DataFrame], pd.DataFrame] = compute_features,
    cuts: Sequence[int | str | dt.date | pd.Timestamp] | None = None,
) -> dict[str, str]:
    """Columns of ``compute(candles)`` whose rows before a cut change when the candles are cut there.

    ``cuts``: rows kept (ints) or dates (rows up to and including that session); default
    :func:`default_cuts`. Returns ``{column: first session date (ISO) whose value changed}``, the earliest
    over all cuts; empty when every column is causal. A column missing from a cut computation counts as
    changed from its first row.
    """
    candles = candles.reset_index(drop=True)
    full = compute(candles)
    whole = full.to_numpy()  # once: most cuts compare every column, in the same order
    kept = default_cuts(len(candles)) if cuts is None else [_rows_kept(candles, c) for c in cuts]
    first_bad: dict[str, int] = {}
    for rows in kept:
        if not 0 < rows <= len(candles):
            raise ValueError(f"cut {rows} is outside 1..{len(candles)} rows")
        part = compute(candles.iloc[:rows].reset_index(drop=True))
        common = [col for col in full.columns if col in part.columns] if len(part) == rows else []
        for col in full.columns.difference(common, sort=False):
            first_bad[col] = 0
        if not common:
            continue
        # Every column at once (one 2-D comparison, not one pandas access per column and cut). Mixed float32 and
        # float64 columns come out float64, an exact widening: equal values stay equal.
        same_columns = common == list(full.columns) == list(part.columns)
        a = (whole if same_columns else full[common].to_numpy())[:rows]
        b = part.to_numpy() if same_columns else part[common].to_numpy()
        same = (a == b) | (pd.isna(a) & pd.isna(b))
        for j in np.flatnonzero(~same.all(axis=0)):
            col, row = common[j], int(np.argmin(same[:, j]))
            first_bad[col] = min(row, first_bad.get(col, row))
    if not first_bad:
        return {}
    dates = session_dates(candles["timestamp"])  # only to name a leak's first day
    return {col: str(dates.iloc[row]) for col, row in sorted(first_bad.items(), key=lambda kv: kv[1])}
