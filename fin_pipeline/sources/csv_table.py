"""The text of a vendor CSV file: its header, its cells per known column, each row's line, and the dates and
numbers parsed from them; :class:`CandleError` naming the file, the line and the value at the first flaw.

:mod:`fin_pipeline.sources.csv_dir` states the format and turns the parsed columns into candles.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fin_pipeline.sources.base import NEW_YORK, CandleError, SourceError

# Normalised header name -> our name. Normalising lower-cases and drops whitespace and underscores.
_REQUIRED = {"date": "date", "open": "open", "high": "high", "low": "low", "close": "close", "volume": "volume"}
_OPTIONAL = {"adjclose": "adj_close"}
_NUMERIC = ("open", "high", "low", "close", "adj_close", "volume")


def _normalise(name: str) -> str:
    return re.sub(r"[\s_]+", "", name.strip().lower())


@dataclass
class VendorTable:
    """The text of a vendor file: header names, one string array per known column, each row's line."""

    header: list[str]
    header_line: int
    columns: dict[str, np.ndarray]  # our name -> stripped strings
    source_names: dict[str, str]  # our name -> the name in the file
    lines: np.ndarray  # line number of each row (header is line 1)


def read_table(path: Path) -> VendorTable:
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
    return VendorTable(
        header=header,
        header_line=header_line,
        columns=columns,
        source_names={ours: header[i] for ours, i in found.items()},
        lines=np.asarray(lines, dtype=np.int64),
    )


def parse_dates(table: VendorTable, where: str, date_format: str | None = None) -> np.ndarray:
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
        value = str(table.columns["date"][i])
        raise CandleError(
            f"{where}: line {table.lines[i]}: unparsable date {value!r}{stated} "
            f"in column {table.source_names['date']!r}{more}; {_format_advice(value, date_format)}"
        )
    if parsed.dt.tz is not None:
        parsed = parsed.dt.tz_convert(NEW_YORK).dt.tz_localize(None)
    return parsed.dt.normalize().to_numpy(dtype="datetime64[ns]")


def _format_advice(value: str, date_format: str | None) -> str:
    """The one setting that reads such a file: ``FIN_PIPELINE_CSV_DATE_FORMAT``, with the formats that fit a
    day-month-year value written with another separator (``31-12-2020``, ``31.12.2020``)."""
    found = re.fullmatch(r"\d{1,2}([-./ ])\d{1,2}\1\d{4}", value.strip())
    fits = f" (e.g. %d{found[1]}%m{found[1]}%Y or %m{found[1]}%d{found[1]}%Y)" if found else " (a strptime format)"
    now = f", now {date_format!r}," if date_format else ""
    return f"state how the file writes its dates with FIN_PIPELINE_CSV_DATE_FORMAT{now}{fits}"


def _to_datetime(text: pd.Series, fmt: str) -> pd.Series:
    try:
        return pd.to_datetime(text, format=fmt, errors="coerce")
    except (ValueError, TypeError):  # e.g. mixed UTC offsets: compare them in UTC
        return pd.to_datetime(text, format=fmt, errors="coerce", utc=True)


def parse_numbers(table: VendorTable, where: str) -> dict[str, np.ndarray]:
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
