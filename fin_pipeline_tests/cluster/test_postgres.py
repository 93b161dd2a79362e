"""The instance on PostgreSQL (deploy/postgres/dagster.yaml): runs and events land in the database."""

import psycopg2
import pytest
from dagster import DagsterInstance, DagsterRunStatus

from fin_pipeline.cli.main import main
from fin_pipeline.definitions import build_definitions
from fin_pipeline.defs.resources import DataStore, SyntheticMarketResource
from fin_pipeline.runtime.instance import check_instance
from fin_pipeline.runtime.services import ServiceUnreachable, mask_url


def test_a_job_runs_on_the_postgres_instance(pg_home, pg_url, tmp_path):
    check_instance(pg_home)
    instance = DagsterInstance.from_config(str(pg_home))
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    defs = build_definitions({"candle_source": SyntheticMarketResource(seed=7), "store": DataStore(root=str(tmp_path))})
    config = {"ops": {"raw_candles": {"config": {"start": "2020-01-02", "end": "2020-12-31"}}}}
    result = defs.resolve_job_def("candles_job").execute_in_process(
        partition_key="AAPL", run_config=config, instance=instance
    )
    assert result.success
    assert instance.get_run_by_id(result.run_id).status == DagsterRunStatus.SUCCESS
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT status FROM runs WHERE run_id = %s", (result.run_id,))
        assert cur.fetchall() == [("SUCCESS",)]
        cur.execute(
            "SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = %s",
            (result.run_id, "ASSET_MATERIALIZATION"),
        )
        assert cur.fetchone()[0] == 2  # raw_candles and feature_windows
    instance.dispose()


def test_an_unreachable_database_is_named_with_its_password_masked(tmp_path, monkeypatch, capsys):
    (tmp_path / "dagster.yaml").write_text("storage:\n  postgres:\n    postgres_url:\n      env: DAGSTER_PG_URL\n")
    url = "postgresql://trader:s3cret@127.0.0.1:1/dagster"
    monkeypatch.setenv("DAGSTER_PG_URL", url)
    with pytest.raises(ServiceUnreachable) as err:
        check_instance(tmp_path)
    assert "postgresql://trader:***@127.0.0.1:1/dagster" in str(err.value) and "s3cret" not in str(err.value)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    assert main(["run"]) == 2  # the CLI stops before any run is created
    out = capsys.readouterr().out
    assert "PostgreSQL instance storage postgresql://trader:***@127.0.0.1:1/dagster is unreachable" in out
    assert "s3cret" not in out


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("pyamqp://guest:guest@127.0.0.1:5672//", "pyamqp://guest:***@127.0.0.1:5672//"),
        ("redis://:pw@10.0.0.1:6379/0", "redis://:***@10.0.0.1:6379/0"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_mask_url(url, masked):
    assert mask_url(url) == masked


def test_doctor_lists_and_frees_the_slot_of_a_dead_run_on_the_postgres_instance(pg_home):
    """The shipped deploy/postgres/dagster.yaml: run monitoring on, the run launcher checks run workers, and
    `fin-pipeline doctor` sees the pool slots in PostgreSQL."""
    import subprocess

    from dagster._core.storage.dagster_run import DagsterRun

    from fin_pipeline.runtime.doctor import PID_TAG, START_TAG, doctor, process_tags
    from fin_pipeline.runtime.launcher import ProcessCheckedRunLauncher

    instance = DagsterInstance.from_config(str(pg_home))
    assert instance.run_monitoring_enabled and isinstance(instance.run_launcher, ProcessCheckedRunLauncher)
    assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0
    storage = instance.event_log_storage
    storage.set_concurrency_slots("training", 1)
    gone = subprocess.Popen(["true"])
    gone.wait()
    tags = {**process_tags(), PID_TAG: str(gone.pid), START_TAG: "", "dagster/partition": "2021-01-01"}
    dead = instance.add_run(DagsterRun(job_name="walk_forward_job", status=DagsterRunStatus.STARTED, tags=tags))
    assert storage.claim_concurrency_slot("training", dead.run_id, "trained_model").is_claimed

    listed = doctor(instance, pg_home, repair=False)
    (held,) = [line for line in listed if "slot held" in line]
    assert held.startswith("pool 'training' (limit 1): slot held by trained_model of run " + dead.run_id)
    assert "(walk_forward_job 2021-01-01, STARTED, pid" in held and "process gone" in held

    repaired = doctor(instance, pg_home, repair=True)
    assert any(dead.run_id in line and "pool slots freed" in line for line in repaired)
    assert instance.get_run_by_id(dead.run_id).status == DagsterRunStatus.FAILURE
    assert storage.get_concurrency_info("training").active_slot_count == 0
    instance.dispose()
