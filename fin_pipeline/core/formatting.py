"""Tables and numbers for people: one formatting of a value, as Markdown (UI metadata, report.md) or plain text (CLI).

Floats get 4 significant digits (whole numbers ≥ 1 print as integers), dates YYYY-MM-DD, and an undefined value
(NaN, NaT, None) reads "undefined", never a made-up 0. A statistic shown beside the number of days it was
computed on reads "n/a (n days)" where it is undefined on fewer days than the statistics need
(:func:`~fin_pipeline.core.limits.days_needed`; :func:`with_days`): a new fold's first test days are too
few for a bootstrap interval or a Newey–West test, and the table says so instead of failing. On enough days an
undefined statistic (a constant series) reads "undefined".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fin_pipeline.core.limits import days_needed


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


def not_available(n_days: float) -> str:
    """``n/a (n days)``: a statistic that the n days there are do not define."""
    n = int(n_days) if n_days == n_days else 0
    return f"n/a ({n} day{'' if n == 1 else 's'})"


def undefined_stat(n_days: float, horizon: int = 1) -> str:
    """Why a statistic of n days is undefined: ``n/a (n days)`` below the days the statistics need, else
    ``undefined`` (a series without variation)."""
    return not_available(n_days) if not n_days >= days_needed(horizon) else format_value(float("nan"))


def format_stat(value: object, n_days: float, horizon: int = 1) -> str:
    """:func:`format_value`, or :func:`undefined_stat` for an undefined statistic of n days."""
    if value is None or (isinstance(value, float | np.floating) and value != value):
        return undefined_stat(n_days, horizon)
    return format_value(value)


def with_days(df: pd.DataFrame, n_days: pd.Series | float, columns: list[str], horizon: int = 1) -> pd.DataFrame:
    """``df`` for display: the undefined values of ``columns`` as :func:`undefined_stat` (``n/a (n days)`` on too
    few days), n per row (``n_days``, a column or one number). The stored tables keep NaN; only what a person reads
    changes."""
    out = df.astype({c: object for c in columns if c in df.columns})
    days = n_days if isinstance(n_days, pd.Series) else pd.Series(n_days, index=df.index)
    for column in columns:
        if column in out.columns:
            undefined = df[column].isna()
            out.loc[undefined, column] = [undefined_stat(n, horizon) for n in days[undefined]]
    return out


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


def missed_line(missed: dict[str, str]) -> str:
    """The sessions without an on-time forecast in one line (the CLI, the report, the run log)."""
    if not missed:
        return "no missed session: every session since the first forecast had one made before its open"
    return f"{len(missed)} missed session(s), no on-time forecast: " + "; ".join(
        f"{day} ({why})" for day, why in missed.items()
    )


def missed_markdown(missed: dict[str, str]) -> str:
    """The missed sessions as a Markdown table (or the one line saying there is none)."""
    if not missed:
        return missed_line(missed)
    return markdown_table(pd.DataFrame({"session": list(missed), "why": list(missed.values())}))
