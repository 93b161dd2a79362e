"""Incremental, atomic update of one ticker's stored candles: what the ``raw_candles`` asset does.

When the ticker's Parquet file exists and came from the same source, only the days after its last bar are
fetched (plus that last bar again, as a sentinel), merged and de-duplicated: a nightly refresh asks for days,
not decades. The history is fetched whole instead when there is no file, when the file came from another
source, when the history start moved earlier, or when the sentinel bar changed — with ``adjusted=true`` a
split or dividend re-adjusts every earlier price, and merging new adjusted bars onto old ones would plant a
fake jump in the series.

Nothing stored is dropped by accident: an ``end`` earlier than the stored last bar, or a ``start`` later than
the stored history's, is refused (:class:`HistoryRewrite`) before anything is fetched or written; the deliberate
way is ``fin-pipeline rebuild --from DATE``, which archives the stored files first.

**Restatements, at a stated tolerance.** A re-delivered history is compared with the stored bars, session by
session: a bar whose prices and volume all lie within a relative ``RESTATEMENT_RTOL`` (1e-6) of the stored ones
is the same bar, and the *stored* values are kept, byte for byte (float noise from a vendor's re-adjustment,
~1e-7 relative, never reaches a feature, a row version or a fold); bars beyond it are restated: the new values
are stored and the restatement (first and last restated session, bar count, the stored last session when it
was seen) is appended to the file's metadata (``restatements``), where the nightly plan and the report read it.

**By day.** With ``market`` (:class:`~fin_pipeline.sources.grouped.MarketDays`, the Polygon source), an
incremental update asks it first: the ticker's new bars may come from market-wide answers shared by every ticker
(no sentinel then: the splits since the last stored session say whether the history was re-adjusted, and a split
fetches the whole history again, as a changed sentinel does), or the ticker is fetched alone as above.

Nothing is written unless the merged series passes :func:`validate_candles`; the write is atomic.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fin_pipeline.sources.base import CandleSource, SourceError, session_dates, validate_candles
from fin_pipeline.store.parquet import read_parquet, write_parquet

if TYPE_CHECKING:
    from fin_pipeline.sources.grouped import MarketDays

# Relative change of a stored bar's prices (or volume) that counts as a restatement; within it, a re-delivered
# bar is the stored bar (float noise) and the stored values are kept.
RESTATEMENT_RTOL = 1e-6
SENTINEL_RTOL = RESTATEMENT_RTOL  # the sentinel bar's close: a re-adjusted history
COMPARED = ("open", "high", "low", "close", "volume", "vwap")


class HistoryRewrite(ValueError):
    """A run that would drop or rewrite stored history; the message names what and the deliberate command."""


@dataclasses.dataclass(frozen=True)
class CandleUpdate:
    """What an update did; the asset turns it into Dagster metadata."""

    ticker: str
    path: Path
    source: str
    mode: str  # "full", "incremental", "incremental (grouped)", "up to date" or "refetch: <reason>"
    rows: int
    rows_added: int
    first_date: dt.date
    last_date: dt.date
    fetched: tuple[dt.date, dt.date] | None  # the range asked of the source; None when nothing was asked
    restated: dict | None = None  # this update's restatement (first, last, bars, seen), None when none
    plan: str | None = None  # the refresh plan by day (requests per method, the method chosen); None: not asked
    absent: tuple[dt.date, ...] = ()  # sessions whose grouped answer lacked the ticker (it was fetched alone)


def update_candles(
    source: CandleSource, ticker: str, path: Path, start: dt.date, end: dt.date, market: MarketDays | None = None
) -> CandleUpdate:
    """Bring ``path`` up to date with ``source`` for sessions in ``[start, end]``; see the module docstring."""
    path = Path(path)
    existing, meta = read_parquet(path) if path.exists() else (None, {})
    if existing is not None and not existing.empty:
        problem = truncation(ticker, session_dates(existing["timestamp"].iloc[[0, -1]]), meta, start, end)
        if problem:
            raise HistoryRewrite(f"{problem}; nothing was written. To do it deliberately: {rebuild_command(end)}")
    reason = _refetch_reason(existing, meta, source, start)
    restated = None
    fetched: tuple[dt.date, dt.date] | None = None
    step = None

    if existing is not None and reason is None:
        last = session_dates(existing["timestamp"].iloc[[-1]]).iloc[0]
        step = market.incremental(ticker, last, end) if market is not None and last < end else None
        if last >= end or (step is not None and step.bars is not None and step.bars.empty):
            merged, mode = existing, "up to date"
        elif step is not None and step.refetch:
            reason = step.refetch
        elif step is not None and step.bars is not None:  # the new sessions' bars from the market-wide answers
            fetched = (step.plan.sessions[0], step.plan.sessions[-1])
            merged = pd.concat([existing, step.bars], ignore_index=True).sort_values("timestamp")
            mode = "incremental (grouped)"
        else:
            fetched = (last, end)
            new = source.fetch(ticker, last, end)
            reason = _sentinel_changed(existing, new, last)
            if reason is None:  # the sentinel is the stored bar (within the tolerance): the stored one is kept
                merged = pd.concat([existing, new], ignore_index=True)
                merged = merged.drop_duplicates("timestamp", keep="first").sort_values("timestamp")
                mode = "incremental"
                if step is not None and step.absent:
                    mode += f" (fetched alone: absent from the grouped bars of {', '.join(map(str, step.absent))})"
    if existing is None or reason is not None:
        fetched = (start, end)
        merged = source.fetch(ticker, start, end)
        mode = "full" if existing is None else f"refetch: {reason}"
        if existing is not None and not existing.empty and meta.get("source") == source.name:
            merged, restated = keep_stored_bars(existing, merged)

    dates = session_dates(merged["timestamp"])
    merged = merged[((dates >= start) & (dates <= end)).to_numpy()].reset_index(drop=True)
    if merged.empty:
        raise SourceError(
            f"{ticker}: {source.describe()} has no daily bars between {start} and {end}; check the symbol and the dates"
        )
    validate_candles(merged, f"{ticker} ({path})")
    if fetched is not None or len(merged) != len(existing) or meta.get("start") != start.isoformat():
        new_meta = {"ticker": ticker, "source": source.name, "start": start.isoformat()}
        history = [*meta.get("restatements", []), *([restated] if restated else [])]
        if history:
            new_meta["restatements"] = history
        write_parquet(merged, path, meta=new_meta)
    first, last = session_dates(merged["timestamp"].iloc[[0, -1]])
    # Bars whose session was not stored before; a refetch replaces the file, so every bar counts, as at first.
    if mode.startswith(("incremental", "up to date")):
        added = int((~merged["timestamp"].isin(existing["timestamp"])).sum())
    else:
        added = len(merged)
    plan = step.plan.describe() if step is not None else None
    absent = step.absent if step is not None else ()
    return CandleUpdate(
        ticker, path, source.name, mode, len(merged), added, first, last, fetched, restated, plan, absent
    )


def rebuild_command(day: dt.date) -> str:
    """The one command that rewrites stored history deliberately (archiving what it replaces)."""
    return f"fin-pipeline rebuild --from {day}"


def truncation(ticker: str, stored: pd.Series, meta: dict, start: dt.date, end: dt.date) -> str | None:
    """What ``[start, end]`` would drop of a ticker's stored bars (``stored``: its first and last session), in
    words, or None: an end before the stored last bar, or a start after the stored history's start."""
    first, last = stored.iloc[0], stored.iloc[-1]
    if end < last:
        return (
            f"{ticker}: end {end} is earlier than the stored candles, which run to {last}: the bars after {end} "
            "would be dropped"
        )
    stored_start = dt.date.fromisoformat(meta["start"]) if "start" in meta else first
    if start > stored_start and start > first:
        return (
            f"{ticker}: start {start} is later than the stored candles, which begin on {first}: the bars before "
            f"{start} would be dropped"
        )
    return None


