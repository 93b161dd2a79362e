"""The out-of-sample record is append-only: a day once reported never changes, and folds trained under different
training configurations are not stitched into one record unless asked. What was kept and added, in words."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd


@dataclasses.dataclass(frozen=True)
class RecordCheck:
    """What a new report's stitched series is checked against before anything is written: the previous report's
    ``oos_predictions.parquet`` (None: a new record) and the folds whose days may change (the open fold, retrained
    on a restated history since the previous report)."""

    previous: pd.DataFrame | None = None
    restated_folds: frozenset[str] = frozenset()


def record_line(record: dict[str, Any]) -> str:
    """In words, what :func:`append_only_check` found: the days kept unchanged and the days added."""
    added = record["added_rows"]
    span = f" ({record['added_first']} … {record['added_last']})" if added else ""
    if not record["unchanged_rows"]:
        return f"Out-of-sample record: a new record of {added} prediction(s){span}."
    return (
        f"Out-of-sample record: {record['unchanged_rows']} prediction(s) already reported are unchanged (checked "
        f"against the previous report); {added} added{span}."
    )


class RecordChanged(ValueError):
    """A day already in the stored out-of-sample record differs in the new one: the record is append-only."""


class MixedConfigurations(ValueError):
    """Folds trained with different training configurations, stitched without being told to."""


def check_configurations(hashes: dict[str, str | None], allow: bool) -> str | None:
    """The folds' training configuration hashes (None: not recorded) must be one; otherwise
    :class:`MixedConfigurations` names the folds of each, unless ``allow``, when the line returned says so."""
    groups: dict[str, list[str]] = {}
    for fold, value in hashes.items():
        if value is not None:
            groups.setdefault(value, []).append(fold)
    if len(groups) < 2:
        return None
    said = "; ".join(f"configuration {h}: folds {', '.join(folds)}" for h, folds in groups.items())
    if not allow:
        raise MixedConfigurations(
            f"the folds were trained with {len(groups)} different training configurations ({said}); a stitched "
            "record of them would mix models. Rebuild the odd folds (fin-pipeline rebuild --from DATE), or stitch "
            "them anyway with allow_mixed_configurations=true (fin-pipeline run --allow-mixed-configurations)"
        )
    return f"Mixed training configurations, stitched on request: {said}."


def append_only_check(
    previous: pd.DataFrame | None, stitched: pd.DataFrame, restated_folds: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Compare the new stitched out-of-sample series with the previous report's (``oos_predictions.parquet``).

    Every (ticker, date) row of ``previous`` must be in ``stitched`` with the same values (every column but
    ``window``, a position in the day's row array that moves as rows are added); :class:`RecordChanged` names the
    fold, ticker, date, column and both values otherwise. The rows of ``restated_folds`` (the open fold retrained
    on a restated history since the previous report) may change; they are counted. Returns what was added:
    ``{"unchanged_rows", "added_rows", "added_first", "added_last", "restated_rows"}`` (dates as ISO strings,
    None when nothing was added).
    """
    key = ["ticker", "date"]
    restated = 0
    if previous is not None and not previous.empty and restated_folds:
        mine = previous["fold"].isin(list(restated_folds)).to_numpy()
        restated, previous = int(mine.sum()), previous[~mine]
    if previous is None or previous.empty:
        added = stitched
        unchanged = 0
    else:
        columns = [c for c in previous.columns if c not in ("window", *key)]
        merged = previous.merge(stitched, on=key, how="left", suffixes=("_was", ""), indicator=True)
        gone = merged[merged["_merge"] == "left_only"]
        if len(gone):
            row = gone.iloc[0]
            raise RecordChanged(
                f"fold {row['fold_was']}: {row['ticker']} on {row['date']:%Y-%m-%d} is in the stored out-of-sample "
                f"record but not in the new one ({len(gone)} row(s) gone); earlier days are never rewritten"
            )
        for column in columns:
            was, now = merged[f"{column}_was"], merged[column]
            same = (was == now) | (was.isna() & now.isna())
            if not same.all():
                row = merged[~same].iloc[0]
                raise RecordChanged(
                    f"fold {row['fold_was']}: the out-of-sample record changed on a day already reported: "
                    f"{row['ticker']} on {row['date']:%Y-%m-%d}, {column} was {row[f'{column}_was']!r}, now "
                    f"{row[column]!r} ({int((~same).sum())} value(s) differ); earlier days are never rewritten. "
                    "If you retrained folds deliberately, rebuild the report with rewrite=true"
                )
        known = pd.MultiIndex.from_frame(previous[key])
        added = stitched[~pd.MultiIndex.from_frame(stitched[key]).isin(known)]
        unchanged = len(previous)
    days = pd.to_datetime(added["date"])
    return {
        "restated_rows": restated,
        "unchanged_rows": int(unchanged),
        "added_rows": int(len(added)),
        "added_first": None if added.empty else f"{days.min():%Y-%m-%d}",
        "added_last": None if added.empty else f"{days.max():%Y-%m-%d}",
    }
