"""The walk-forward job on the Celery executor: 2 worker processes, the Postgres instance, real RabbitMQ/Redis.

A ``gpu`` worker and a default-queue worker: the training steps can only have run in the first, every other
step only in the second. The results equal an in-process run's; a worker SIGKILLed mid-fold loses nothing; a step
whose only worker was SIGKILLed is given up within FIN_PIPELINE_WORKER_WAIT, its pool slot freed; a Redis broker is
refused by name.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus

from fin_pipeline.core.settings import load_settings
from fin_pipeline.definitions import build_definitions
from fin_pipeline.defs.resources import DataStore, SyntheticMarketResource
from fin_pipeline.store.parquet import read_parquet

from .conftest import REPO_ROOT

# The workers must see the universe this process sees (the test session's, see the top conftest).
TICKERS = ",".join(load_settings().universe)
CANDLES = {"ops": {"raw_candles": {"config": {"start": "2018-01-02", "end": "2021-06-30"}}}}
TRAIN = {"model": "cnn", "epochs": 2, "batch_size": 64, "seed": 3}
KILL_TRAIN = {**TRAIN, "epochs": 8, "patience": 100, "batch_size": 32}
BIN = Path(sys.executable).parent


def make_defs(root):
    return build_definitions({"candle_source": SyntheticMarketResource(seed=7), "store": DataStore(root=str(root))})


def in_process(root, job, partition, run_config):
    torch.set_num_threads(1)  # as the workers: the same arithmetic, bit for bit
    result = (
        make_defs(root)
        .resolve_job_def(job)
        .execute_in_process(partition_key=partition, run_config=run_config, instance=DagsterInstance.ephemeral())
    )
    assert result.success
    return result


class Cluster:
    """Worker processes and `dagster job execute` runs sharing one environment (data dir, instance, broker)."""

    def __init__(self, home: Path, data: Path, broker: str, logs: Path):
        self.logs = logs
        self.env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "FIN_PIPELINE_DATA_DIR": str(data),
            "FIN_PIPELINE_UNIVERSE": TICKERS,
            "FIN_PIPELINE_FIRST_TEST_DATE": "2020-10-01",  # three quarterly folds, as in conftest
            "FIN_PIPELINE_END": "2021-06-30",
            "FIN_PIPELINE_EXECUTOR": "celery",
            "FIN_PIPELINE_CELERY_BROKER": broker,
            "FIN_PIPELINE_CELERY_BACKEND": "redis://127.0.0.1:6379/0",
            "FIN_PIPELINE_TORCH_THREADS": "1",
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        }
        self.workers: dict[str, subprocess.Popen] = {}

    def start_worker(self, name: str, queue: str) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            [sys.executable, "-m", "fin_pipeline.runtime.workers", "-q", queue, "-n", f"{name}@%h", "-l", "INFO"],
            env=self.env,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers[name] = proc
        deadline = time.monotonic() + 120
        while "ready." not in (self.logs / f"{name}.log").read_text():
            assert proc.poll() is None, (self.logs / f"{name}.log").read_text()
            assert time.monotonic() < deadline, f"worker {name} did not start"
            time.sleep(0.5)
        return proc

    def launch(self, partition: str, train: dict, env: dict | None = None) -> subprocess.Popen:
        config = self.logs / f"run_{partition}.json"
        config.write_text(json.dumps({"ops": {"trained_model": {"config": train}}}))
        return subprocess.Popen(
            [str(BIN / "dagster"), "job", "execute", "-m", "fin_pipeline.definitions", "-j", "walk_forward_job"]
            + ["--tags", json.dumps({"dagster/partition": partition}), "-c", str(config)],
            env={**self.env, **(env or {})},
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def stop(self):
        for proc in self.workers.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.workers.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def cluster(pg_home, broker_url, tmp_path_factory):
    base = tmp_path_factory.mktemp("celery")
    ref, data, logs = base / "ref", base / "data", base / "logs"
    logs.mkdir()
    for ticker in TICKERS.split(","):  # the same candles and features for both
        in_process(ref, "candles_job", ticker, CANDLES)
    for sub in ("raw_candles", "feature_windows"):
        shutil.copytree(ref / sub, data / sub)
    c = Cluster(pg_home, data, broker_url, logs)
    c.start_worker("gpu1", "gpu")
    c.start_worker("cpu1", "dagster")
    yield c, ref, data
    c.stop()


def training_slots(instance) -> int:
    return instance.event_log_storage.get_concurrency_info("training").active_slot_count


def step_starts(instance, run_id, step="trained_model") -> list[float]:
    return [e.timestamp for e in instance.all_logs(run_id, of_type=DagsterEventType.STEP_START) if e.step_key == step]


def wait_for_last_pt(c, instance, data, fold, proc):
    """The run of ``fold`` once its first epoch's last.pt is written."""
    deadline = time.monotonic() + 300
    while True:
        runs = runs_of(instance, fold)
        if runs and (data / "models" / fold / "runs" / runs[0].run_id / "last.pt").is_file():
            return runs[0]
        assert proc.poll() is None, proc.communicate()[0][-4000:]
        assert time.monotonic() < deadline, "the training step did not start"
        time.sleep(0.1)


