"""Dagster resources: the candle source (a live Polygon twin and two offline twins) and the data store.

Each resource only builds a library object from its config; assets take them as typed parameters, and tests
swap in another twin.
"""

from __future__ import annotations

import abc
import functools
import os
from pathlib import Path

from dagster import ConfigurableResource, EnvVar, Failure
from pydantic import Field

from fin_pipeline.backtest.trials import FOLDER
from fin_pipeline.core.settings import Settings
from fin_pipeline.sources.base import CandleSource
from fin_pipeline.sources.csv_dir import CsvDirectorySource
from fin_pipeline.sources.polygon import PolygonSource
from fin_pipeline.sources.synthetic import SyntheticMarket
from fin_pipeline.store.location import LocalStore, S3Store, is_url, open_store
from fin_pipeline.store.parquet import StorageError
from fin_pipeline.training.configuration import CONFIG_FILE


class CandleSourceResource(ConfigurableResource, abc.ABC):
    """Where ``raw_candles`` gets daily bars from."""

    @abc.abstractmethod
    def build(self) -> CandleSource:
        """The library source object this resource configures."""


class SyntheticMarketResource(CandleSourceResource):
    """The embedded synthetic market (the offline default): simulated prices, not real ones."""

    seed: int = Field(default=7, description="Seed of the simulated market; the same seed gives the same bars.")
    signal_ic: float = Field(
        default=0.0,
        description="Planted information coefficient of ret_1d for the next day's return, in [0, 0.5); 0 = none.",
    )

    def build(self) -> CandleSource:
        return SyntheticMarket(seed=self.seed, signal_ic=self.signal_ic)


class PolygonResource(CandleSourceResource):
    """Polygon.io aggregates API. Give ``api_key`` as ``EnvVar('POLYGON_API_KEY')`` so the UI never shows it."""

    api_key: str = Field(description="Polygon.io API key, sent only as an Authorization: Bearer header.")
    base_url: str = Field(default="https://api.polygon.io", description="API base URL (tests use a local server).")
    requests_per_minute: float = Field(default=5.0, description="Request budget per minute; 0 = unlimited.")
    connect_timeout: float = Field(default=5.0, description="Seconds to wait for a connection.")
    read_timeout: float = Field(default=30.0, description="Seconds to wait for a response.")
    max_retries: int = Field(default=3, description="Retries on 429/5xx and connection errors, with backoff.")
    backoff_factor: float = Field(default=1.0, description="urllib3 Retry backoff factor, in seconds.")
    request_deadline: float = Field(default=60.0, description="Seconds for one request, retries and all bytes.")
    ticker_deadline: float = Field(default=180.0, description="Seconds for all pages of one ticker.")

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


class DataStore(ConfigurableResource):
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

    def raw_candles_path(self, ticker: str) -> Path:
        return self.local_root() / "raw_candles" / f"{ticker}.parquet"

    def feature_windows_path(self, ticker: str) -> Path:
        return self.local_root() / "feature_windows" / f"{ticker}.parquet"

    def fold_path(self, fold: str) -> Path:
        return self.local_root() / "folds" / f"{fold}.json"

    def normalization_path(self, fold: str) -> Path:
        return self.local_root() / "normalization" / f"{fold}.json"

    def model_dir(self, fold: str) -> Path:
        return self.local_root() / "models" / fold

    def metrics_dir(self, fold: str) -> Path:
        return self.local_root() / "metrics" / fold

    def report_dir(self) -> Path:
        return self.local_root() / "reports"

    def trials_dir(self) -> Path:
        """The trial registry (:mod:`fin_pipeline.backtest.trials`): every configuration ever scored here. It
        outlives any rebuild of the record: a trial once run stays counted."""
        return self.local_root() / FOLDER

    def live_dir(self, forecast_date: str | None = None) -> Path:
        """``live/``, or the live model of one forecast date (``live/2026-11-30``)."""
        return self.local_root() / "live" / (forecast_date or "")

    def forecast_path(self, forecast_date: str) -> Path:
        return self.local_root() / "forecasts" / f"{forecast_date}.parquet"

    def live_record_dir(self) -> Path:
        return self.local_root() / "live_record"

    def configuration_path(self) -> Path:
        """The training configuration every fold and live model of this data directory is trained with."""
        return self.local_root() / CONFIG_FILE

    def archive_dir(self) -> Path:
        """Where ``fin-pipeline rebuild`` moves what it replaces, one dated folder per rebuild."""
        return self.local_root() / "archive"


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
    return SyntheticMarketResource(seed=settings.seed, signal_ic=settings.signal_ic)
