"""The code location: the one ``defs`` that ``workspace.yaml``, ``dagster dev`` and the CLI load.

Everything Dagster lives in :mod:`fin_pipeline.defs`. The assets are loaded from its ``assets`` package (Dagster's
``load_assets_from_package_module``), so an asset defined in a new module there joins the code location without
being listed here; the jobs, the schedule and the sensor come from ``defs.jobs`` and ``defs.schedules``. This module
binds the resources and the executor, which depend on the settings.
"""

from collections.abc import Mapping
from typing import Any

from dagster import Definitions, load_assets_from_package_module

import fin_pipeline.defs.assets
from fin_pipeline.core.settings import load_settings
from fin_pipeline.defs import jobs, schedules
from fin_pipeline.defs.executors import executor_from_env
from fin_pipeline.defs.resources import DataStore, candle_source_resource

ASSETS = load_assets_from_package_module(fin_pipeline.defs.assets)
JOBS = [
    jobs.candles_job,
    jobs.walk_forward_job,
    jobs.fold_rescore_job,
    jobs.forecast_job,
    jobs.record_job,
    jobs.report_job,
    jobs.board_job,
    jobs.leaderboard_job,
]


def build_definitions(resources: Mapping[str, Any]) -> Definitions:
    """The code location with the given resources (tests swap in a temporary data store or another source)."""
    return Definitions(
        assets=ASSETS,
        jobs=jobs.JOBS,
        schedules=[schedules.nightly_retrain],
        sensors=[schedules.nightly_retrain_followup],
        resources=dict(resources),
        executor=executor_from_env(),  # FIN_PIPELINE_EXECUTOR: Dagster's default, or Celery workers
    )


settings = load_settings()
defs = build_definitions(
    {"candle_source": candle_source_resource(settings), "store": DataStore(root=settings.data_root)}
)
