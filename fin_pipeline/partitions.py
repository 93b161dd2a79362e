"""Partitions: one per ticker of the universe (from settings)."""

from dagster import StaticPartitionsDefinition

from fin_pipeline.settings import load_settings

ticker_partitions = StaticPartitionsDefinition(list(load_settings().universe))
