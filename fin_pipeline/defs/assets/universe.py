"""What every fold asset reads: the feature windows of the whole universe, checked to be complete.

With a point-in-time rule (``FIN_PIPELINE_UNIVERSE_RULE``) the ticker partitions are the candidate pool and each
fold reads the windows of its own universe, the rule applied as of its test start
(:mod:`fin_pipeline.features.universe`): :meth:`Universe.fold_windows`. The live model reads today's
(:meth:`Universe.live_windows`). Without a rule both are the whole (hand-picked) universe.
"""

import dataclasses
import datetime as dt
import functools
from pathlib import Path

import pandas as pd
from dagster import Failure

from fin_pipeline.core.settings import load_settings
from fin_pipeline.core.universe_rule import UniverseRule
from fin_pipeline.defs.partitions import fold_keys_through
from fin_pipeline.defs.resources import DataStore
from fin_pipeline.features.assemble import load_window_set
from fin_pipeline.features.frame import FeatureError
from fin_pipeline.features.universe import activity_panel, members_as_of, membership, only_tickers
from fin_pipeline.features.windows import WindowSet
from fin_pipeline.store.parquet import read_parquet, read_parquet_meta
from fin_pipeline.training.fold_boundaries import FoldBoundaries


@dataclasses.dataclass(frozen=True)
class Universe:
    windows: WindowSet
    paths: list[Path]  # feature files, in universe order
    horizon: int  # target horizon h of the feature files
    untradable_days: int = 0  # ticker-days whose execution price is missing or not positive: never traded
    rule: UniverseRule | None = None  # None: hand-picked, every fold reads every ticker
    panel: pd.DataFrame | None = None  # with a rule: the rule's field, sessions x candidates (raw candles)

    @property
    def execution(self) -> str:
        """The execution the feature files' targets follow (they must agree; ``load_window_set`` checks)."""
        return self.windows.execution

    def members(self, as_of: dt.date) -> list[str]:
        """The universe as of ``as_of`` (data before it only); every ticker when hand-picked."""
        if self.rule is None or self.panel is None:
            return list(self.windows.spans)
        return members_as_of(self.panel, as_of, self.rule)

    def fold_windows(self, fold: FoldBoundaries) -> WindowSet:
        """The windows a fold trains, tunes and tests on: its universe's, as of its test start."""
        if self.rule is None:
            return self.windows
        return only_tickers(self.windows, self.members(fold.test_start))

    def live_windows(self) -> WindowSet:
        """Today's universe for the live model: the rule applied after the data's last day (all data known)."""
        if self.rule is None:
            return self.windows
        last = pd.Timestamp(self.windows.row_dates.max()).date()
        return only_tickers(self.windows, self.members(last + dt.timedelta(days=1)))

    def membership(self, fold: FoldBoundaries, previous: FoldBoundaries | None) -> dict:
        """What the fold's record holds of its universe: the rule, count, tickers, and the churn since
        ``previous``; an explicit list is labelled hand-picked."""
        if self.rule is None or self.panel is None:
            tickers = sorted(self.windows.spans)
            return {"rule": "hand-picked", "count": len(tickers), "tickers": tickers, "entered": None, "left": None}
        return membership(self.panel, fold.test_start, self.rule, previous.test_start if previous else None)


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
    rule, panel = load_settings().universe_rule, None
    if rule is not None:
        raw = {t: store.pull(store.raw_candles_path(t)) for t in tickers}
        missing = [t for t, p in raw.items() if not p.is_file()]
        if missing:
            raise Failure(f"{what}: raw_candles is missing for {missing}: the universe rule ranks them")
        panel = _panel(tuple((t, str(p), p.stat().st_mtime_ns, p.stat().st_size) for t, p in raw.items()), rule.field)
    horizon = int(next(iter(horizons.values())))
    return Universe(windows, list(paths.values()), horizon, untradable, rule, panel)


def data_fold_keys(universe: Universe) -> list[str]:
    """The fold partitions whose test period has begun in the data (the last fold among them is open until its
    period ends); later partitions (a period that began after the data's last day) wait for their first day."""
    return fold_keys_through(pd.Timestamp(universe.windows.index["date"].max()).date())


@functools.lru_cache(maxsize=2)
def _window_set(stamps: tuple[tuple[str, str, int, int], ...]) -> WindowSet:
    """The fold steps of one process (the CLI's in-process runs) share one load while the files are unchanged:
    a rewritten feature file has a new modification time and size, hence a new key."""
    return load_window_set({ticker: Path(path) for ticker, path, _, _ in stamps})


@functools.lru_cache(maxsize=2)
def _panel(stamps: tuple[tuple[str, str, int, int], ...], field: str) -> pd.DataFrame:
    """The rule's field of every candidate, read once per process while the raw files are unchanged."""
    return activity_panel({t: read_parquet(Path(p))[0] for t, p, _, _ in stamps}, field)
