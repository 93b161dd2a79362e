"""The data store's reads and writes of each artifact, so that an asset body is its science call and its metadata.

Each read brings the file from the store first (on S3: into the local cache) and each write publishes it after
(the atomic write-then-rename of :mod:`fin_pipeline.store.parquet`, then on S3 one PUT, skipped when the object
already holds the bytes); paths come from :mod:`fin_pipeline.store.layout`. A read-back of a file this step just
wrote reads the local copy (``pull=False``): it is what was uploaded. A missing input is a ``Failure`` naming the
asset to materialize first. Every check against stored history (the report's append-only record, the fold's kept
predictions, the nightly plan's row versions) reads what the store holds, never a local cache alone: a worker
with an empty cache decides as one that wrote the files.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import Failure

from fin_pipeline.store import layout
from fin_pipeline.store.parquet import IntegrityError, StorageError, read_json, read_parquet, write_json, write_parquet
from fin_pipeline.training.normalization import FoldStats
from fin_pipeline.training.splits import FoldBoundaries


class StoreFiles:
    """Mixed into :class:`~fin_pipeline.defs.resources.DataStore`, which gives the transfers and the paths."""

    # -- transfers around one file -------------------------------------------------------------------------
    @contextlib.contextmanager
    def updating(self, path: Path) -> Iterator[Path]:
        """The stored file (if any) at ``path`` for a library call that updates it in place, published after."""
        local = self.pull(path)
        yield local
        self.push(local)

    def read_table(self, path: Path, pull: bool = True) -> tuple[pd.DataFrame, dict[str, Any]]:
        return read_parquet(self.pull(path) if pull else path)

    def read_stored_table(self, path: Path) -> tuple[pd.DataFrame, dict[str, Any]] | None:
        """The table the store holds at ``path`` (None: none), brought from the store first."""
        local = self.pull(path)
        return read_parquet(local) if local.is_file() else None

    def write_table(self, frame: pd.DataFrame, path: Path, meta: dict[str, Any] | None = None) -> Path:
        write_parquet(frame, path, meta)
        self.push(path)
        return path

    def read_document(self, path: Path) -> Any:
        return read_json(self.pull(path))

    def write_document(self, obj: Any, path: Path) -> Path:
        write_json(obj, path)
        self.push(path)
        return path

    # -- candles and features ------------------------------------------------------------------------------
    def read_candles(self, ticker: str, pull: bool = True) -> pd.DataFrame:
        path = self.pull(self.raw_candles_path(ticker)) if pull else self.raw_candles_path(ticker)
        if not path.is_file():
            raise Failure(
                f"{ticker}: no raw candles at {path}; materialize raw_candles for {ticker} first", allow_retries=False
            )
        return read_parquet(path)[0]

    def read_features(self, ticker: str, pull: bool = True) -> pd.DataFrame:
        return self.read_table(self.feature_windows_path(ticker), pull)[0]

    def write_features(self, ticker: str, frame: pd.DataFrame, meta: dict[str, Any]) -> bool:
        """Write a ticker's features unless the stored file holds exactly ``frame`` with ``meta`` (an unchanged
        rerun writes nothing, so the file keeps its time; a damaged or older file is rewritten). Whether it wrote."""
        path = self.pull(self.feature_windows_path(ticker))
        if _holds(path, frame, meta):
            return False
        self.write_table(frame, path, meta)
        return True

    def feature_paths(self, tickers: list[str]) -> dict[str, Path]:
        """Each ticker's feature file, brought from the store (missing ones are paths that are not files)."""
        return {t: self.pull(self.feature_windows_path(t)) for t in tickers}

    # -- folds ---------------------------------------------------------------------------------------------
    def read_fold_record(self, fold: str, missing_ok: bool = False) -> dict[str, Any] | None:
        """What ``walk_forward_folds`` stored for ``fold``; a ``Failure`` when there is none (None: ``missing_ok``)."""
        path = self.pull(self.fold_path(fold))
        if not path.is_file():
            if missing_ok:
                return None
            raise Failure(f"{fold}: no fold boundaries at {path}; materialize walk_forward_folds[{fold}] first")
        return read_json(path)

    def read_fold(self, fold: str) -> FoldBoundaries:
        return FoldBoundaries.from_dict(self.read_fold_record(fold))

    def write_fold(self, fold: str, record: dict[str, Any]) -> Path:
        return self.write_document(record, self.fold_path(fold))

    def read_normalization(self, fold: str) -> FoldStats:
        return FoldStats.from_dict(self.read_document(self.normalization_path(fold)))

    def write_normalization(self, fold: str, stats: FoldStats) -> Path:
        return self.write_document(stats.to_dict(), self.normalization_path(fold))

    def fold_checkpoint(self, fold: str) -> Path:
        """The fold's published best checkpoint, brought from the store; a ``Failure`` when there is none."""
        checkpoint = self.pull(self.model_dir(fold) / layout.BEST)
        if not checkpoint.is_file():
            raise Failure(f"{fold}: no checkpoint at {checkpoint}; materialize trained_model[{fold}] first")
        return checkpoint

    def stored_metrics_dir(self, fold: str) -> Path:
        """The fold's metrics folder as the store holds it: its scoring keeps the stored predictions of the same
        model (:func:`fin_pipeline.evaluation.scoring.score_fold`), which an empty cache must not lose."""
        return self.pull_tree(self.metrics_dir(fold))

    def publish_metrics(self, fold: str, scored: dict[str, Any]) -> None:
        """The fold's ``scored.json`` beside the metrics the scoring wrote, then the whole folder to the store."""
        write_json(scored, self.path(layout.scored(fold)))
        self.push_tree(self.metrics_dir(fold))

    # -- the model board -----------------------------------------------------------------------------------
    def write_board(self, model: str, fold: str, frame: pd.DataFrame, meta: dict[str, Any]) -> Path:
        """One model × fold's test-block predictions (atomically; S3: one PUT)."""
        return self.write_table(frame, self.path(layout.board_predictions(model, fold)), meta)

    def read_board(self, model: str, fold: str) -> tuple[pd.DataFrame, dict[str, Any]] | None:
        """What ``board_predictions[fold|model]`` stored (None: nothing yet); a corrupt file raises
        :class:`IntegrityError` naming it."""
        return self.read_stored_table(self.path(layout.board_predictions(model, fold)))

    def read_leaderboard(self) -> tuple[pd.DataFrame, dict[str, Any]] | None:
        """The stored leaderboard table and its metadata (None: no leaderboard yet)."""
        return self.read_stored_table(self.path(layout.leaderboard_file()))

    # -- the live model, forecasts and record --------------------------------------------------------------
    def read_live(self, night: str) -> dict[str, Any]:
        return self.read_document(self.path(layout.live_file(night)))

    def publish_live(self, night: str, record: dict[str, Any]) -> None:
        """The night's ``live.json`` written last (it says the night's model is complete), then its files pushed;
        the training run folders go."""
        out = self.live_dir(night)
        shutil.rmtree(out / layout.RUNS, ignore_errors=True)
        write_json(record, out / layout.LIVE_FILE)
        for name in (*layout.CHECKPOINTS, layout.LIVE_FILE):
            self.push(out / name)

    def prune_live(self, keep: int) -> list[str]:
        """Remove the live models of all but the newest ``keep`` nights the store holds (S3: listed in the
        bucket, not the cache); their names."""
        root = self.live_dir()
        nights = self.objects().folders(root)
        gone = nights[: max(len(nights) - keep, 0)]
        for name in gone:
            shutil.rmtree(root / name, ignore_errors=True)
            self.objects().delete_tree(root / name)
        return gone

    def live_checkpoint(self, night: str) -> Path:
        """The night's live best checkpoint, brought from the store; a ``Failure`` when there is none."""
        checkpoint = self.pull(self.live_dir(night) / layout.BEST)
        if not checkpoint.is_file():
            raise Failure(
                f"forecasts[{night}]: no live model at {self.describe(checkpoint)}; materialize live_model[{night}] "
                "first",
                allow_retries=False,
            )
        return checkpoint

    def read_forecast(self, night: str) -> pd.DataFrame | None:
        """The forecast stored for ``night`` (None: none yet); a ``Failure`` when it is damaged."""
        path = self.pull(self.forecast_path(night))
        if not path.is_file():
            return None
        try:
            return read_parquet(path)[0]
        except (IntegrityError, StorageError) as exc:
            raise Failure(f"forecasts[{night}]: the stored forecast is damaged: {exc}", allow_retries=False) from exc

    def read_forecasts(self) -> list[pd.DataFrame]:
        """Every stored forecast, oldest first; a ``Failure`` naming a damaged file."""
        folder = self.pull_tree(self.forecasts_dir())
        frames = []
        for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
            try:
                frames.append(read_parquet(path)[0])
            except (IntegrityError, StorageError) as exc:
                raise Failure(f"live_record: {exc}", allow_retries=False) from exc
        return frames

    def write_live_record(self, record: pd.DataFrame, meta: dict[str, Any], draw=None) -> None:
        """The paper record and, when ``draw`` is given, its equity picture (``draw(path)``; else the stale
        picture goes), then the folder to the store."""
        out = self.live_record_dir()
        out.mkdir(parents=True, exist_ok=True)
        write_parquet(record, out / layout.RECORD_FILE, meta=meta)
        if draw is not None:
            draw(out / layout.LIVE_EQUITY_FILE)
        else:
            with contextlib.suppress(FileNotFoundError):
                (out / layout.LIVE_EQUITY_FILE).unlink()
        self.push_tree(out)


def _holds(path: Path, frame: pd.DataFrame, meta: dict) -> bool:
    """Whether ``path`` already holds exactly ``frame`` with ``meta``."""
    if not path.is_file():
        return False
    try:
        stored, stored_meta = read_parquet(path)
    except (IntegrityError, StorageError):
        return False
    same_meta = all(stored_meta.get(k) == v for k, v in meta.items())
    return same_meta and list(stored.columns) == list(frame.columns) and stored.equals(frame)
