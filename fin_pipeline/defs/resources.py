"""Dagster resources: the candle source (a live Polygon twin and two offline twins) and the data store.

Each resource only builds a library object from its config; assets take them as typed parameters, and tests
swap in another twin.
"""

from __future__ import annotations

import abc
import functools
import inspect
import os
from pathlib import Path, PurePath

from dagster import ConfigurableResource, EnvVar, Failure
from pydantic import Field

from fin_pipeline.core.settings import Settings
from fin_pipeline.defs.store_files import StoreFiles
from fin_pipeline.sources.base import CandleSource
from fin_pipeline.sources.csv_dir import CsvDirectorySource
from fin_pipeline.sources.polygon import PolygonSource
from fin_pipeline.sources.synthetic import SyntheticMarket
from fin_pipeline.store import layout
from fin_pipeline.store.location import LocalStore, S3Store, is_url, open_store
from fin_pipeline.store.parquet import StorageError

# The defaults are the settings' own (a Settings() without FIN_PIPELINE_* variables) and, for what the settings do
# not cover, PolygonSource's: the launchpad shows the values the library would use.
_SETTINGS = Settings()
_POLYGON = {
    name: p.default for name, p in inspect.signature(PolygonSource).parameters.items() if p.default is not p.empty
}


class CandleSourceResource(ConfigurableResource, abc.ABC):
    """Where ``raw_candles`` gets daily bars from."""

    @abc.abstractmethod
    def build(self) -> CandleSource:
        """The library source object this resource configures."""


class SyntheticMarketResource(CandleSourceResource):
    """The embedded synthetic market (the offline default): simulated prices, not real ones."""

    seed: int = Field(
        default=_SETTINGS.seed, description="Seed of the simulated market; the same seed gives the same bars."
    )
    signal_ic: float = Field(
        default=_SETTINGS.signal_ic,
        description="Planted information coefficient of ret_1d for the next day's return, in [0, 0.5); 0 = none.",
    )
    signal_temporal_ic: float = Field(
        default=_SETTINGS.signal_temporal_ic,
        description="Planted IC of sign(ret_1d[t-6] * ret_1d[t-9]) for the next day's return, in [0, 0.5); 0 = none.",
    )

    def build(self) -> CandleSource:
        return SyntheticMarket(seed=self.seed, signal_ic=self.signal_ic, temporal_ic=self.signal_temporal_ic)


class PolygonResource(CandleSourceResource):
    """Polygon.io aggregates API. Give ``api_key`` as ``EnvVar('POLYGON_API_KEY')`` so the UI never shows it."""

    api_key: str = Field(description="Polygon.io API key, sent only as an Authorization: Bearer header.")
    base_url: str = Field(default=_SETTINGS.polygon_base_url, description="API base URL (tests use a local server).")
    requests_per_minute: float = Field(
        default=_SETTINGS.polygon_requests_per_minute, description="Request budget per minute; 0 = unlimited."
    )
    connect_timeout: float = Field(default=_POLYGON["connect_timeout"], description="Seconds to wait for a connection.")
    read_timeout: float = Field(default=_POLYGON["read_timeout"], description="Seconds to wait for a response.")
    max_retries: int = Field(
        default=_POLYGON["max_retries"], description="Retries on 429/5xx and connection errors, with backoff."
    )
    backoff_factor: float = Field(
        default=_POLYGON["backoff_factor"], description="urllib3 Retry backoff factor, in seconds."
    )
    request_deadline: float = Field(
        default=_SETTINGS.polygon_request_deadline, description="Seconds for one request, retries and all bytes."
    )
    ticker_deadline: float = Field(
        default=_SETTINGS.polygon_ticker_deadline, description="Seconds for all pages of one ticker."
    )

    def build(self) -> CandleSource:
        return PolygonSource(
            api_key=self.api_key,
            base_url=self.base_url,
            requests_per_minute=self.requests_per_minute,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_retries=self.max_retries,
            backoff_factor=self.backoff_factor,
            request_deadline=self.request_deadline,
            ticker_deadline=self.ticker_deadline,
        )


class CsvDirectoryResource(CandleSourceResource):
    """A directory of vendor CSV exports, one ``TICKER.csv`` per ticker."""

    directory: str = Field(description="Directory of TICKER.csv files: Date,Open,High,Low,Close[,Adj Close],Volume.")
    date_format: str | None = Field(
        default=None, description="strptime format of the Date column (e.g. %d/%m/%Y); needed for ambiguous files."
    )

    def build(self) -> CandleSource:
        return CsvDirectorySource(self.directory, self.date_format)


