"""A run launched on Polygon data and executed by a Celery worker without ``POLYGON_API_KEY`` fails, naming the key.

The launching process (``dagster job execute``, the run's executor) has the key, so its settings choose Polygon;
the worker has none, so its own settings would choose the synthetic market. The worker must fetch from the run's
source or fail, never build synthetic candles. No request leaves: the base URL is a closed local port.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

from fin_pipeline.defs.run_source import SOURCE_CONFIG_TAG, SOURCE_TAG

from .conftest import REPO_ROOT
from .test_celery import BIN, Cluster


@pytest.fixture(scope="module")
def worker(pg_home, broker_url, tmp_path_factory):
    base = tmp_path_factory.mktemp("celery_source")
    c = Cluster(pg_home, base / "data", broker_url, base)
    assert "POLYGON_API_KEY" not in c.env  # the test session's environment has none (see the top conftest)
    c.start_worker("nokey", "dagster")
    yield c, base / "data"
    c.stop()


def test_a_polygon_run_on_a_worker_without_the_key_fails_naming_it(worker, pg_home):
    c, data = worker
    launch_env = {**c.env, "POLYGON_API_KEY": "launch-key", "FIN_PIPELINE_POLYGON_BASE_URL": "http://127.0.0.1:9"}
    done = subprocess.run(
        [str(BIN / "dagster"), "job", "execute", "-m", "fin_pipeline.definitions", "-j", "candles_job"]
        + ["--tags", json.dumps({"dagster/partition": "AAPL"})],
        env=launch_env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode != 0, done.stdout[-3000:]
    instance = DagsterInstance.from_config(str(pg_home))
    (run,) = [r for r in instance.get_runs() if r.job_name == "candles_job" and r.tags.get(SOURCE_TAG) == "polygon"]
    assert run.status == DagsterRunStatus.FAILURE
    assert "launch-key" not in run.tags[SOURCE_CONFIG_TAG]
    engine = instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT)
    assert any(e.step_key == "raw_candles" and "Submitting celery task" in e.message for e in engine)
    (failure,) = instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_FAILURE)
    message = failure.dagster_event.step_failure_data.error.message
    assert failure.step_key == "raw_candles"
    assert "POLYGON_API_KEY is not set on this worker" in message and "polygon" in message, message
    assert not instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    assert not (data / "raw_candles").exists() or not any((data / "raw_candles").iterdir())
    instance.dispose()
