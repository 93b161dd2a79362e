"""Stage 1 sources of daily candles, one interface (:class:`CandleSource`), no dagster import."""

from fin_pipeline.sources.base import CandleError, CandleSource, SourceError, validate_candles
from fin_pipeline.sources.csv_dir import CsvDirectorySource
from fin_pipeline.sources.polygon import PolygonSource
from fin_pipeline.sources.synthetic import SyntheticMarket
from fin_pipeline.sources.update import CandleUpdate, update_candles

__all__ = [
    "CandleError",
    "CandleSource",
    "CandleUpdate",
    "CsvDirectorySource",
    "PolygonSource",
    "SourceError",
    "SyntheticMarket",
    "update_candles",
    "validate_candles",
]