def set_aside_configuration(*stores):
    """A deliberate change of the training configuration: its file is moved aside first (as `fin-pipeline rebuild`
    archives it), so that the run records the test's."""
    for store in stores:
        stored = store / "fin_pipeline.yaml"
        if stored.is_file():  # absent when a test runs alone
            stored.rename(stored.with_name(f"fin_pipeline.yaml.before_{time.monotonic_ns()}"))


def runs_of(instance, partition):
    return [r for r in instance.get_runs() if r.tags.get("dagster/partition") == partition]


def materialization(instance, run_id, asset):
    for rec in instance.fetch_materializations(AssetKey(asset), limit=100).records:
        if rec.run_id == run_id:
            return {k: v.value for k, v in rec.asset_materialization.metadata.items()}
    raise AssertionError(f"no materialization of {asset} in run {run_id}")


def assert_same_tensors(a: Path, b: Path):
    ca, cb = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    assert (ca["epoch"], ca["best_score"]) == (cb["epoch"], cb["best_score"])
    assert ca["model"].keys() == cb["model"].keys()
    assert all(torch.equal(ca["model"][k], cb["model"][k]) for k in ca["model"])
    oa, ob = ca["optimizer"]["state"], cb["optimizer"]["state"]
    assert all(torch.equal(oa[i][k], ob[i][k]) for i in oa for k in oa[i] if torch.is_tensor(oa[i][k]))


def test_walk_forward_on_celery_workers_matches_the_in_process_run(cluster, pg_home):
    c, ref, data = cluster
    folds = ["2020-10-01", "2021-01-01"]
    for fold in folds:
        proc = c.launch(fold, TRAIN)
        out, _ = proc.communicate(timeout=400)
        assert proc.returncode == 0, out[-4000:]
        in_process(ref, "walk_forward_job", fold, {"ops": {"trained_model": {"config": TRAIN}}})
    instance = DagsterInstance.from_config(str(pg_home))
    gpu_pid, cpu_pid = c.workers["gpu1"].pid, c.workers["cpu1"].pid
    for fold in folds:
        (run,) = runs_of(instance, fold)
        assert run.status == DagsterRunStatus.SUCCESS
        stats = instance.get_run_stats(run.run_id)
        assert (stats.steps_succeeded, stats.steps_failed) == (4, 0)
        meta = materialization(instance, run.run_id, "trained_model")
        assert meta["worker_pid"] == gpu_pid and meta["worker_pid"] not in (os.getpid(), cpu_pid)
        assert meta["torch_threads"] == 1
        # every step was handed to a worker, on the queue its tags name
        logs = instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT)
        submitted = {e.step_key: e.message for e in logs if e.message.startswith("Submitting celery task")}
        assert submitted["trained_model"].endswith('to queue "gpu".')
        assert all(m.endswith('to queue "dagster".') for k, m in submitted.items() if k != "trained_model")
        assert len(submitted) == 4
        for name in ("best.pt", "last.pt"):
            assert_same_tensors(data / "models" / fold / name, ref / "models" / fold / name)
        got, _ = read_parquet(data / "metrics" / fold / "metrics.parquet")
        want, _ = read_parquet(ref / "metrics" / fold / "metrics.parquet")
        assert got.equals(want)
    instance.dispose()


