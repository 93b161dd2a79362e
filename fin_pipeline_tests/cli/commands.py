"""Helpers of the CLI tests: the environment of a README command, the files and runs it leaves."""

import contextlib
import os
import sys
from pathlib import Path

from dagster import DagsterInstance

BIN = Path(sys.executable).parent


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIN_PIPELINE_", "DAGSTER_HOME"))}
    env.update(
        FIN_PIPELINE_DATA_DIR=str(home / "data"),
        FIN_PIPELINE_START="2024-01-02",
        FIN_PIPELINE_END="2024-06-28",
        FIN_PIPELINE_FIRST_TEST_DATE="2024-04-01",
        FIN_PIPELINE_TEAR_SHEETS="0",  # ~10 s a report; the whole-chain run turns them on
    )
    env.update(extra)
    return env


def pipeline_files(data: Path) -> dict[Path, tuple[int, bytes]]:
    """Every file the pipeline stored (not the Dagster instance's own storage), with its time and bytes."""
    files = [p for p in data.rglob("*") if p.is_file() and "dagster" not in p.relative_to(data).parts]
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}


def runs_of(home: Path):
    # dagster.yaml's storage paths are relative to the directory the commands run from.
    with contextlib.chdir(home), DagsterInstance.from_config(str(home)) as instance:
        return [(r.tags.get("dagster/partition"), r.status) for r in instance.get_runs()]