class DataStore(StoreFiles, ConfigurableResource):
    """The data directory and the place of every stage's files in it.

    ``root`` is a local folder (the default) or an ``s3://bucket/prefix`` URL. The path helpers always give
    local paths: the folder itself, or for S3 the same layout in a local cache folder; assets move files
    between the cache and the bucket with :meth:`pull` (before a read) and :meth:`push` (after a write), see
    :mod:`fin_pipeline.store.location`. For a local folder these do nothing.
    """

    root: str = Field(
        description="Data directory (a folder or s3://bucket/prefix); every stage's output lives under it."
    )
    cache_dir: str | None = Field(
        default=None,
        description="S3 only: local cache folder (default $FIN_PIPELINE_CACHE_DIR, else <tmp>/fin_pipeline_cache/...).",
    )

    def objects(self) -> LocalStore | S3Store:
        """The store of ``root`` (opened once per process; a missing bucket or refused credentials fail here)."""
        try:
            return _open_store(self.root, self.cache_dir or os.environ.get("FIN_PIPELINE_CACHE_DIR"))
        except StorageError as exc:  # a missing bucket or bad credentials: a retry would only repeat it
            raise Failure(str(exc), allow_retries=False) from None

    def local_root(self) -> Path:
        return Path(self.root) if not is_url(self.root) else self.objects().cache

    def pull(self, path: Path) -> Path:
        return self.objects().pull(path)

    def pull_tree(self, folder: Path) -> Path:
        return self.objects().pull_tree(folder)

    def exists(self, path: Path) -> bool:
        """Whether ``path`` is in the store (on S3: a HEAD request, nothing downloaded)."""
        return self.objects().exists(path)

    def push(self, path: Path) -> None:
        self.objects().push(path)

    def push_tree(self, folder: Path) -> None:
        self.objects().push_tree(folder)

    def describe(self, path: Path) -> str:
        """Where ``path`` lives in the store (its s3:// URL, or the path itself)."""
        return self.objects().describe(path)

    def path(self, rel: PurePath) -> Path:
        """The local path of a file or folder of the layout (:mod:`fin_pipeline.store.layout`)."""
        return self.local_root() / rel

    def raw_candles_path(self, ticker: str) -> Path:
        return self.path(layout.raw_candles(ticker))

    def feature_windows_path(self, ticker: str) -> Path:
        return self.path(layout.feature_windows(ticker))

    def fold_path(self, fold: str) -> Path:
        return self.path(layout.fold(fold))

    def normalization_path(self, fold: str) -> Path:
        return self.path(layout.normalization(fold))

    def model_dir(self, fold: str) -> Path:
        return self.path(layout.model_dir(fold))

    def metrics_dir(self, fold: str) -> Path:
        return self.path(layout.metrics_dir(fold))

    def report_dir(self) -> Path:
        return self.path(layout.REPORTS)

    def trials_dir(self) -> Path:
        """The trial registry (:mod:`fin_pipeline.backtest.trials`): every configuration ever scored here. It
        outlives any rebuild of the record: a trial once run stays counted."""
        return self.path(layout.TRIALS)

    def live_dir(self, forecast_date: str | None = None) -> Path:
        """``live/``, or the live model of one forecast date (``live/2026-11-30``)."""
        return self.path(layout.live_dir(forecast_date))

    def forecast_path(self, forecast_date: str) -> Path:
        return self.path(layout.forecast(forecast_date))

    def forecasts_dir(self) -> Path:
        return self.path(layout.FORECASTS)

    def live_record_dir(self) -> Path:
        return self.path(layout.LIVE_RECORD)

    def configuration_path(self) -> Path:
        """The training configuration every fold and live model of this data directory is trained with."""
        return self.path(layout.configuration())

    def archive_dir(self) -> Path:
        """Where ``fin-pipeline rebuild`` moves what it replaces, one dated folder per rebuild."""
        return self.path(layout.ARCHIVE)


@functools.lru_cache(maxsize=8)
def _open_store(root: str, cache: str | None) -> LocalStore | S3Store:
    return open_store(root, cache)


def candle_source_resource(settings: Settings) -> CandleSourceResource:
    """The source the settings choose (see ``Settings.source``)."""
    if settings.source == "polygon":
        return PolygonResource(
            api_key=EnvVar("POLYGON_API_KEY"),
            base_url=settings.polygon_base_url,
            requests_per_minute=settings.polygon_requests_per_minute,
            request_deadline=settings.polygon_request_deadline,
            ticker_deadline=settings.polygon_ticker_deadline,
        )
    if settings.source == "csv":
        return CsvDirectoryResource(directory=str(settings.csv_dir), date_format=settings.csv_date_format)
    return SyntheticMarketResource(
        seed=settings.seed, signal_ic=settings.signal_ic, signal_temporal_ic=settings.signal_temporal_ic
    )
