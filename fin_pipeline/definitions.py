"""The code location: the one ``defs`` that ``workspace.yaml``, ``dagster dev`` and the CLI load."""

from collections.abc import Mapping
from typing import Any

from dagster import Definitions

from fin_pipeline.core.settings import load_settings
from fin_pipeline.defs.assets.candles import raw_candles
from fin_pipeline.defs.assets.features import feature_windows
from fin_pipeline.defs.assets.folds import normalization_stats, walk_forward_folds
from fin_pipeline.defs.assets.live import forecasts, live_model, live_record
from fin_pipeline.defs.assets.report import walk_forward_report
from fin_pipeline.defs.assets.training import fold_metrics, trained_model
from fin_pipeline.defs.executors import executor_from_env
from fin_pipeline.defs.jobs import candles_job, fold_rescore_job, forecast_job, record_job, report_job, walk_forward_job
from fin_pipeline.defs.resources import DataStore, candle_source_resource
from fin_pipeline.defs.schedules import nightly_retrain, nightly_retrain_followup

ASSETS = [
    raw_candles,
    feature_windows,
    walk_forward_folds,
    normalization_stats,
    trained_model,
    fold_metrics,
    walk_forward_report,
    live_model,
    forecasts,
    live_record,
]


def build_definitions(resources: Mapping[str, Any]) -> Definitions:
    """The code location with the given resources (tests swap in a temporary data store or another source)."""
    return Definitions(
        assets=ASSETS,
        jobs=[candles_job, walk_forward_job, fold_rescore_job, forecast_job, record_job, report_job],
        schedules=[nightly_retrain],
        sensors=[nightly_retrain_followup],
        resources=dict(resources),
        executor=executor_from_env(),  # FIN_PIPELINE_EXECUTOR: Dagster's default, or Celery workers
    )


settings = load_settings()
defs = build_definitions(
    {"candle_source": candle_source_resource(settings), "store": DataStore(root=settings.data_root)}
)
