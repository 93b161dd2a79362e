"""Zero-copy 30 × 40 model inputs over the feature rows of many tickers, selectable by date.

The feature files hold one row per trading day; a model input is the 30 rows ending on a day. Writing each
window out would store every row 30 times. Instead the rows of every ticker are laid back to back in ONE
contiguous ``(T, 40)`` float32 array, ``values`` (the only copy: 1× the feature matrix), and

    windows = sliding_window_view(values, 30, axis=0).transpose(0, 2, 1)   # (T - 29, 30, 40), a view

so ``windows[k]`` **is** ``values[k : k + 30]``: window ``k`` covers rows ``k .. k + 29`` and ends on row
``k + 29``. The view is read-only and shares memory with ``values``; only ``X(positions)`` gathers (copies)
the windows a batch asks for.

Not every ``k`` is a usable input: a window may start in one ticker and end in the next, or cover warm-up
rows, or end on a row whose target is unknown. ``index`` lists the usable ones only, one row per window:

=========  ======================  =========================================================
column     dtype                   meaning
=========  ======================  =========================================================
ticker     category                the ticker whose rows the window covers (never two)
date       datetime64[ns] (naive)  session date (New York) of the window's LAST row
window     int64                   position ``k`` into ``windows`` (rows ``k .. k+29``)
target     float32                 target of the last row: ``targets[k + 29]``
=========  ======================  =========================================================

``next_returns`` holds each row's one-day executable return (``WindowSet.next_return(positions)``) and
``execution`` the convention the targets and those returns follow (:mod:`fin_pipeline.sources.execution`).

Beside the features, ``costs`` holds each row's trading-cost inputs (``COST_INPUTS``: half_spread, sigma, adv; see
:mod:`fin_pipeline.backtest.costs`), computed from that day's candles and earlier ones only. They are not model
inputs: the books read the row of the decision day (a window's last row) to charge its trades. A feature file
written before they existed gives NaN there; only the ``spread_impact`` cost model minds.

A usable window ends on a row flagged ``window_ok`` by the feature step (30 finite feature rows, a known
target and a known one-day return) at least 29 rows after its ticker's first row. Folds pick windows by the
date of their last row: ``positions = ws.select(start, end)``, then ``ws.X(positions)`` (B, 30, 40) and
``ws.y(positions)`` (B,). :mod:`fin_pipeline.features.assemble` builds a WindowSet from feature frames or files.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fin_pipeline.features.cost_inputs import COST_INPUTS
from fin_pipeline.features.indicators import FEATURE_COLUMNS, WINDOW
from fin_pipeline.sources.base import NEW_YORK

DateLike = str | dt.date | pd.Timestamp | np.datetime64


@dataclass(frozen=True, eq=False, repr=False)
class WindowSet:
    """All usable windows of a universe; see the module docstring for the layout."""

    values: np.ndarray  # (T, F) float32, read-only: every ticker's feature rows back to back
    targets: np.ndarray  # (T,) float32, read-only: the target of each row (NaN where unknown)
    windows: np.ndarray  # (T - W + 1, W, F) read-only view of values: windows[k] is values[k : k + W]
    index: pd.DataFrame  # one row per usable window: ticker, date, window, target
    spans: Mapping[str, tuple[int, int]]  # ticker -> [first row, end row) of its rows in values
    window: int = WINDOW
    feature_columns: tuple[str, ...] = FEATURE_COLUMNS
    row_dates: np.ndarray | None = None  # (T,) datetime64[ns] session date of every row (None: not recorded)
    # (T,) float32: each row's one-day executable log return (what a book decided on that row earns on its first
    # day held, ``next_return`` of the feature rows), and the execution the targets and it were computed under.
    next_returns: np.ndarray | None = None
    execution: str = "close"  # what a WindowSet assembled without one holds: the targets of before the setting
    costs: np.ndarray | None = None  # (T, len(COST_INPUTS)) float64, read-only: each row's cost inputs (NaN: none)

    def cost_rows(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The cost inputs of the rows ``rows`` (positions into ``values``), by column; NaN where not recorded."""
        rows = np.asarray(rows, dtype=np.intp)
        if self.costs is None:
            return {c: np.full(len(rows), np.nan) for c in COST_INPUTS}
        return {c: self.costs[rows, j] for j, c in enumerate(COST_INPUTS)}

    def tickers_without_costs(self) -> list[str]:
        """Tickers whose feature rows carry no cost inputs at all (files written before they existed)."""
        if self.costs is None:
            return list(self.spans)
        return [t for t, (a, b) in self.spans.items() if b > a and np.isnan(self.costs[a:b]).all()]

    def __len__(self) -> int:
        return len(self.index)

    def __repr__(self) -> str:
        return (
            f"WindowSet({len(self.spans)} ticker(s), {len(self.values)} rows, {len(self)} usable windows "
            f"of {self.window} x {len(self.feature_columns)})"
        )

    @property
    def indices(self) -> np.ndarray:
        """Positions into ``windows`` of every usable window, in index order (ticker, then date)."""
        return self.index["window"].to_numpy()

    def select(
        self, start: DateLike | None = None, end: DateLike | None = None, tickers: Iterable[str] | None = None
    ) -> np.ndarray:
        """Positions of the usable windows whose last row's session date is in ``[start, end]`` (inclusive).

        ``None`` leaves that side open; ``tickers`` optionally keeps only those tickers.
        """
        dates = self.index["date"].to_numpy()
        mask = np.ones(len(dates), dtype=bool)
        if start is not None:
            mask &= dates >= _as_day(start)
        if end is not None:
            mask &= dates <= _as_day(end)
        if tickers is not None:
            mask &= self.index["ticker"].isin(list(tickers)).to_numpy()
        return self.index["window"].to_numpy()[mask]

    def X(self, positions: np.ndarray) -> np.ndarray:  # noqa: N802 - the usual name for model inputs
        """The windows at ``positions``, gathered into a new (B, W, F) float32 array."""
        return self.windows[np.asarray(positions, dtype=np.intp)]

    def y(self, positions: np.ndarray) -> np.ndarray:
        """The targets of the windows at ``positions`` (of their last rows), (B,) float32."""
        return self.targets[np.asarray(positions, dtype=np.intp) + (self.window - 1)]

    def next_return(self, positions: np.ndarray) -> np.ndarray:
        """The one-day executable log return of the windows at ``positions`` (of their last rows), (B,) float64."""
        if self.next_returns is None:
            raise ValueError("this WindowSet has no next_return rows (build it with build_windows/load_window_set)")
        return self.next_returns[np.asarray(positions, dtype=np.intp) + (self.window - 1)].astype(np.float64)