def test_a_worker_killed_mid_fold_loses_nothing(cluster, pg_home):
    """SIGKILL the worker training a fold: its task goes to the other gpu worker, which resumes from last.pt."""
    c, ref, data = cluster
    c.start_worker("gpu2", "gpu")
    fold = "2021-04-01"
    set_aside_configuration(data, ref)  # KILL_TRAIN trains longer than the folds above
    proc = c.launch(fold, KILL_TRAIN)
    instance = DagsterInstance.from_config(str(pg_home))
    runs = [wait_for_last_pt(c, instance, data, fold, proc)]
    run_id = runs[0].run_id
    (started,) = [
        e
        for e in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)
        if e.step_key == "trained_model" and "in celery worker" in e.message
    ]
    victim = started.dagster_event.engine_event_data.metadata["Celery worker"].value.split("@")[0]
    survivor = ({"gpu1", "gpu2"} - {victim}).pop()
    killed = time.time()
    os.kill(c.workers[victim].pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=400)
    assert proc.returncode == 0, out[-4000:]
    assert c.workers[victim].wait(timeout=10) == -signal.SIGKILL
    (again,) = [t for t in step_starts(instance, run_id) if t > killed]  # the step ran again, once
    print(f"RabbitMQ: SIGKILL of the worker to the step running again on the survivor: {again - killed:.1f} s")
    assert training_slots(instance) == 0

    assert instance.get_run_by_id(run_id).status == DagsterRunStatus.SUCCESS
    meta = materialization(instance, run_id, "trained_model")
    assert meta["worker_pid"] == c.workers[survivor].pid
    messages = [e.message for e in instance.all_logs(run_id)]
    assert any("resuming from" in m and f"runs/{run_id}/last.pt" in m for m in messages)
    in_process(ref, "walk_forward_job", fold, {"ops": {"trained_model": {"config": KILL_TRAIN}}})
    for name in ("best.pt", "last.pt"):
        assert_same_tensors(data / "models" / fold / name, ref / "models" / fold / name)
    instance.dispose()


def test_an_unreachable_broker_fails_the_run_at_once_naming_it(cluster, pg_home):
    c, _, _ = cluster
    broker = "pyamqp://guest:s3cret@127.0.0.1:1//"
    t0 = time.monotonic()
    proc = c.launch("2020-10-01", TRAIN, env={"FIN_PIPELINE_CELERY_BROKER": broker})
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0
    instance = DagsterInstance.from_config(str(pg_home))
    run = runs_of(instance, "2020-10-01")[0]  # the newest
    assert run.status == DagsterRunStatus.FAILURE  # not left STARTED
    assert instance.get_run_stats(run.run_id).steps_succeeded == 0
    errors = [str(e.dagster_event.event_specific_data) for e in instance.all_logs(run.run_id) if e.is_dagster_event]
    text = "\n".join(errors) + out
    assert "Celery broker pyamqp://guest:***@127.0.0.1:1// is unreachable" in text
    assert "s3cret" not in text
    assert time.monotonic() - t0 < 120
    instance.dispose()


