"""The one interface every candle source implements, and the ``raw_candles`` schema.

A source returns the daily bars of one ticker between two session dates (inclusive) as a DataFrame with
exactly these columns, sorted by time, one row per trading session:

=============  ============================  ====================================================
column         dtype                         meaning
=============  ============================  ====================================================
timestamp      datetime64[ns, UTC]           start of the session: midnight New York time, in UTC
                                             (Polygon's convention: 05:00Z in winter, 04:00Z in
                                             summer), so all three sources agree to the nanosecond
open/high/     float64                       prices, split-adjusted where the source adjusts; an open
low/close                                    may be NaN (a *missing open*, also what a vendor's 0
                                             becomes): that day is not traded at the open
volume         float64                       shares traded (Polygon may send fractional volume)
vwap           float64                       volume-weighted average price; NaN where the source
                                             has none (vendor CSV files)
transactions   Int64 (nullable)              number of trades; <NA> where the source has none
=============  ============================  ====================================================

Nothing here imports dagster: a notebook can use the sources directly.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd

from fin_pipeline.core.calendar import NEW_YORK, session_dates, session_timestamps  # noqa: F401  (re-exported)
from fin_pipeline.sources.errors import CandleError
from fin_pipeline.sources.plausibility import check_plausible

RAW_COLUMNS: tuple[str, ...] = ("timestamp", "open", "high", "low", "close", "volume", "vwap", "transactions")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
# Columns that must never be missing; vwap and transactions are optional by source.
REQUIRED_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume")
_FLOAT_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume", "vwap")
# Relative slack in the OHLC ordering test: absorbs float round-off in adjusted prices, nothing more.
OHLC_RTOL = 1e-9


class SourceError(RuntimeError):
    """A source could not deliver candles (network, API or configuration); the message names the ticker.

    ``transient`` says whether trying again later may help (a timeout, a 503 after retries) or not (a 403, a
    malformed body, a missing file); orchestration retries only the transient ones.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class CandleSource(abc.ABC):
    """Fetches the daily candles of one ticker."""

    #: Short name recorded in metadata and in the Parquet file (``synthetic``, ``polygon``, ``csv``).
    name: str

    @abc.abstractmethod
    def fetch(self, ticker: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Daily bars of ``ticker`` whose session date lies in ``[start, end]``, in the raw_candles schema.

        An empty range gives an empty frame with the schema, not an error. Implementations validate what
        they return with :func:`validate_candles`.
        """

    def describe(self) -> str:
        """One line for logs and metadata; never contains a secret."""
        return self.name


def empty_candles() -> pd.DataFrame:
    """A frame with the raw_candles schema and no rows."""
    return to_raw_schema(pd.DataFrame({c: [] for c in RAW_COLUMNS}))


def to_raw_schema(df: pd.DataFrame) -> pd.DataFrame:
    """Select the schema's columns in order with the schema's dtypes (adds missing optional columns)."""
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    # Converting the Series itself (not .to_numpy(), which boxes tz-aware values as objects) stays vectorised.
    ts = pd.to_datetime(pd.Series(df["timestamp"]).reset_index(drop=True), utc=True)
    out["timestamp"] = ts.dt.as_unit("ns")
    for col in _FLOAT_COLUMNS:
        values = df[col].to_numpy() if col in df else np.full(len(df), np.nan)
        out[col] = np.asarray(values, dtype="float64")
    # An open of exactly 0 is a vendor's "no open" (no trade before the first print): a missing open, NaN.
    out.loc[out["open"] == 0, "open"] = np.nan
    trans = df["transactions"].to_numpy() if "transactions" in df else np.full(len(df), np.nan)
    out["transactions"] = pd.Series(pd.to_numeric(trans, errors="coerce"), dtype="float64").round().astype("Int64")
    return out


def candle_problems(df: pd.DataFrame) -> dict[str, list[int]]:
    """Positions (0-based) of the rows that break each rule; empty lists when the frame is sound.

    Rules: ``timestamps_unique_increasing``, ``no_nan`` (in high/low/close/volume; an open may be NaN, a
    *missing open*, but not infinite),
    ``prices_positive``, ``volume_non_negative``, ``ohlc_consistent``
    (low ≤ min(open, close) ≤ max(open, close) ≤ high).
    """
    ts = pd.DatetimeIndex(df["timestamp"])
    diffs = np.diff(ts.asi8) if len(ts) > 1 else np.array([], dtype="int64")
    not_increasing = (np.flatnonzero(diffs <= 0) + 1).tolist()

    values = {c: df[c].to_numpy(dtype="float64") for c in REQUIRED_COLUMNS}
    nan_rows = np.zeros(len(df), dtype=bool)
    for c in REQUIRED_COLUMNS:
        # a missing open (NaN) is allowed: that day is not traded at the open (sources/execution.py)
        nan_rows |= np.isinf(values[c]) if c == "open" else ~np.isfinite(values[c])
    o, h, lo, c = (values[k] for k in PRICE_COLUMNS)
    with np.errstate(invalid="ignore"):
        nonpositive = (o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0)
        negative_volume = values["volume"] < 0
        slack = OHLC_RTOL * np.abs(h)
        body_lo, body_hi = np.fmin(o, c), np.fmax(o, c)  # a missing open: the body is the close
        inconsistent = (lo > body_lo + slack) | (body_hi > h + slack) | (lo > h + slack)
    finite = ~nan_rows
    return {
        "timestamps_unique_increasing": not_increasing,
        "no_nan": np.flatnonzero(nan_rows).tolist(),
        "prices_positive": np.flatnonzero(nonpositive & finite).tolist(),
        "volume_non_negative": np.flatnonzero(negative_volume & finite).tolist(),
        "ohlc_consistent": np.flatnonzero(inconsistent & finite).tolist(),
    }


_RULE_TEXT = {
    "timestamps_unique_increasing": "timestamp is not after the previous row's (duplicate or unsorted date)",
    "no_nan": "missing or non-finite value in high/low/close/volume, or an infinite open",
    "prices_positive": "non-positive price",
    "volume_non_negative": "negative volume",
    "ohlc_consistent": "OHLC inconsistent (need low <= min(open, close) <= max(open, close) <= high)",
}


def validate_candles(
    df: pd.DataFrame, where: str, row_names: Sequence[str] | None = None, *, plausible: bool = True
) -> None:
    """Raise :class:`CandleError` at the first broken rule, naming ``where`` (ticker or file) and the row.

    ``row_names`` labels each row in the message (a CSV reader passes ``"line 7"``); by default a row is
    named by its session date. After the schema rules come the plausibility rules of
    :mod:`fin_pipeline.sources.plausibility` (sessions, one bar per session, sane prices, no unexplained
    jumps); ``plausible=False`` skips them (for a check of the schema alone).
    """
    missing = [c for c in RAW_COLUMNS if c not in df.columns]
    if missing:
        raise CandleError(f"{where}: missing column(s) {missing}")
    for rule, rows in candle_problems(df).items():
        if not rows:
            continue
        first = rows[0]
        label = row_names[first] if row_names is not None else str(session_dates(df["timestamp"].iloc[[first]]).iloc[0])
        more = f" (and {len(rows) - 1} more row(s))" if len(rows) > 1 else ""
        raise CandleError(f"{where}: {label}: {_RULE_TEXT[rule]}{more}")
    if plausible:
        check_plausible(df, where, row_names)
