"""Partitions: one per ticker of the universe, one per walk-forward fold (both from settings)."""

from dagster import StaticPartitionsDefinition

from fin_pipeline.settings import load_settings
from fin_pipeline.training.splits import fold_key

ticker_partitions = StaticPartitionsDefinition(list(load_settings().universe))
fold_partitions = StaticPartitionsDefinition([fold_key(i) for i in range(load_settings().folds)])
