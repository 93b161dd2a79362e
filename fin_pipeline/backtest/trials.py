"""The trial registry: every configuration ever scored on a store's walk-forward folds, with its daily returns.

The Deflated Sharpe Ratio (Bailey & López de Prado 2014) deflates the Sharpe ratio of the strategy a researcher
kept by the best of the N configurations the researcher tried, whose Sharpe ratios have variance V. Those trials
are the configurations this store's folds were ever trained and scored with, not the books of one report:

* A **trial** is one configuration: what was trained (model, its settings, loss, optimizer, schedule, epochs,
  batch, learning rate, seed: every field of the training specification but the device, which changes where
  it ran, not what was tried), the fold rules (target horizon h, purge, embargo, minimum tickers) and how it was
  scored (execution, cost model). Its key is a hash of that configuration (:func:`trial_key`). A record whose
  folds were trained with different specifications (a partial retrain) is a configuration of its own: the
  distinct specifications, sorted.
* Each trial holds the stitched out-of-sample daily NET returns of the model's books (:data:`TRIAL_BOOKS`:
  the directional sign book and the market-neutral book), one row per decision date. The DSR of book b uses the
  Sharpe ratios of book b across the trials. Baselines (zero, momentum, ridge) and buy-and-hold are references
  that nobody selected: they are not trials and get no DSR.
* Scoring the same configuration again (more folds, a new day) REPLACES that trial's returns: one trial, one
  record. Scoring a new configuration (another model, loss, seed, horizon, cost model... or a rebuild of the
  record with a new configuration) ADDS a trial. Nothing here ever removes one: a failed idea stays counted.

On disk: one Parquet file per trial, ``<data>/trials/<key>.parquet`` (columns ``date`` and one per book), its
configuration and key in the file's metadata, written atomically with a content hash by
:mod:`fin_pipeline.store.parquet`. No Dagster here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fin_pipeline.backtest.metrics import sharpe_ratio
from fin_pipeline.store.layout import TRIALS
from fin_pipeline.store.parquet import StorageError, read_parquet, write_parquet

TRIAL_BOOKS = ("model", "model_neutral")  # the model's books: the ones a researcher selects among trials
FOLD_RULES = ("horizon", "purge_days", "embargo_days", "min_tickers")  # from each fold's boundaries
NOT_A_CHOICE = ("device",)  # training-spec fields that change where a model trained, not what was tried
FOLDER = TRIALS  # under the data directory


def trial_configuration(
    train_specs: Iterable[Mapping[str, Any]], fold_bounds: Iterable[Mapping[str, Any]], scoring: Mapping[str, Any]
) -> dict[str, Any]:
    """The configuration of a stitched record: its folds' training specifications (distinct, sorted, without
    :data:`NOT_A_CHOICE`), its fold rules (:data:`FOLD_RULES`, which must agree across folds) and ``scoring``
    (execution, cost model and its parameters). Plain JSON values only."""
    specs = {_canonical({k: v for k, v in spec.items() if k not in NOT_A_CHOICE}) for spec in train_specs}
    if not specs:
        raise ValueError("trial_configuration: no fold's training specification given")
    fold_bounds = list(fold_bounds)
    for bounds in fold_bounds:
        if missing := [k for k in FOLD_RULES if k not in bounds]:
            raise ValueError(f"trial_configuration: fold {bounds.get('fold')!r} has no {missing} in its boundaries")
    rules = {_canonical({k: bounds[k] for k in FOLD_RULES}) for bounds in fold_bounds}
    if len(rules) != 1:
        raise ValueError(f"trial_configuration: the folds disagree on their rules {sorted(rules)}; one record has one")
    return {
        "training": [json.loads(s) for s in sorted(specs)],
        "folds": json.loads(rules.pop()),
        "scoring": json.loads(_canonical(dict(scoring))),
    }


def trial_key(configuration: Mapping[str, Any]) -> str:
    """The first 16 hex digits of the SHA-256 of the configuration's canonical JSON (sorted keys)."""
    return hashlib.sha256(_canonical(configuration).encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class Trial:
    key: str
    configuration: dict[str, Any]
    returns: pd.DataFrame  # index: decision date; one column per book in TRIAL_BOOKS: daily net returns

    def sharpe(self, book: str) -> float:
        """The annualized Sharpe ratio of ``book`` over this trial's days (NaN if undefined)."""
        return sharpe_ratio(self.returns[book].dropna().to_numpy())


class TrialRegistry:
    """The trials of one store, one file each under ``folder`` (``<data>/trials``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.parquet"

    def record(self, configuration: Mapping[str, Any], returns: Mapping[str, pd.Series]) -> Trial:
        """Record (or replace) the trial of ``configuration`` with the daily net returns of each of
        :data:`TRIAL_BOOKS` (Series indexed by decision date). Checked before anything is written: every book
        given, finite values, one value per date."""
        missing = [b for b in TRIAL_BOOKS if b not in returns]
        if missing:
            raise ValueError(f"trial registry: no returns for book(s) {missing}; a trial records {TRIAL_BOOKS}")
        frame = pd.DataFrame({b: pd.Series(returns[b], dtype=np.float64) for b in TRIAL_BOOKS})
        if frame.index.has_duplicates:
            day = frame.index[frame.index.duplicated()][0]
            raise ValueError(f"trial registry: {pd.Timestamp(day):%Y-%m-%d} appears twice in a book's daily returns")
        bad = ~np.isfinite(frame.to_numpy())
        if bad.any():
            row, col = map(int, np.argwhere(bad)[0])
            raise ValueError(
                f"trial registry: book {TRIAL_BOOKS[col]} has a non-finite return on "
                f"{pd.Timestamp(frame.index[row]):%Y-%m-%d}; a trial's returns are the books' finite net returns"
            )
        if frame.empty:
            raise ValueError("trial registry: no day of returns to record")
        configuration = json.loads(_canonical(dict(configuration)))
        key = trial_key(configuration)
        frame = frame.sort_index().rename_axis("date")
        write_parquet(frame.reset_index(), self.path(key), meta={"key": key, "configuration": configuration})
        return Trial(key, configuration, frame)

    def trials(self) -> list[Trial]:
        """Every trial recorded, by key. A file whose content or key does not match is an error naming it."""
        out = []
        for path in sorted(self.folder.glob("*.parquet")) if self.folder.is_dir() else []:
            frame, meta = read_parquet(path)
            key = meta.get("key")
            configuration = meta.get("configuration")
            if configuration is None or key != path.stem or trial_key(configuration) != key:
                raise StorageError(
                    f"{path}: not a trial of this registry (its key {key!r} does not match its name or configuration);"
                    " it was edited or copied by hand: move it out of the folder"
                )
            out.append(Trial(key, configuration, frame.set_index("date")[list(TRIAL_BOOKS)]))
        return out

    def sharpes(self, trials: Sequence[Trial] | None = None) -> dict[str, list[float]]:
        """Book → the annualized Sharpe ratio of every trial (N = the list's length), what
        :func:`fin_pipeline.backtest.sharpe.sharpe_statistics` deflates by."""
        trials = self.trials() if trials is None else trials
        return {book: [t.sharpe(book) for t in trials] for book in TRIAL_BOOKS}


def describe(trials: Sequence[Trial], current: str, shown: int = 10) -> str:
    """One line for the report: "N trial(s)" and what they were (the first ``shown``, the current one always),
    the current one marked."""
    n = len(trials)
    listed = [t for t in trials if t.key == current] + [t for t in trials if t.key != current][: shown - 1]
    parts = []
    for t in listed:
        models = "+".join(sorted({s.get("model", "?") for s in t.configuration["training"]}))
        losses = "+".join(sorted({s.get("loss", "?") for s in t.configuration["training"]}))
        sharpe = t.sharpe(TRIAL_BOOKS[0])
        shown_sharpe = f"{sharpe:.2f}" if math.isfinite(sharpe) else "undefined"
        mark = " (this record)" if t.key == current else ""
        horizon = t.configuration["folds"]["horizon"]
        parts.append(f"`{t.key}` {models}/{losses}, h = {horizon}, Sharpe {shown_sharpe}{mark}")
    more = f"; and {n - len(listed)} more in the registry" if n > len(listed) else ""
    return f"{n} trial{'s' if n != 1 else ''}: " + "; ".join(parts) + more


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_plain)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"trial configuration: {value!r} ({type(value).__name__}) is not a plain JSON value")
