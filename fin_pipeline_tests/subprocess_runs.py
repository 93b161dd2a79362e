"""Helpers for fault tests that drive ``fin-pipeline run`` in a subprocess (also used by benchmarks/faults.py).

A home is a temporary project-like folder: the repository's ``dagster.yaml`` (its storage paths are relative, so
the commands run from there) and ``data/`` under it. The tiny universe (two synthetic tickers, two folds, about
3.5 years) trains a fold of 6 CNN epochs in about 25 s on one core.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TINY = {
    "FIN_PIPELINE_UNIVERSE": "AAPL,MSFT",
    "FIN_PIPELINE_FOLD_PERIOD": "half",
    "FIN_PIPELINE_FIRST_TEST_DATE": "2020-07-01",  # two folds: FOLD_A (closed) and FOLD_B (to the end)
    "FIN_PIPELINE_START": "2018-01-02",
    "FIN_PIPELINE_END": "2021-06-30",
    "FIN_PIPELINE_TEAR_SHEETS": "0",  # ~10 s a report; test_cli's whole-chain run turns them on
}
FOLD_A, FOLD_B = "2020-07-01", "2021-01-01"
TRAIN_ARGS = ["--model", "cnn", "--epochs", "6", "--batch-size", "64"]


def make_home(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "dagster.yaml", path / "dagster.yaml")
    return path


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIN_PIPELINE_", "DAGSTER_HOME"))}
    env.update(TINY, OMP_NUM_THREADS="1", DAGSTER_HOME=str(home), FIN_PIPELINE_DATA_DIR=str(home / "data"))
    env.update(extra)
    return env


def start_run(home: Path, args: list[str] = TRAIN_ARGS, log: str = "run.log") -> subprocess.Popen:
    """``fin-pipeline run`` in its own process group, output to ``home/log``."""
    out = open(home / log, "w")  # noqa: SIM115 (closed with the process by the caller's wait)
    cmd = [str(BIN / "fin-pipeline"), "run", *args]
    return subprocess.Popen(
        cmd, cwd=home, env=env_for(home), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )


def run(home: Path, args: list[str] = TRAIN_ARGS, timeout: float = 600) -> subprocess.CompletedProcess:
    cmd = [str(BIN / "fin-pipeline"), "run", *args]
    return subprocess.run(cmd, cwd=home, env=env_for(home), capture_output=True, text=True, timeout=timeout)


def wait_for_epoch(
    home: Path, proc: subprocess.Popen, fold: str = FOLD_A, epoch: int = 1, timeout: float = 300
) -> tuple[str, Path]:
    """Wait until a run of ``fold`` has a ``last.pt`` with at least ``epoch`` epochs; ``(run_id, path)``."""
    from fin_pipeline.store.parquet import StorageError
    from fin_pipeline.training.checkpoint import read_checkpoint

    runs = home / "data" / "models" / fold / "runs"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the run exited ({proc.returncode}) first: {(home / 'run.log').read_text()[-3000:]}")
        for last in runs.glob("*/last.pt") if runs.is_dir() else []:
            with contextlib.suppress(StorageError, OSError, KeyError):
                if read_checkpoint(last)["epoch"] >= epoch:
                    return last.parent.name, last
        time.sleep(0.1)
    raise AssertionError(f"no {fold} last.pt with {epoch} epoch(s) after {timeout} s")


@contextlib.contextmanager
def instance_of(home: Path):
    from dagster import DagsterInstance

    with contextlib.chdir(home), DagsterInstance.from_config(str(home)) as instance:
        yield instance


def run_status(home: Path, run_id: str):
    with instance_of(home) as instance:
        return instance.get_run_by_id(run_id).status


def event_types(home: Path, run_id: str) -> list[str]:
    with instance_of(home) as instance:
        return [e.dagster_event.event_type_value for e in instance.all_logs(run_id) if e.dagster_event]


def claimed_training_slots(home: Path) -> int:
    with instance_of(home) as instance:
        return instance.event_log_storage.get_concurrency_info("training").active_slot_count


def same_checkpoint(a: dict, b: dict) -> list[str]:
    """What differs between two checkpoints' model and optimizer tensors, epoch and best score ([] if nothing)."""
    import torch

    diffs = []

    def walk(x, y, where):
        if isinstance(x, torch.Tensor):
            if not (isinstance(y, torch.Tensor) and x.shape == y.shape and torch.equal(x, y)):
                diffs.append(where)
        elif isinstance(x, dict):
            if not isinstance(y, dict) or set(x) != set(y):
                diffs.append(f"{where} keys")
            else:
                for k in x:
                    walk(x[k], y[k], f"{where}.{k}")
        elif isinstance(x, list | tuple):
            if not isinstance(y, list | tuple) or len(x) != len(y):
                diffs.append(f"{where} length")
            else:
                for i, (u, v) in enumerate(zip(x, y, strict=True)):
                    walk(u, v, f"{where}[{i}]")
        elif x != y:
            diffs.append(f"{where}: {x!r} != {y!r}")

    walk(a["model"], b["model"], "model")
    walk(a["optimizer"], b["optimizer"], "optimizer")
    for key in ("epoch", "best_score", "best_epoch"):
        walk(a[key], b[key], key)
    return diffs
