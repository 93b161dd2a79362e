"""Incremental, atomic update of one ticker's stored candles: what the ``raw_candles`` asset does.

When the ticker's Parquet file exists and came from the same source, only the days after its last bar are
fetched (plus that last bar again, as a sentinel), merged and de-duplicated: a nightly refresh asks for days,
not decades. The history is fetched whole instead when there is no file, when the file came from another
source, when the history start moved earlier, or when the sentinel bar changed — with ``adjusted=true`` a
split or dividend re-adjusts every earlier price, and merging new adjusted bars onto old ones would plant a
fake jump in the series.

Nothing is written unless the merged series passes :func:`validate_candles`; the write is atomic.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from fin_pipeline.sources.base import CandleSource, SourceError, session_dates, validate_candles
from fin_pipeline.storage import read_parquet, write_parquet

# Relative change of the sentinel bar's close that counts as a re-adjusted history.
SENTINEL_RTOL = 1e-6


@dataclasses.dataclass(frozen=True)
class CandleUpdate:
    """What an update did; the asset turns it into Dagster metadata."""

    ticker: str
    path: Path
    source: str
    mode: str  # "full", "incremental", "up to date" or "refetch: <reason>"
    rows: int
    rows_added: int
    first_date: dt.date
    last_date: dt.date
    fetched: tuple[dt.date, dt.date] | None  # the range asked of the source; None when nothing was asked


def update_candles(source: CandleSource, ticker: str, path: Path, start: dt.date, end: dt.date) -> CandleUpdate:
    """Bring ``path`` up to date with ``source`` for sessions in ``[start, end]``; see the module docstring."""
    path = Path(path)
    existing, meta = read_parquet(path) if path.exists() else (None, {})
    reason = _refetch_reason(existing, meta, source, start)
    fetched: tuple[dt.date, dt.date] | None = None

    if existing is not None and reason is None:
        last = session_dates(existing["timestamp"].iloc[[-1]]).iloc[0]
        if last >= end:
            merged, mode = existing, "up to date"
        else:
            fetched = (last, end)
            new = source.fetch(ticker, last, end)
            reason = _sentinel_changed(existing, new, last)
            if reason is None:
                merged = pd.concat([existing, new], ignore_index=True)
                merged = merged.drop_duplicates("timestamp", keep="last").sort_values("timestamp")
                mode = "incremental"
    if existing is None or reason is not None:
        fetched = (start, end)
        merged = source.fetch(ticker, start, end)
        mode = "full" if existing is None else f"refetch: {reason}"

    dates = session_dates(merged["timestamp"])
    merged = merged[((dates >= start) & (dates <= end)).to_numpy()].reset_index(drop=True)
    if merged.empty:
        raise SourceError(
            f"{ticker}: {source.describe()} has no daily bars between {start} and {end}; check the symbol and the dates"
        )
    validate_candles(merged, f"{ticker} ({path})")
    if fetched is not None or len(merged) != len(existing) or meta.get("start") != start.isoformat():
        write_parquet(merged, path, meta={"ticker": ticker, "source": source.name, "start": start.isoformat()})
    first, last = session_dates(merged["timestamp"].iloc[[0, -1]])
    # Bars whose session was not stored before; a refetch replaces the file, so every bar counts, as at first.
    if mode in ("incremental", "up to date"):
        added = int((~merged["timestamp"].isin(existing["timestamp"])).sum())
    else:
        added = len(merged)
    return CandleUpdate(ticker, path, source.name, mode, len(merged), added, first, last, fetched)


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
