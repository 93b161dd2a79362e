"""Celery workers on this machine: 2 workers x 1 torch thread against 1 worker x 2 threads, and the overhead of a
step on the Celery path against the in-process path of ``fin-pipeline run``.

Needs PostgreSQL, RabbitMQ and Redis on 127.0.0.1 (``scripts/services.sh``). Each setup gets a fresh database
and RabbitMQ vhost, dropped at the end. Candles and features are made once, in process (not timed).

- **throughput** — the 4 folds' walk-forward runs are launched at once (``dagster job execute``, Celery
  executor); throughput = folds / seconds from the first ``trained_model`` step's start to the last one's end
  (from the instance's event log), with 2 ``gpu`` workers of 1 torch thread each (pool limit 2) against 1
  ``gpu`` worker of 2 threads (pool limit 1). A default-queue worker runs the other steps in both. Goal: the
  ratio 2x1 / 1x2 >= 0.9 (no collapse from oversubscribed threads).
- **overhead** — one fold's walk-forward job (4 steps) in process, as ``fin-pipeline run`` executes it
  (``execute_in_process``, 1 torch thread), against the same job on the Celery path with warm workers (the run's
  start-to-end time in the instance, 1 torch thread): (Celery - in process) / 4 steps.

    python benchmarks/celery.py            # 3 tickers, 4 folds, CNN 2 epochs (a few minutes here)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG_ADMIN = os.environ.get("FIN_PIPELINE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKEND = "redis://127.0.0.1:6379/0"
FOLDS = ["2020-07-01", "2020-10-01", "2021-01-01", "2021-04-01"]  # quarterly folds from 2020-07-01 to --end


def fresh_db(created: list[str]) -> str:
    import psycopg2

    name = f"fin_pipeline_bench_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(PG_ADMIN)
    conn.autocommit = True
    conn.cursor().execute(f'CREATE DATABASE "{name}"')
    conn.close()
    created.append(name)
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def drop_dbs(names: list[str]) -> None:
    import psycopg2

    conn = psycopg2.connect(PG_ADMIN)
    conn.autocommit = True
    for name in names:
        conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def fresh_vhost(created: list[str]) -> str:
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        return "pyamqp://guest:guest@127.0.0.1:5672//"
    vhost = f"fin_pipeline_bench_{uuid.uuid4().hex[:10]}"
    subprocess.run([ctl, "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run([ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True, capture_output=True)
    created.append(vhost)
    return f"pyamqp://guest:guest@127.0.0.1:5672/{vhost}"


class Setup:
    """A Postgres instance (pool limit = gpu workers), a vhost, a data dir and the workers sharing them."""

    def __init__(self, base: Path, name: str, data: Path, gpu_workers: int, threads: int, env: dict, dbs, vhosts):
        self.dir = base / name
        self.dir.mkdir()
        text = (ROOT / "deploy" / "postgres" / "dagster.yaml").read_text()
        text = text.replace("base_dir: data/dagster", f"base_dir: {self.dir}/dagster")
        text = text.replace("default_limit: 1", f"default_limit: {gpu_workers}")
        (self.dir / "dagster.yaml").write_text(text)
        self.data = self.dir / "data"
        shutil.copytree(data, self.data)
        self.env = {
            **env,
            "DAGSTER_HOME": str(self.dir),
            "DAGSTER_PG_URL": fresh_db(dbs),
            "FIN_PIPELINE_DATA_DIR": str(self.data),
            "FIN_PIPELINE_EXECUTOR": "celery",
            "FIN_PIPELINE_CELERY_BROKER": fresh_vhost(vhosts),
            "FIN_PIPELINE_CELERY_BACKEND": BACKEND,
        }
        self.workers: list[subprocess.Popen] = []
        for i in range(gpu_workers):
            self.start(f"gpu{i}", "gpu", threads)
        self.start("cpu0", "dagster", 1)

    def start(self, name: str, queue: str, threads: int) -> None:
        log = self.dir / f"{name}.log"
        env = {**self.env, "FIN_PIPELINE_TORCH_THREADS": str(threads)}
        with open(log, "w") as fh:
            self.workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "fin_pipeline.runtime.workers", "-q", queue, "-n", f"{name}@%h"],
                    env=env,
                    cwd=ROOT,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + 180
        while "ready." not in log.read_text():
            if self.workers[-1].poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"worker {name} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)

    def launch(self, fold: str, train: dict) -> subprocess.Popen:
        config = self.dir / "run.json"
        config.write_text(json.dumps({"ops": {"trained_model": {"config": train}}}))
        return subprocess.Popen(
            [str(BIN / "dagster"), "job", "execute", "-m", "fin_pipeline.definitions", "-j", "walk_forward_job"]
            + ["--tags", json.dumps({"dagster/partition": fold}), "-c", str(config)],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def run_all(self, folds: list[str], train: dict) -> None:
        procs = [self.launch(f, train) for f in folds]
        for fold, proc in zip(folds, procs, strict=True):
            out, _ = proc.communicate(timeout=900)
            if proc.returncode != 0:
                raise SystemExit(f"{fold} failed on the Celery path:\n{out[-4000:]}")

    def instance(self):
        from dagster import DagsterInstance

        os.environ["DAGSTER_PG_URL"] = self.env["DAGSTER_PG_URL"]
        return DagsterInstance.from_config(str(self.dir))

    def training_span(self) -> tuple[float, float]:
        """Seconds from the first trained_model step start to the last trained_model step success, and the sum
        of the folds' training seconds (the steps' ``seconds`` metadata: epochs only, no queueing)."""
        from dagster import AssetKey, DagsterEventType

        instance = self.instance()
        starts, ends = [], []
        records = instance.fetch_materializations(AssetKey("trained_model"), limit=100).records
        trained = sum(r.asset_materialization.metadata["seconds"].value for r in records)
        for run in instance.get_runs():
            for e in instance.all_logs(run.run_id):
                if e.step_key != "trained_model" or not e.is_dagster_event:
                    continue
                if e.dagster_event_type == DagsterEventType.STEP_START:
                    starts.append(e.timestamp)
                elif e.dagster_event_type == DagsterEventType.STEP_SUCCESS:
                    ends.append(e.timestamp)
        instance.dispose()
        if len(ends) < 1:
            raise SystemExit("no trained_model step succeeded")
        return max(ends) - min(starts), trained

    def last_run_seconds(self) -> float:
        instance = self.instance()
        run = instance.get_runs(limit=1)[0]
        stats = instance.get_run_stats(run.run_id)
        instance.dispose()
        return stats.end_time - stats.launch_time if stats.launch_time else stats.end_time - stats.start_time

    def stop(self) -> None:
        for proc in self.workers:
            proc.terminate()
        for proc in self.workers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", default="AAPL,MSFT,XOM")
    parser.add_argument("--start", default="2015-01-02")
    parser.add_argument("--end", default="2021-06-30")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="fin_pipeline_bench_celery_"))
    env = {
        **os.environ,
        "FIN_PIPELINE_UNIVERSE": args.tickers,
        "FIN_PIPELINE_FIRST_TEST_DATE": FOLDS[0],
        "FIN_PIPELINE_END": args.end,
        "FIN_PIPELINE_DATA_DIR": str(base / "data"),
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
    }
    os.environ.update(
        {
            k: env[k]
            for k in (
                "FIN_PIPELINE_UNIVERSE",
                "FIN_PIPELINE_FIRST_TEST_DATE",
                "FIN_PIPELINE_END",
                "FIN_PIPELINE_DATA_DIR",
            )
        }
    )
    import torch
    from dagster import DagsterInstance

    from fin_pipeline.definitions import build_definitions
    from fin_pipeline.defs.resources import DataStore, SyntheticMarketResource

    train = {"model": "cnn", "epochs": args.epochs, "patience": 100, "batch_size": 64, "seed": 3}
    defs = build_definitions(
        {"candle_source": SyntheticMarketResource(seed=7), "store": DataStore(root=str(base / "data"))}
    )
    candles = {"ops": {"raw_candles": {"config": {"start": args.start, "end": args.end}}}}
    for ticker in args.tickers.split(","):
        assert (
            defs.resolve_job_def("candles_job")
            .execute_in_process(partition_key=ticker, run_config=candles, instance=DagsterInstance.ephemeral())
            .success
        )
    load = os.getloadavg()[0]
    dbs: list[str] = []
    vhosts: list[str] = []
    setups: list[Setup] = []
    try:
        # The in-process path, as `fin-pipeline run` executes a fold: 1 torch thread like the workers.
        torch.set_num_threads(1)
        job = defs.resolve_job_def("walk_forward_job")
        for _ in range(2):  # the first run warms the process up (imports, first torch calls): time the second
            t0 = time.perf_counter()
            inproc = job.execute_in_process(
                partition_key=FOLDS[0],
                run_config={"ops": {"trained_model": {"config": train}}},
                instance=DagsterInstance.ephemeral(),
            )
            t_inproc = time.perf_counter() - t0
            assert inproc.success

        one = Setup(base, "one_x2", base / "data", 1, 2, env, dbs, vhosts)
        setups.append(one)
        t0 = time.perf_counter()
        one.run_all(FOLDS, train)
        wall_one = time.perf_counter() - t0
        span_one, trained_one = one.training_span()
        one.stop()

        two = Setup(base, "two_x1", base / "data", 2, 1, env, dbs, vhosts)
        setups.append(two)
        t0 = time.perf_counter()
        two.run_all(FOLDS, train)
        wall_two = time.perf_counter() - t0
        span_two, trained_two = two.training_span()
        # the overhead: one more fold run on the warm 2x1 setup, alone
        t0 = time.perf_counter()
        two.run_all([FOLDS[0]], train)
        t_cli = time.perf_counter() - t0
        t_celery = two.last_run_seconds()
        two.stop()
    finally:
        for s in setups:
            s.stop()
        drop_dbs(dbs)
        ctl = shutil.which("rabbitmqctl")
        for vhost in vhosts:
            subprocess.run([ctl, "delete_vhost", vhost], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)

    after = os.getloadavg()[0]
    print(f"universe: {args.tickers} ({args.start}..{args.end}), 4 folds, CNN {args.epochs} epochs, batch 64")
    print(f"machine: {os.cpu_count()} cores; 1-min load average {load:.2f} before, {after:.2f} after")
    thr_one, thr_two = len(FOLDS) / span_one, len(FOLDS) / span_two
    print(
        f"1 gpu worker x 2 threads : 4 folds trained in {span_one:6.1f} s = {thr_one * 60:5.2f} folds/min "
        f"(4 runs launched to all done: {wall_one:.1f} s)"
    )
    print(
        f"2 gpu workers x 1 thread : 4 folds trained in {span_two:6.1f} s = {thr_two * 60:5.2f} folds/min "
        f"(4 runs launched to all done: {wall_two:.1f} s)"
    )
    ratio = thr_two / thr_one
    print(
        f"training seconds summed over the 4 folds (epochs only): 1x2 {trained_one:.1f} s, 2x1 {trained_two:.1f} s "
        f"(per fold {trained_one / 4:.1f} s vs {trained_two / 4:.1f} s; the 2x1 folds run two at a time)"
    )
    print(f"throughput ratio 2x1 / 1x2: {ratio:.2f} (goal >= 0.9)")
    overhead = (t_celery - t_inproc) / 4
    print(f"one fold (4 steps) in process (execute_in_process, as fin-pipeline run): {t_inproc:6.1f} s")
    print(
        f"one fold on the Celery path, run start to end in the instance:          {t_celery:6.1f} s "
        f"(`dagster job execute` process: {t_cli:.1f} s)"
    )
    print(f"Celery overhead per step: {overhead:.2f} s (ratio Celery/in-process {t_celery / t_inproc:.2f}x)")
    return 0 if ratio >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
