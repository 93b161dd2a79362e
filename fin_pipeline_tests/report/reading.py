"""Reading a report as a person would: a Markdown table of ``report.md`` or a plain-text table of the CLI back into
cells, and a shown number (4 significant digits) against a value computed another way."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd


def markdown_table(text: str, heading: str) -> pd.DataFrame:
    """The cells (strings) of the first Markdown table under the ``## heading...`` line, first column as index."""
    lines = text[text.index(f"## {heading}") :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    header, body = rows[0], rows[2:]  # rows[1] is the |---| rule
    return pd.DataFrame(body, columns=header).set_index(header[0])


def text_table(text: str, heading: str) -> pd.DataFrame:
    """The cells of the plain-text table under the line ``heading`` (columns two or more spaces apart, a rule of
    dashes under the header), first column as index. Cells are cut at the rule's column boundaries."""
    lines = text[text.index(heading) :].splitlines()
    start = next(i for i, line in enumerate(lines) if i > 0 and line.strip())
    header, rule = lines[start], lines[start + 1]
    spans = [m.span() for m in re.finditer(r"-+", rule)]
    rows = []
    for line in [header, *lines[start + 2 :]]:
        if not line.strip():
            break
        cells = []
        for k, (a, _) in enumerate(spans):
            end = spans[k + 1][0] if k + 1 < len(spans) else len(line)
            cells.append(line[a:end].strip())
        rows.append(cells)
    return pd.DataFrame(rows[1:], columns=rows[0]).set_index(rows[0][0])


def shows(cell: str, value: float) -> bool:
    """Whether a table cell (4 significant digits, whole numbers ≥ 1 as integers) shows ``value``."""
    shown = float(cell)
    if value == 0:
        return shown == 0
    if float(value).is_integer() and abs(value) >= 1:
        return shown == value
    last_digit = 10.0 ** (math.floor(math.log10(abs(value))) - 3)
    return abs(shown - value) <= 0.5 * last_digit * (1 + 1e-9)


def daily_ic(predictions: pd.DataFrame, column: str = "model") -> float:
    """Mean over days of the Pearson correlation across the day's tickers of ``column`` and ``target`` (np.corrcoef),
    days with a constant prediction or target left out."""
    ics = []
    for _, day in predictions.groupby("date"):
        p, y = day[column].to_numpy(np.float64), day["target"].to_numpy(np.float64)
        if len(p) > 1 and np.ptp(p) > 0 and np.ptp(y) > 0:
            ics.append(np.corrcoef(p, y)[0, 1])
    return float(np.mean(ics))
