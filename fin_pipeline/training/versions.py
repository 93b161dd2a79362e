"""Which code and which data produced an artifact: stored in every checkpoint and shown in the UI.

A fold's inputs are versioned by the **rows** it reads, not by whole files (a feature file gains a row every
night, but a closed fold reads none of it). :func:`rows_version` hashes, per ticker, the feature rows and targets
that the usable windows ending on or before a day cover, with their dates, plus a configuration dict:

* a fold's data version: the rows up to its test block's end (the open fold: up to the latest day) and its
  boundaries and spec (``walk_forward_folds``);
* a fold's training version: the rows up to its tuning block's end and the training boundaries
  (``normalization_stats``, hence ``trained_model``): a model depends only on rows before its test period.

**Tolerance.** Prices are compared at a relative tolerance of 1e-6 (``RESTATEMENT_RTOL``), against the stored
values, where they enter: :func:`fin_pipeline.sources.update.update_candles` keeps a stored bar, byte for byte,
when a re-delivered one lies within 1e-6 of it in every price and the volume, so float noise from a re-adjusted
history (~1e-7) never reaches a feature row, and the versions here hash exactly what is stored. A hash of
rounded values would flip at a rounding boundary; a comparison with the stored value cannot. A bar beyond the
tolerance is a restatement, recorded as such: a fold closed when it was scored keeps its record
(:mod:`fin_pipeline.evaluation.nightly`), the open fold and the live model use the restated rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import fin_pipeline
from fin_pipeline.features.windows import WindowSet


def code_version() -> str:
    """The package version and a hash of its source files: which code produced a checkpoint."""
    root = Path(fin_pipeline.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return f"{fin_pipeline.__version__}+{digest.hexdigest()[:12]}"


def data_version(paths: list[Path]) -> str:
    """A hash of the feature files a fold was trained on (their bytes, in ticker order)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16]


def rows_version(ws: WindowSet, upto: dt.date, config: dict[str, Any] | None = None) -> str:
    """A hash of every ticker's feature rows and targets that usable windows ending on or before ``upto`` cover
    (from the ticker's first row to the last such window's last row), their window end dates, and ``config``.

    Rows after ``upto`` never enter it, so a new day leaves the version of every earlier cut unchanged.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps(config or {}, sort_keys=True, default=str).encode())
    index = ws.index
    limit = np.datetime64(pd.Timestamp(upto).date(), "D")
    # Each ticker's windows in index order, found by one stable sort of the ticker codes: selecting them with
    # ``index["ticker"] == ticker`` scanned the whole index once per ticker (quadratic in the tickers).
    tickers = pd.Categorical(index["ticker"])  # the assembled index's own categorical: no copy
    codes = np.asarray(tickers.codes)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(tickers.categories) + 1))
    all_days = index["date"].to_numpy().astype("datetime64[D]")
    all_windows = index["window"].to_numpy()
    for ticker, (first, _) in ws.spans.items():
        code = tickers.categories.get_indexer([ticker])[0]
        mine = order[bounds[code] : bounds[code + 1]] if code >= 0 else order[:0]
        days = all_days[mine]
        keep = days <= limit
        digest.update(ticker.encode())
        if not keep.any():
            continue
        last_row = int(all_windows[mine][keep].max()) + ws.window - 1
        digest.update(np.ascontiguousarray(ws.values[first : last_row + 1]).tobytes())
        digest.update(np.ascontiguousarray(ws.targets[first : last_row + 1]).tobytes())
        digest.update(days[keep].tobytes())
    return digest.hexdigest()[:16]


# The boundaries a model depends on: its training and tuning blocks and the gap (not the test block).
TRAINING_FIELDS = (
    "train_start",
    "train_end",
    "tune_start",
    "tune_end",
    "horizon",
    "execution",
    "purge_days",
    "embargo_days",
    "min_tickers",
)


def fold_version(ws: WindowSet, fold: Any, spec: dict[str, Any]) -> str:
    """The fold's data version: the rows up to its test block's end, its boundaries and its fold spec.

    ``is_open`` is left out: a fold whose period ends adds no row by closing, so nothing is recomputed then.
    """
    bounds = {k: v for k, v in fold.to_dict().items() if k != "is_open"}
    return rows_version(ws, fold.test_end, {"fold": bounds, "spec": spec})


def training_version(ws: WindowSet, fold: Any) -> str:
    """The version of what a fold's model may read: the rows up to its tuning block's end and those boundaries."""
    bounds = fold.to_dict()
    return rows_version(ws, fold.tune_end, {k: bounds[k] for k in TRAINING_FIELDS})


def model_version(data_version: str, train_spec: dict[str, Any], code_version: str) -> str:
    """The identity of a trained model: a hash of what determines it, known before training starts.

    SHA-256 (first 16 hex digits) of the training rows' version (:func:`training_version`: the rows and the
    training and tuning boundaries), the training configuration (model, loss, epochs, batch size, ..., the seed:
    ``dataclasses.asdict`` of the :class:`~fin_pipeline.training.spec.TrainSpec`) and the code version. Nothing
    measured while training (seconds per epoch, the machine) enters it: the same seed, data, configuration and
    code give the same version, and a model whose version is already stored need not be trained again.
    """
    payload = {"data_version": data_version, "train_spec": train_spec, "code_version": code_version}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def checkpoint_model_version(ckpt: dict[str, Any]) -> str:
    """:func:`model_version` of a checkpoint, from the versions and training spec stored in its ``extra``."""
    extra = ckpt["extra"]
    return model_version(extra["data_version"], extra["train_spec"], extra["code_version"])