def test_a_step_whose_only_worker_was_killed_is_given_up_and_its_slot_freed(cluster, pg_home):
    """RabbitMQ, no other worker on the gpu queue: the run says it waits for one, then fails naming the queue within
    FIN_PIPELINE_WORKER_WAIT; a worker started afterwards skips the task of the ended run."""
    c, ref, data = cluster
    gpu = [n for n in ("gpu1", "gpu2") if n in c.workers and c.workers[n].poll() is None]
    for name in gpu[1:]:  # one gpu worker left
        c.workers[name].terminate()
        c.workers[name].wait(timeout=60)
    fold = "2020-10-01"
    set_aside_configuration(data)
    proc = c.launch(fold, KILL_TRAIN, env={"FIN_PIPELINE_WORKER_WAIT": "20"})
    instance = DagsterInstance.from_config(str(pg_home))
    before = {r.run_id for r in runs_of(instance, fold)}
    deadline = time.monotonic() + 300
    while True:  # until this run's first epoch is written
        runs = [r for r in runs_of(instance, fold) if r.run_id not in before]
        if runs and (data / "models" / fold / "runs" / runs[0].run_id / "last.pt").is_file():
            break
        assert proc.poll() is None, proc.communicate()[0][-4000:]
        assert time.monotonic() < deadline, "the training step did not start"
        time.sleep(0.1)
    run_id = runs[0].run_id
    assert training_slots(instance) == 1
    killed = time.time()
    os.kill(c.workers[gpu[0]].pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=300)
    ended = time.time()

    assert proc.returncode != 0
    run = instance.get_run_by_id(run_id)
    assert run.status == DagsterRunStatus.FAILURE
    assert training_slots(instance) == 0
    messages = "\n".join(e.message for e in instance.all_logs(run_id)) + out
    assert "trained_model waits for a worker on Celery queue 'gpu': none consumes it" in messages
    assert "trained_model was given up: no worker consumed Celery queue 'gpu' for " in messages
    assert "start one with `fin-pipeline-worker --queue gpu`" in messages
    print(f"RabbitMQ, no other worker: SIGKILL to the run failed and its slot free: {ended - killed:.1f} s (wait 20 s)")

    c.start_worker("gpu3", "gpu")  # the task is still queued: the new worker skips it, the run being over
    deadline = time.monotonic() + 60
    while (
        f"skipped trained_model of run {run_id}: the run already ended FAILURE" not in (c.logs / "gpu3.log").read_text()
    ):
        assert time.monotonic() < deadline, (c.logs / "gpu3.log").read_text()[-3000:]
        time.sleep(0.5)
    assert [e for e in instance.all_logs(run_id, of_type=DagsterEventType.STEP_START) if e.timestamp > ended] == []
    instance.dispose()


def test_a_redis_broker_is_refused_saying_why(cluster, pg_home):
    c, _, _ = cluster
    broker = "redis://:s3cret@127.0.0.1:6379/0"
    worker = subprocess.run(
        [sys.executable, "-m", "fin_pipeline.runtime.workers", "-q", "gpu"],
        env={**c.env, "FIN_PIPELINE_CELERY_BROKER": broker},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert worker.returncode == 2
    refusal = "Celery broker redis://:***@127.0.0.1:6379/0 is refused: Redis re-delivers the task of a worker"
    assert refusal in worker.stderr and "pyamqp://" in worker.stderr and "s3cret" not in worker.stderr

    proc = c.launch("2020-10-01", TRAIN, env={"FIN_PIPELINE_CELERY_BROKER": broker})
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0
    instance = DagsterInstance.from_config(str(pg_home))
    run = runs_of(instance, "2020-10-01")[0]  # the newest
    assert run.status == DagsterRunStatus.FAILURE
    assert instance.get_run_stats(run.run_id).steps_succeeded == 0
    errors = [str(e.dagster_event.event_specific_data) for e in instance.all_logs(run.run_id) if e.is_dagster_event]
    assert refusal in "\n".join(errors) + out and "s3cret" not in "\n".join(errors) + out
    assert training_slots(instance) == 0
    instance.dispose()
