"""Daily candles from a folder of vendor CSV exports, one file per ticker.

``{directory}/{TICKER}.csv`` (a lower-case ``aapl.csv`` is found too) in the common vendor export format::

    Date,Open,High,Low,Close,Adj Close,Volume
    2020-01-02,74.06,75.15,73.80,75.09,73.41,135480400

Header names are case-insensitive, surrounding whitespace is ignored, ``Adj Close``/``adj_close``/
``AdjClose`` are the same column, and unknown extra columns are ignored. ``Adj Close`` is optional.

``Adj Close`` handling: when the column is present the bars are split/dividend-adjusted like Polygon's
``adjusted=true``: with ``factor = adj_close / close`` the open, high and low are multiplied by ``factor``,
the close becomes ``adj_close`` and the volume is *divided* by ``factor`` (a 2:1 split halves the adjusted
prices of the bars before it and doubles their share volume). Without the column the raw prices are used.

The vendor gives no VWAP and no trade count: ``vwap`` is NaN and ``transactions`` is <NA>; nothing is
invented. Dates are taken as New York session dates (a time of day or a UTC offset in the value is
converted to New York first). Slashed dates are read as MM/DD/YYYY or DD/MM/YYYY when only one of them fits
every row; a file where both fit is ambiguous and refused unless ``FIN_PIPELINE_CSV_DATE_FORMAT`` states the
format. The plausibility rules of :mod:`fin_pipeline.sources.plausibility` apply too (NYSE sessions only, sane
prices, no unexplained jumps), each refusal naming the line.

A broken file is never repaired silently: every problem raises :class:`CandleError` naming the file, the
line (the header is line 1) and the offending value — unreadable text, no rows, a missing column, a row
with the wrong number of fields, an unparsable date or number, a missing value, a duplicate date (both
lines), dates that go backwards (the file is not sorted, so it is corrupt: it is not re-sorted), a
non-positive price, ``high < low`` or a body outside ``[low, high]``. One exception: an empty (or ``NaN``)
or 0 ``Open`` is a *missing open*, kept as NaN: that day is not traded under the ``next_open`` execution and
is counted (:mod:`fin_pipeline.sources.execution`); a file without an ``Open`` column is refused. A ticker
without a file raises :class:`SourceError` naming the path looked for.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd

from fin_pipeline.sources.base import (
    NEW_YORK,
    CandleError,
    CandleSource,
    SourceError,
    candle_problems,
    empty_candles,
    session_timestamps,
    to_raw_schema,
    validate_candles,
)
from fin_pipeline.sources.csv_table import VendorTable, parse_dates, parse_numbers, read_table

_TICKER_RE = re.compile(r"[A-Za-z0-9.\-]+")


class CsvDirectorySource(CandleSource):
    """Reads ``{directory}/{TICKER}.csv`` vendor exports (see the module docstring for format and checks)."""

    name = "csv"

    def __init__(self, directory: str | Path, date_format: str | None = None) -> None:
        self.directory = Path(directory).expanduser()
        self.date_format = date_format or None

    def describe(self) -> str:
        return f"csv ({self.directory})"

    def path_for(self, ticker: str) -> Path:
        """The file holding ``ticker``: ``TICKER.csv``, else ``ticker.csv``; :class:`SourceError` if neither."""
        if not isinstance(ticker, str) or not _TICKER_RE.fullmatch(ticker):
            raise CandleError(f"csv: invalid ticker {ticker!r}: need a non-empty symbol of letters, digits, '.' or '-'")
        if not self.directory.is_dir():
            raise SourceError(f"csv {ticker}: directory {self.directory} does not exist (or is not a folder)")
        names = list(dict.fromkeys([f"{ticker}.csv", f"{ticker.upper()}.csv", f"{ticker.lower()}.csv"]))
        for name in names:
            path = self.directory / name
            if path.is_file():
                return path
        looked = " or ".join(str(self.directory / n) for n in names)
        raise SourceError(f"csv {ticker}: no file for the ticker: looked for {looked}")

    def fetch(self, ticker: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        path = self.path_for(ticker)
        df = read_vendor_csv(path, self.date_format)
        start, end = pd.Timestamp(start).date(), pd.Timestamp(end).date()
        if start > end or df.empty:
            return empty_candles()
        dates = pd.Series(df["timestamp"]).dt.tz_convert(NEW_YORK).dt.tz_localize(None)
        keep = ((dates >= pd.Timestamp(start)) & (dates <= pd.Timestamp(end))).to_numpy()
        return df.loc[keep].reset_index(drop=True)


def read_vendor_csv(path: str | Path, date_format: str | None = None) -> pd.DataFrame:
    """Every bar of one vendor file in the raw_candles schema; :class:`CandleError` for any flaw in it.

    ``date_format`` (a ``strptime`` format) states how the Date column is written; see :func:`parse_dates`.
    """
    path = Path(path)
    table = read_table(path)
    where = str(path)
    lines = table.lines
    dates = parse_dates(table, where, date_format)
    values = parse_numbers(table, where)

    _check_order(dates, lines, where)

    raw = pd.DataFrame(
        {
            "timestamp": session_timestamps(pd.DatetimeIndex(dates)),
            **{k: values[k] for k in ("open", "high", "low", "close", "volume")},
        }
    )
    row_names = [f"line {n}" for n in lines]
    _validate(to_raw_schema(raw), where, row_names, table, plausible=False)  # raw prices: high < low, non-positive, ...

    if "adj_close" in values:
        adj = values["adj_close"]
        bad = np.flatnonzero(adj <= 0)
        if len(bad):
            i = bad[0]
            raise CandleError(
                f"{where}: line {lines[i]}: non-positive price {table.columns['adj_close'][i]!r} "
                f"in column {table.source_names['adj_close']!r}"
            )
        factor = adj / values["close"]
        raw["open"] = values["open"] * factor
        raw["high"] = values["high"] * factor
        raw["low"] = values["low"] * factor
        raw["close"] = adj
        raw["volume"] = values["volume"] / factor

    df = to_raw_schema(raw)  # vwap NaN, transactions <NA>: the vendor has neither
    validate_candles(df, where=where, row_names=row_names)
    return df


def _check_order(dates: np.ndarray, lines: np.ndarray, where: str) -> None:
    """Dates must strictly increase: a repeat or a step back means a corrupt file (never re-sorted here)."""
    if len(dates) < 2:
        return
    steps = np.flatnonzero(dates[1:] <= dates[:-1])
    if not len(steps):
        return
    i = int(steps[0]) + 1
    day = pd.Timestamp(dates[i]).date()
    earlier = np.flatnonzero(dates[:i] == dates[i])
    if len(earlier):
        raise CandleError(f"{where}: line {lines[i]}: duplicate date {day} (also on line {lines[earlier[0]]})")
    prev = pd.Timestamp(dates[i - 1]).date()
    raise CandleError(
        f"{where}: line {lines[i]}: date {day} goes backwards (line {lines[i - 1]} is {prev}): "
        "the file is not sorted by date"
    )


def _validate(frame: pd.DataFrame, where: str, row_names: list[str], table: VendorTable, plausible: bool) -> None:
    """:func:`validate_candles`, with the offending row's values added to the message."""
    try:
        validate_candles(frame, where=where, row_names=row_names, plausible=plausible)
    except CandleError as exc:
        first = next((rows[0] for rows in candle_problems(frame).values() if rows), None)
        if first is None:
            raise
        shown = ", ".join(
            f"{table.source_names[k]}={table.columns[k][first]}" for k in ("open", "high", "low", "close", "volume")
        )
        raise CandleError(f"{exc} [{shown}]") from None
