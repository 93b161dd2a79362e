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

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass
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

_TICKER_RE = re.compile(r"[A-Za-z0-9.\-]+")
# Normalised header name -> our name. Normalising lower-cases and drops whitespace and underscores.
_REQUIRED = {"date": "date", "open": "open", "high": "high", "low": "low", "close": "close", "volume": "volume"}
_OPTIONAL = {"adjclose": "adj_close"}
_NUMERIC = ("open", "high", "low", "close", "adj_close", "volume")


def _normalise(name: str) -> str:
    return re.sub(r"[\s_]+", "", name.strip().lower())


@dataclass
class _Table:
    """The text of a vendor file: header names, one string array per known column, each row's line."""

    header: list[str]
    header_line: int
    columns: dict[str, np.ndarray]  # our name -> stripped strings
    source_names: dict[str, str]  # our name -> the name in the file
    lines: np.ndarray  # line number of each row (header is line 1)


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

    ``date_format`` (a ``strptime`` format) states how the Date column is written; see :func:`_parse_dates`.
    """
    path = Path(path)
    table = _read_table(path)
    where = str(path)
    lines = table.lines
    dates = _parse_dates(table, where, date_format)
    values = _parse_numbers(table, where)

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


def _read_table(path: Path) -> _Table:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SourceError(f"{path}: file not found") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read the file: {exc}") from exc
    if not data:
        raise CandleError(f"{path}: empty file (0 bytes): no rows")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CandleError(f"{path}: line {line}: not UTF-8 text (byte {data[exc.start]:#04x})") from None

    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    header_line = 0
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        for row in reader:
            if not any(field.strip() for field in row):
                continue  # blank line
            if header is None:
                header, header_line = [h.strip() for h in row], reader.line_num
            else:
                rows.append(row)
                lines.append(reader.line_num)
    except csv.Error as exc:
        raise CandleError(f"{path}: line {reader.line_num}: malformed CSV: {exc}") from None
    if header is None:
        raise CandleError(f"{path}: empty file (no header, no rows): no rows")

    found: dict[str, int] = {}
    for i, name in enumerate(header):
        key = _normalise(name)
        ours = _REQUIRED.get(key) or _OPTIONAL.get(key)
        if ours is None:
            continue  # unknown extra column
        if ours in found:
            raise CandleError(
                f"{path}: line {header_line}: column {name!r} appears twice (columns 1-based "
                f"{found[ours] + 1} and {i + 1}); columns found: {header}"
            )
        found[ours] = i
    missing = [ours for ours in _REQUIRED.values() if ours not in found]
    if missing:
        why = (
            " (the features read the open, and the default execution, FIN_PIPELINE_EXECUTION=next_open, trades at it)"
            if "open" in missing
            else ""
        )
        raise CandleError(
            f"{path}: line {header_line}: missing required column(s) {[m.title() for m in missing]}{why}; "
            f"columns found: {header}"
        )
    if not rows:
        raise CandleError(f"{path}: header only: no rows")

    width = len(header)
    for row, line in zip(rows, lines, strict=True):
        if len(row) != width and not (len(row) > width and not any(f.strip() for f in row[width:])):
            raise CandleError(f"{path}: line {line}: expected {width} fields like the header, found {len(row)}")

    columns = {
        ours: np.array([row[i].strip() if i < len(row) else "" for row in rows], dtype=object)
        for ours, i in found.items()
    }
    return _Table(
        header=header,
        header_line=header_line,
        columns=columns,
        source_names={ours: header[i] for ours, i in found.items()},
        lines=np.asarray(lines, dtype=np.int64),
    )


def _parse_dates(table: _Table, where: str, date_format: str | None = None) -> np.ndarray:
    """Session dates (naive, midnight) as datetime64[ns]; raises at the first unparsable value.

    Without ``date_format``: ISO dates, else slashed dates read as MM/DD/YYYY or DD/MM/YYYY when exactly one of
    the two fits every row. When both fit and read some row differently (every day is <= 12) the file is
    ambiguous and refused: set ``FIN_PIPELINE_CSV_DATE_FORMAT`` (e.g. ``%d/%m/%Y``) to state it.
    """
    text = pd.Series(table.columns["date"], dtype=object)
    if date_format:
        parsed = _to_datetime(text, date_format)
    else:
        parsed = _to_datetime(text, "ISO8601")
        if parsed.isna().any():
            us, eu = _to_datetime(text, "%m/%d/%Y"), _to_datetime(text, "%d/%m/%Y")
            us_ok, eu_ok = bool(us.notna().all()), bool(eu.notna().all())
            if us_ok and eu_ok:
                differ = np.flatnonzero((us != eu).to_numpy())
                if len(differ):
                    i = differ[0]
                    raise CandleError(
                        f"{where}: line {table.lines[i]}: ambiguous date {table.columns['date'][i]!r}: every date in "
                        f"the file reads both as MM/DD/YYYY ({us[i].date()}) and as DD/MM/YYYY ({eu[i].date()}); "
                        "state the format with FIN_PIPELINE_CSV_DATE_FORMAT (e.g. %d/%m/%Y or %m/%d/%Y)"
                    )
            if us_ok:
                parsed = us
            elif eu_ok:
                parsed = eu
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        i = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        stated = f" (format {date_format!r})" if date_format else ""
        raise CandleError(
            f"{where}: line {table.lines[i]}: unparsable date {table.columns['date'][i]!r}{stated} "
            f"in column {table.source_names['date']!r}{more}"
        )
    if parsed.dt.tz is not None:
        parsed = parsed.dt.tz_convert(NEW_YORK).dt.tz_localize(None)
    return parsed.dt.normalize().to_numpy(dtype="datetime64[ns]")


def _to_datetime(text: pd.Series, fmt: str) -> pd.Series:
    try:
        return pd.to_datetime(text, format=fmt, errors="coerce")
    except (ValueError, TypeError):  # e.g. mixed UTC offsets: compare them in UTC
        return pd.to_datetime(text, format=fmt, errors="coerce", utc=True)


def _parse_numbers(table: _Table, where: str) -> dict[str, np.ndarray]:
    """float64 arrays of the numeric columns; raises at the earliest line with a bad or missing value."""
    out: dict[str, np.ndarray] = {}
    first_problem: tuple[int, str] | None = None
    for ours in _NUMERIC:
        if ours not in table.columns:
            continue
        text = table.columns[ours]
        values = pd.to_numeric(pd.Series(text, dtype=object), errors="coerce").to_numpy(dtype="float64", copy=True)
        absent = np.zeros(len(values), dtype=bool)
        if ours == "open":  # an empty or 0 open is a missing open (NaN): that day is not traded at the open
            absent = _missing(text) | (values == 0)
            values[absent] = np.nan
        out[ours] = values
        bad = np.flatnonzero(~np.isfinite(values) & ~absent)
        if not len(bad):
            continue
        i = bad[0]
        raw = text[i]
        column = table.source_names[ours]
        if raw == "" or raw.lower() in _MISSING:
            problem = f"missing value {raw!r} in required column {column!r}"
        elif np.isnan(values[i]):
            problem = f"non-numeric value {raw!r} in column {column!r}"
        else:
            problem = f"non-finite value {raw!r} in column {column!r}"
        more = f" (and {len(bad) - 1} more row(s) in that column)" if len(bad) > 1 else ""
        if first_problem is None or table.lines[i] < first_problem[0]:
            first_problem = (int(table.lines[i]), problem + more)
    if first_problem is not None:
        raise CandleError(f"{where}: line {first_problem[0]}: {first_problem[1]}")
    return out


_MISSING = ("nan", "null", "none", "na", "n/a", "-")


def _missing(text: np.ndarray) -> np.ndarray:
    """Cells that say "no value" (empty, NaN, null, ...)."""
    return np.array([t == "" or t.lower() in _MISSING for t in text], dtype=bool)


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


def _validate(frame: pd.DataFrame, where: str, row_names: list[str], table: _Table, plausible: bool) -> None:
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
