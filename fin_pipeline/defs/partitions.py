"""Partitions: one per ticker of the universe, one per walk-forward fold (a calendar period), both from settings.

Fold partitions are Dagster time windows, one per ``FIN_PIPELINE_FOLD_PERIOD`` (month, quarter, half, year)
from ``FIN_PIPELINE_FIRST_TEST_DATE``; a key is the period's first day (``2025-07-01``) and never changes.
``end_offset=1`` includes the period under way (the open fold), so a new fold partition appears by itself when
a period begins, with no code change or restart. With ``FIN_PIPELINE_END`` set, the windows stop at the period
that contains that day (a fixed history: tests, benchmarks, a replay).
"""

from __future__ import annotations

import datetime as dt

from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetsDefinition,
    DynamicPartitionsDefinition,
    StaticPartitionsDefinition,
    TimeWindowPartitionsDefinition,
)

from fin_pipeline.core.calendar import PERIOD_CRONS, next_period_start
from fin_pipeline.core.settings import Settings, load_settings

FOLD_KEY_FORMAT = "%Y-%m-%d"


def fold_partitions_def(settings: Settings) -> TimeWindowPartitionsDefinition:
    """One partition per test period from the first test date; up to the current one, or to FIN_PIPELINE_END's."""
    end = None
    if settings.end is not None:
        stop = next_period_start(settings.end, settings.fold_period)  # the period after the one holding the end
        end = dt.datetime(stop.year, stop.month, stop.day)
    first = settings.first_test_date
    return TimeWindowPartitionsDefinition(
        start=dt.datetime(first.year, first.month, first.day),
        end=end,
        cron_schedule=PERIOD_CRONS[settings.fold_period],
        fmt=FOLD_KEY_FORMAT,
        end_offset=1,  # the period under way is a partition (the open fold); `end` still caps the windows
    )


def fold_keys_through(last_day: dt.date) -> list[str]:
    """The fold partition keys whose period has begun by ``last_day`` (the folds the data can test)."""
    return [k for k in fold_partitions.get_partition_keys() if dt.date.fromisoformat(k) <= last_day]


ticker_partitions = StaticPartitionsDefinition(list(load_settings().universe))
fold_partitions = fold_partitions_def(load_settings())
# One partition per forecast date (the session after the data's last day), added by the CLI and the nightly
# sensor when they make that night's forecast: NYSE sessions, not calendar days, so not a daily time window.
forecast_partitions = DynamicPartitionsDefinition(name="forecast_dates")


def every_partition(upstream: AssetsDefinition) -> AssetDep:
    """A dependency on all of an asset's partitions at once (a fold reads every ticker, the record every night)."""
    return AssetDep(upstream, partition_mapping=AllPartitionMapping())
