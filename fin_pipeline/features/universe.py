"""Point-in-time universe membership: the rule (:mod:`fin_pipeline.core.universe_rule`) applied to the candidate
pool's candles as of a day, from data before that day only.

``activity_panel`` lays the rule's field out as one column per candidate and one row per session (NaN where the
stock has no bar: not listed yet, delisted, or a vendor hole). ``members_as_of(panel, D, rule)``:

1. the *lookback*: the ``rule.lookback`` (63) last sessions strictly before D (the days any candidate traded);
2. a candidate is *eligible* when it traded on the lookback's first and last session: listed through the whole
   quarter and still listed the day before D (one already delisted is gone; one listed inside the quarter has
   too little history to rank);
3. eligible candidates are ranked by the median of the field over their bars in the lookback, highest first
   (ties: the ticker's name), and the first ``rule.n`` kept. Fewer eligible than N: all of them.

Nothing on or after D enters: truncating the candles at D gives the same members. A member delisted inside the
fold's test block stays in that fold until its last bar; the next fold, ranked after its delisting, no longer has
it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from fin_pipeline.core.universe_rule import UniverseRule
from fin_pipeline.features.windows import WindowSet
from fin_pipeline.sources.base import NEW_YORK


def rule_values(candles: pd.DataFrame, field: str) -> np.ndarray:
    """The rule's field on each bar: ``close * volume`` (dollar_volume) or ``volume``."""
    volume = candles["volume"].to_numpy(dtype="float64")
    if field == "dollar_volume":
        return candles["close"].to_numpy(dtype="float64") * volume
    if field == "volume":
        return volume
    raise ValueError(f"unknown universe rule field {field!r}")


def activity_panel(candles: Mapping[str, pd.DataFrame], field: str) -> pd.DataFrame:
    """Sessions (naive dates, sorted) x candidates: the field's value on each bar, NaN where there is none."""
    tickers = list(candles)
    # each bar's New York session day, vectorised (sources.base.session_dates gives the same days as objects)
    days = [
        pd.DatetimeIndex(f["timestamp"]).tz_convert(NEW_YORK).tz_localize(None).normalize().to_numpy()
        for f in candles.values()
    ]
    index = np.unique(np.concatenate(days)) if days else np.array([], dtype="datetime64[ns]")
    values = np.full((len(index), len(tickers)), np.nan)  # one array, filled by position: no index alignment
    for column, (frame, own) in enumerate(zip(candles.values(), days, strict=True)):
        values[np.searchsorted(index, own), column] = rule_values(frame, field)
    return pd.DataFrame(values, index=pd.DatetimeIndex(index), columns=tickers)


def members_as_of(panel: pd.DataFrame, as_of: dt.date, rule: UniverseRule) -> list[str]:
    """The rule's members as of ``as_of``, best first (the module docstring gives the steps)."""
    stop = int(panel.index.searchsorted(pd.Timestamp(as_of)))  # the first session on or after as_of
    window = panel.iloc[max(stop - rule.lookback, 0) : stop]
    if window.empty:
        return []
    eligible = window.iloc[0].notna() & window.iloc[-1].notna()
    medians = window.loc[:, eligible].median(axis=0, skipna=True)
    ranked = sorted(medians.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return [str(ticker) for ticker, _ in ranked[: rule.n]]


def membership(
    panel: pd.DataFrame, as_of: dt.date, rule: UniverseRule, previous_as_of: dt.date | None = None
) -> dict[str, Any]:
    """What a fold stores of its universe: the rule, the day, the members (sorted), their count, and the churn
    against the previous fold's members (``entered``, ``left``; None for the first fold)."""
    members = members_as_of(panel, as_of, rule)
    record: dict[str, Any] = {
        "rule": str(rule),
        "as_of": as_of.isoformat(),
        "count": len(members),
        "tickers": sorted(members),
        "entered": None,
        "left": None,
    }
    if previous_as_of is not None:
        before = set(members_as_of(panel, previous_as_of, rule))
        record["previous_as_of"] = previous_as_of.isoformat()
        record["entered"] = sorted(set(members) - before)
        record["left"] = sorted(before - set(members))
    return record


def churn_table(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per fold: its universe's size and the names in and out since the previous fold."""
    rows = []
    for record in records:
        entered, left = record.get("entered"), record.get("left")
        rows.append(
            {
                "fold": record["fold"],
                "as of": record["as_of"],
                "tickers": record["count"],
                "in": "—" if entered is None else (", ".join(entered) or "none"),
                "out": "—" if left is None else (", ".join(left) or "none"),
            }
        )
    return pd.DataFrame(rows, columns=["fold", "as of", "tickers", "in", "out"])


def only_tickers(ws: WindowSet, tickers: Sequence[str]) -> WindowSet:
    """``ws`` seen through ``tickers``: their usable windows and spans only; the arrays are shared (zero-copy), so
    positions into ``ws.windows`` stay valid. Tickers without feature rows are left out."""
    keep = [t for t in ws.spans if t in set(tickers)]
    mask = ws.index["ticker"].isin(keep).to_numpy()
    index = ws.index.loc[mask].reset_index(drop=True)
    index["ticker"] = index["ticker"].cat.remove_unused_categories()
    return dataclasses.replace(ws, index=index, spans={t: ws.spans[t] for t in keep})
