"""Tables and numbers for people: one formatting of a value, as Markdown (UI metadata, report.md) or plain text (CLI).

Floats get 4 significant digits (whole numbers ≥ 1 print as integers), dates YYYY-MM-DD, and an undefined value
(NaN, NaT, None) reads "undefined", never a made-up 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def format_value(value: object) -> str:
    """One table cell (see the module docstring)."""
    if value is None or value is pd.NaT:
        return "undefined"
    if isinstance(value, pd.Timestamp | np.datetime64):
        return f"{pd.Timestamp(value):%Y-%m-%d}"
    if isinstance(value, float | np.floating):
        if value != value:
            return "undefined"
        return f"{int(value)}" if float(value).is_integer() and abs(value) >= 1 else f"{value:.4g}"
    return str(value)


def _frame(df: pd.DataFrame) -> pd.DataFrame:
    """A named or non-default index becomes the first column."""
    if df.index.name is not None or not isinstance(df.index, pd.RangeIndex):
        return df.reset_index()
    return df


def markdown_table(df: pd.DataFrame) -> str:
    """``df`` as a Markdown table (Dagster metadata and the report)."""
    df = _frame(df)
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(format_value(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def text_table(df: pd.DataFrame) -> str:
    """``df`` as aligned plain-text columns with a rule under the header (the CLI)."""
    df = _frame(df)
    cells = [list(map(str, df.columns)), *[[format_value(v) for v in row] for row in df.itertuples(index=False)]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(df.columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
