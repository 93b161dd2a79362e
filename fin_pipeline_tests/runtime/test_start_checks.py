"""A bad setting stops a process when it starts, naming the variable: the worker before it connects to anything,
the code location when it loads. Importing a module does not check them (a test or a notebook may import one)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fin_pipeline_tests.conftest import REPO_ROOT

# Nothing listens on port 9: a worker that went past its checks would report an unreachable broker instead.
NO_BROKER = {"FIN_PIPELINE_CELERY_BROKER": "pyamqp://guest:guest@127.0.0.1:9//"}


def python(code_or_args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *code_or_args],
        env={**os.environ, **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FIN_PIPELINE_TORCH_THREADS", "0"),
        ("FIN_PIPELINE_EXECUTOR", "spark"),
        ("FIN_PIPELINE_CELERY_BACKEND", "redis-host:6379"),
    ],
)
def test_the_worker_refuses_a_bad_setting_at_start_naming_it(variable, value):
    done = python(["-m", "fin_pipeline.runtime.workers", "-q", "dagster"], {**NO_BROKER, variable: value})
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{variable}=" in done.stderr and "unreachable" not in done.stderr, done.stderr


def test_importing_does_not_check_loading_the_code_location_does():
    bad = {"FIN_PIPELINE_TORCH_THREADS": "many"}
    imported = python(["-c", "import fin_pipeline.runtime.workers, fin_pipeline.core.settings"], bad)
    assert imported.returncode == 0, imported.stderr
    loaded = python(["-c", "import fin_pipeline.definitions"], bad)
    assert loaded.returncode != 0
    assert "SettingsError" in loaded.stderr and "FIN_PIPELINE_TORCH_THREADS='many'" in loaded.stderr, loaded.stderr
