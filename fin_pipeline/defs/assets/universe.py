"""What every fold asset reads: the feature windows of the whole universe, checked to be complete."""

import dataclasses
import functools
from pathlib import Path

import pandas as pd
from dagster import Failure

from fin_pipeline.core.settings import load_settings
from fin_pipeline.defs.partitions import fold_keys_through
from fin_pipeline.defs.resources import DataStore
from fin_pipeline.features.assemble import load_window_set
from fin_pipeline.features.frame import FeatureError
from fin_pipeline.features.windows import WindowSet
from fin_pipeline.store.parquet import read_parquet_meta


@dataclasses.dataclass(frozen=True)
class Universe:
    windows: WindowSet
    paths: list[Path]  # feature files, in universe order
    horizon: int  # target horizon h of the feature files
    untradable_days: int = 0  # ticker-days whose execution price is missing or not positive: never traded

    @property
    def execution(self) -> str:
        """The execution the feature files' targets follow (they must agree; ``load_window_set`` checks)."""
        return self.windows.execution


def load_universe(store: DataStore, what: str) -> Universe:
    """The universe's windows; a ``Failure`` naming the missing ticker partitions, if any (``what`` = the asset)."""
    tickers = list(load_settings().universe)
    paths = store.feature_paths(tickers)
    missing = [t for t, p in paths.items() if not p.is_file()]
    if missing:
        raise Failure(
            f"{what}: feature_windows is missing for {missing} (no {paths[missing[0]]}); "
            "materialize raw_candles and feature_windows for them first",
            allow_retries=False,
        )
    horizons = {t: read_parquet_meta(p).get("horizon") for t, p in paths.items()}
    if len(set(horizons.values())) != 1:
        raise Failure(f"{what}: feature files disagree on the target horizon: {horizons}", allow_retries=False)
    stamps = tuple((t, str(p), p.stat().st_mtime_ns, p.stat().st_size) for t, p in paths.items())
    try:
        windows = _window_set(stamps)
    except FeatureError as exc:  # feature files of different executions or versions
        raise Failure(f"{what}: {exc}", allow_retries=False) from exc
    untradable = sum(int(read_parquet_meta(p).get("untradable_days", 0)) for p in paths.values())
    return Universe(windows, list(paths.values()), int(next(iter(horizons.values()))), untradable)


def data_fold_keys(universe: Universe) -> list[str]:
    """The fold partitions whose test period has begun in the data (the last fold among them is open until its
    period ends); later partitions (a period that began after the data's last day) wait for their first day."""
    return fold_keys_through(pd.Timestamp(universe.windows.index["date"].max()).date())


@functools.lru_cache(maxsize=2)
def _window_set(stamps: tuple[tuple[str, str, int, int], ...]) -> WindowSet:
    """The fold steps of one process (the CLI's in-process runs) share one load while the files are unchanged:
    a rewritten feature file has a new modification time and size, hence a new key."""
    return load_window_set({ticker: Path(path) for ticker, path, _, _ in stamps})
