"""fin_pipeline: a Dagster code location that trains deep-learning forecasters on daily stock candles."""

__version__ = "0.1.0"
