"""NYSE trading sessions, from ``exchange_calendars`` (holidays and unscheduled closures included), and the
calendar periods (month, quarter, half, year) that anchor the walk-forward folds' test blocks."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence

import pandas as pd

NEW_YORK = "America/New_York"

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


def session_opens(days) -> pd.Series:
    """The opening time (UTC, tz-aware) of each NYSE session in ``days``, indexed by the session date (naive);
    NaT for a day that is not a session."""
    index = pd.DatetimeIndex(pd.to_datetime(list(days))).normalize().as_unit("ns")
    if not len(index):
        return pd.Series([], index=index, dtype="datetime64[ns, UTC]")
    cal = _xnys(max(index.max().year, dt.date.today().year + 1))
    opens = pd.Series(cal.opens.to_numpy(), index=pd.DatetimeIndex(cal.sessions).as_unit("ns"))
    return pd.to_datetime(opens.reindex(index), utc=True)


# The default first test period: about 12 quarterly folds up to late 2026 (the README's settings table).
DEFAULT_FIRST_TEST_DATE = dt.date(2024, 1, 1)
PERIODS = {"month": 1, "quarter": 3, "half": 6, "year": 12}  # months per test period
# Dagster cron schedules whose ticks are the period starts (time-window partitions of the folds).
PERIOD_CRONS = {
    "month": "0 0 1 * *",
    "quarter": "0 0 1 1,4,7,10 *",
    "half": "0 0 1 1,7 *",
    "year": "0 0 1 1 *",
}


def check_period(period: str) -> str:
    if period not in PERIODS:
        raise ValueError(f"period must be one of {list(PERIODS)}, got {period!r}")
    return period


def period_start(day: dt.date, period: str) -> dt.date:
    """The first calendar day of the ``period`` (month, quarter, half, year) that contains ``day``."""
    months = PERIODS[check_period(period)]
    return dt.date(day.year, (day.month - 1) // months * months + 1, 1)


def next_period_start(start: dt.date, period: str) -> dt.date:
    """The first day of the period after the one that contains ``start``."""
    first = period_start(start, period)
    month = first.month - 1 + PERIODS[period]
    return dt.date(first.year + month // 12, month % 12 + 1, 1)


def check_first_test_date(first_test_date: dt.date, period: str) -> dt.date:
    """``first_test_date`` must be the first day of a ``period`` (e.g. 2024-01-01 or 2024-04-01 for quarters)."""
    if period_start(first_test_date, period) != first_test_date:
        raise ValueError(
            f"first_test_date={first_test_date} is not the first day of a {period} "
            f"(e.g. {period_start(first_test_date, period)})"
        )
    return first_test_date


def session_timestamps(dates: Sequence[dt.date] | pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Session dates → their start (midnight New York) as tz-aware UTC timestamps."""
    naive = pd.DatetimeIndex(pd.to_datetime(dates)).normalize()
    if naive.tz is not None:
        naive = naive.tz_localize(None)
    return naive.tz_localize(NEW_YORK).tz_convert("UTC").as_unit("ns")


def session_dates(timestamps: pd.Series | pd.DatetimeIndex) -> pd.Series:
    """Inverse of :func:`session_timestamps`: the New York calendar date of each bar."""
    ts = pd.Series(pd.DatetimeIndex(timestamps)) if not isinstance(timestamps, pd.Series) else timestamps
    return ts.dt.tz_convert(NEW_YORK).dt.date
