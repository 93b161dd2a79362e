"""Helpers of the stored-history tests: the CLI and the nightly driver in subprocesses on one store."""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from fin_pipeline.training.checkpoint import read_checkpoint
from fin_pipeline_tests.conftest import REPO_ROOT

BIN = Path(sys.executable).parent
DRIVER = [sys.executable, "-m", "fin_pipeline_tests.nightly_driver"]


def project_home(tmp_path: Path) -> Path:
    """A project-like folder: the repository's dagster.yaml, data under it."""
    shutil.copy(REPO_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    return tmp_path


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIN_PIPELINE_", "DAGSTER_HOME"))}
    env.update(
        DAGSTER_HOME=str(home),
        OMP_NUM_THREADS="1",
        FIN_PIPELINE_DATA_DIR=str(home / "data"),
        FIN_PIPELINE_TEAR_SHEETS="0",
        PYTHONPATH=str(REPO_ROOT),
    )
    env.update(extra)
    return env


def call(cmd, home, env) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=home, env=env, capture_output=True, text=True, timeout=900)


def digests(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``, by relative path."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def config_hash_of(checkpoint: Path) -> str:
    return read_checkpoint(checkpoint)["extra"]["configuration_hash"]