def _as_day(value: DateLike) -> np.datetime64:
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert(NEW_YORK).tz_localize(None)
    return np.datetime64(ts.normalize().as_unit("ns"))


def latest_windows(ws: WindowSet) -> tuple[pd.DataFrame, dict[str, str]]:
    """The window ending on each ticker's last row (its target is not known yet: what a forecast reads).

    Returns ``(rows, missing)``: rows with ``ticker``, ``date`` (the last row's session) and ``window`` (its
    position in ``ws.windows``), for the tickers whose last 30 feature rows are finite; ``missing`` says why for
    the others (too few rows, non-finite features), by ticker.
    """
    if ws.row_dates is None:
        raise ValueError("latest_windows needs a WindowSet with row dates (build_windows / load_window_set)")
    rows, missing = [], {}
    for ticker, (first, end) in ws.spans.items():
        if end - first < ws.window:
            missing[ticker] = f"{end - first} feature row(s), fewer than the window of {ws.window}"
            continue
        k = end - ws.window
        if not np.isfinite(ws.values[k:end]).all():
            missing[ticker] = f"non-finite features in the window ending {pd.Timestamp(ws.row_dates[end - 1]).date()}"
            continue
        rows.append((ticker, ws.row_dates[end - 1], k))
    return pd.DataFrame(rows, columns=["ticker", "date", "window"]), missing
