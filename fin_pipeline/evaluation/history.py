"""Stored history is never rewritten by accident: the checks a run makes before writing, and the deliberate way.

* :func:`check_stored_range`: the candles the settings ask for against the stored ones, for every ticker at
  once, before any run starts: an end date earlier than the stored data (or a start later) would drop stored
  bars, and with them the folds, forecasts and report days built on them; refused, naming each.
* :func:`archive_for_rebuild`: what ``fin-pipeline rebuild --from DATE`` replaces, moved (never deleted) under
  ``archive/<UTC time>-from-<DATE>/`` in the data directory, the same relative paths inside; the rebuild then
  runs as a first build would for those parts.
* :func:`restatements` and :func:`restatement_line`: the restated histories that the candle updates recorded
  (:func:`fin_pipeline.sources.update.keep_stored_bars`), in words for the report.

The per-ticker rule (:func:`fin_pipeline.sources.update.truncation`) is the one ``raw_candles`` applies too; the
fold rules are :func:`fin_pipeline.evaluation.nightly.check_plans`.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from fin_pipeline.sources.base import session_dates
from fin_pipeline.sources.update import RESTATEMENT_RTOL, HistoryRewrite, rebuild_command, truncation
from fin_pipeline.store.parquet import read_parquet, read_parquet_meta


def check_stored_range(store, tickers: list[str], start: dt.date, end: dt.date) -> None:
    """Raise :class:`HistoryRewrite` when ``[start, end]`` would drop stored bars of any ticker, naming each
    ticker, the stored folds and forecasts after ``end``, and the deliberate command."""
    problems = []
    for ticker in tickers:
        path = store.pull(store.raw_candles_path(ticker))
        if not path.is_file():
            continue
        frame, meta = read_parquet(path)
        if not frame.empty and (problem := truncation(ticker, session_dates(frame["timestamp"]), meta, start, end)):
            problems.append(problem)
    if not problems:
        return
    later = [
        f"{what} {', '.join(names)}"
        for what, names in (("folds", _stored_after(store, "folds", end)), ("forecasts", _forecasts_after(store, end)))
        if names
    ]
    rest = f"; and the stored {' and '.join(later)} would no longer match the data" if later else ""
    raise HistoryRewrite(
        f"the settings (FIN_PIPELINE_START={start}, FIN_PIPELINE_END={end}) would rewrite stored history: "
        f"{'; '.join(problems)}{rest}. Nothing was written. To do it deliberately (what is replaced is archived, "
        f"never deleted): {rebuild_command(end)}"
    )


def _stored_after(store, folder: str, end: dt.date) -> list[str]:
    root = store.pull_tree(store.local_root() / folder)
    names = sorted(p.stem for p in root.glob("*.json")) if root.is_dir() else []
    # a fold is touched when its test period reaches past the new end: its key (period start) or a later one
    return [n for n in names if _end_of_fold(n, store) > end]


def _end_of_fold(key: str, store) -> dt.date:
    from fin_pipeline.store.parquet import read_json

    record = read_json(store.fold_path(key))
    return dt.date.fromisoformat(record.get("test_end") or key)


def _forecasts_after(store, end: dt.date) -> list[str]:
    root = store.pull_tree(store.local_root() / "forecasts")
    names = sorted(p.stem for p in root.glob("*.parquet")) if root.is_dir() else []
    return [n for n in names if dt.date.fromisoformat(n) > end]


def archive_for_rebuild(
    store, day: dt.date, tickers: list[str], start: dt.date, end: dt.date, configuration: bool, now: dt.datetime
) -> tuple[Path, list[str]]:
    """Move what a rebuild from ``day`` replaces into a dated archive folder; ``(folder, relative paths moved)``.

    Moved: the candles and feature windows of every ticker whose stored range ``[start, end]`` would cut; every
    fold whose test block ends on or after ``day`` (its boundaries, normalization, models and metrics); the live
    models and forecasts for sessions from ``day`` on; the report and the paper record (rebuilt from the rest);
    and the training configuration file when ``configuration`` (a rebuild with a new configuration).
    """
    root = store.local_root()
    moved: list[Path] = []
    for ticker in tickers:
        path = store.pull(store.raw_candles_path(ticker))
        if path.is_file():
            frame, meta = read_parquet(path)
            if not frame.empty and truncation(ticker, session_dates(frame["timestamp"]), meta, start, end):
                moved += [path, store.pull(store.feature_windows_path(ticker))]
    folds = store.pull_tree(root / "folds")
    for record in sorted(folds.glob("*.json")) if folds.is_dir() else []:
        key = record.stem
        if _end_of_fold(key, store) >= day:
            moved += [record, store.pull(store.normalization_path(key))]
            moved += [store.pull_tree(store.model_dir(key)), store.pull_tree(store.metrics_dir(key))]
    for folder, pattern in (("forecasts", "*.parquet"), ("live", "*")):
        here = store.pull_tree(root / folder)
        moved += [p for p in sorted(here.glob(pattern)) if here.is_dir() and dt.date.fromisoformat(p.stem) >= day]
    moved += [store.pull_tree(store.report_dir()), store.pull_tree(store.live_record_dir())]
    if configuration:
        moved.append(store.pull(store.configuration_path()))
    target = store.archive_dir() / f"{now:%Y-%m-%dT%H%M%SZ}-from-{day}"
    objects, done = store.objects(), []
    for path in (p for p in moved if p.exists()):
        rel = path.relative_to(root)
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target / rel)  # a rename on one file system: nothing is copied or lost on the way
        if objects.remote:  # S3: the archived copy up first, then the original objects go
            if (target / rel).is_dir():
                objects.push_tree(target / rel)
                objects.delete_tree(path)
            else:
                objects.push(target / rel)
                objects.delete(path)
        done.append(rel.as_posix())
    return target, done


def restatements(store, tickers: list[str]) -> list[dict]:
    """Every restatement the candle updates recorded, with its ticker, oldest first."""
    found = []
    for ticker in tickers:
        path = store.pull(store.raw_candles_path(ticker))
        if path.is_file():
            found += [{"ticker": ticker, **r} for r in read_parquet_meta(path).get("restatements", [])]
    return sorted(found, key=lambda r: (r["seen"], r["ticker"]))


def restatement_line(found: list[dict], open_fold: str | None) -> str | None:
    """The report's line on restated histories (None when there is none)."""
    if not found:
        return None
    each = "; ".join(
        f"{r['ticker']} {r['first']} … {r['last']} ({r['bars']} bar(s), seen after {r['seen']})" for r in found
    )
    uses = f"the open fold {open_fold} and the live model use" if open_fold else "the live model uses"
    return (
        f"Restated history (prices re-adjusted beyond a relative {RESTATEMENT_RTOL:g}, e.g. a split or dividend): "
        f"{each}. Closed folds and past forecasts are kept as they were (a record of what was known then); "
        f"{uses} the restated data."
    )