def keep_stored_bars(stored: pd.DataFrame, new: pd.DataFrame) -> tuple[pd.DataFrame, dict | None]:
    """``new`` with every session that matches a stored bar within ``RESTATEMENT_RTOL`` (every compared column;
    missing values equal) replaced by the stored bar, and the restatement: the sessions beyond it (None: none)."""
    old = stored.set_index("timestamp")
    common = new["timestamp"].isin(old.index).to_numpy()
    same = np.zeros(len(new), dtype=bool)
    if common.any():
        was = old.loc[new.loc[common, "timestamp"]]
        ok = np.ones(int(common.sum()), dtype=bool)
        for column in COMPARED:
            a = pd.to_numeric(was[column], errors="coerce").to_numpy(np.float64)
            b = pd.to_numeric(new.loc[common, column], errors="coerce").to_numpy(np.float64)
            ok &= np.isclose(a, b, rtol=RESTATEMENT_RTOL, atol=0.0) | (np.isnan(a) & np.isnan(b))
        same[np.flatnonzero(common)[ok]] = True
    kept = pd.concat([stored[stored["timestamp"].isin(new["timestamp"][same])], new[~same]], ignore_index=True)
    kept = kept.sort_values("timestamp", ignore_index=True)
    changed = common & ~same
    if not changed.any():
        return kept, None
    days = session_dates(new.loc[changed, "timestamp"])
    seen = session_dates(stored["timestamp"].iloc[[-1]]).iloc[0]
    restated = {"first": str(days.min()), "last": str(days.max()), "bars": int(changed.sum()), "seen": str(seen)}
    return kept, restated


def _refetch_reason(existing: pd.DataFrame | None, meta: dict, source: CandleSource, start: dt.date) -> str | None:
    if existing is None:
        return None
    if existing.empty:
        return "stored file has no rows"
    if meta.get("source") != source.name:
        return f"stored candles came from source {meta.get('source')!r}, now {source.name!r}"
    stored_start = dt.date.fromisoformat(meta["start"]) if "start" in meta else None
    if stored_start is None or start < stored_start:
        return f"history start moved earlier, to {start} (stored from {stored_start})"
    return None


def _sentinel_changed(existing: pd.DataFrame, new: pd.DataFrame, last: dt.date) -> str | None:
    """Compare the stored last bar with the same bar fetched again."""
    again = new[(session_dates(new["timestamp"]) == last).to_numpy()]
    if again.empty:
        return f"the source no longer has the stored last bar of {last}"
    old_close, new_close = float(existing["close"].iloc[-1]), float(again["close"].iloc[0])
    if not np.isclose(old_close, new_close, rtol=SENTINEL_RTOL, atol=0.0):
        return f"close of {last} changed from {old_close} to {new_close} (history re-adjusted)"
    return None
