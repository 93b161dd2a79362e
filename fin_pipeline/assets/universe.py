"""What every fold asset reads: the feature windows of the whole universe, checked to be complete."""

import dataclasses
from pathlib import Path

from dagster import Failure

from fin_pipeline.features.windows import WindowSet, load_window_set
from fin_pipeline.resources import DataStore
from fin_pipeline.settings import load_settings
from fin_pipeline.storage import read_parquet_meta


@dataclasses.dataclass(frozen=True)
class Universe:
    windows: WindowSet
    paths: list[Path]  # feature files, in universe order
    horizon: int  # target horizon h of the feature files


def load_universe(store: DataStore, what: str) -> Universe:
    """The universe's windows; a ``Failure`` naming the missing ticker partitions, if any (``what`` = the asset)."""
    tickers = list(load_settings().universe)
    paths = {t: store.feature_windows_path(t) for t in tickers}
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
    return Universe(load_window_set(paths), list(paths.values()), int(next(iter(horizons.values()))))
