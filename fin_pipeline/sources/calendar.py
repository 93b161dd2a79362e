"""NYSE trading sessions, from ``exchange_calendars`` (holidays and unscheduled closures included)."""

from __future__ import annotations

import datetime as dt
import functools

import pandas as pd

# exchange_calendars builds a calendar between two bounds; one covering every date we can be asked for
# is built once per process (~0.1 s) and cached.
CALENDAR_START = dt.date(1990, 1, 1)


@functools.cache
def _xnys(end_year: int):
    import exchange_calendars as xcals  # imported lazily: ~0.4 s, only sources need it

    return xcals.get_calendar("XNYS", start=CALENDAR_START.isoformat(), end=f"{end_year}-12-31")


def nyse_sessions(start: dt.date, end: dt.date) -> pd.DatetimeIndex:
    """NYSE session dates in ``[start, end]`` as a naive, midnight-normalised DatetimeIndex."""
    start, end = pd.Timestamp(start).date(), pd.Timestamp(end).date()
    if start > end:
        return pd.DatetimeIndex([], dtype="datetime64[ns]")
    if start < CALENDAR_START:
        raise ValueError(f"NYSE calendar starts on {CALENDAR_START}; asked for sessions from {start}")
    cal = _xnys(max(end.year, dt.date.today().year + 1))
    sessions = pd.DatetimeIndex(cal.sessions).as_unit("ns")
    lo, hi = sessions.searchsorted(pd.Timestamp(start)), sessions.searchsorted(pd.Timestamp(end), side="right")
    return sessions[lo:hi]
