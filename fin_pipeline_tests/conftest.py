"""Shared fixtures for the fin_pipeline test-suite."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# Hermetic settings, fixed before any fin_pipeline module reads them (settings are read once per process):
# no developer key or override leaks in, and a stray write lands in a throw-away folder, never in the
# repository's data/.
# FIN_PIPELINE_REQUIRE_BROWSER is the test-suite's own switch (CI: the browser test fails instead of skipping).
_KEEP = ("FIN_PIPELINE_SHARED_DIR", "FIN_PIPELINE_REQUIRE_BROWSER")
for _name in [n for n in os.environ if n.startswith("FIN_PIPELINE_") and n not in _KEEP]:
    del os.environ[_name]
os.environ.pop("POLYGON_API_KEY", None)
# A small universe and fold count keep the in-process Dagster tests fast; subprocess tests set their own.
os.environ["FIN_PIPELINE_UNIVERSE"] = "AAPL,MSFT,XOM"
# Three quarterly folds on the history the fold tests fetch (2018-01-02 … 2021-06-30): 2020-10-01, 2021-01-01,
# 2021-04-01; the end fixes the fold partitions (without it they run to the current quarter).
os.environ["FIN_PIPELINE_FIRST_TEST_DATE"] = "2020-10-01"
os.environ["FIN_PIPELINE_END"] = "2021-06-30"
# The report's tear sheets cost ~10 s per report; the tests that check them turn them on.
os.environ["FIN_PIPELINE_TEAR_SHEETS"] = "0"
os.environ["FIN_PIPELINE_DATA_DIR"] = tempfile.mkdtemp(prefix="fin_pipeline_test_data_")
atexit.register(shutil.rmtree, os.environ["FIN_PIPELINE_DATA_DIR"], ignore_errors=True)
# Under pytest-xdist the workers share the machine's cores: one thread each (and in every child process they
# start), since two processes with a thread per core each run far slower than one.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def shared_dir() -> Path:
    """The ``shared/`` folder with test fixtures: ``$FIN_PIPELINE_SHARED_DIR``, else ``<repo root>/../shared``.

    Locally the repo is ``/work/main`` beside ``/work/shared``; CI clones into another folder with ``shared/``
    beside the clone, so the path is resolved relative to the repo root, never hard-coded.
    """
    env = os.environ.get("FIN_PIPELINE_SHARED_DIR")
    return Path(env).expanduser().resolve() if env else (REPO_ROOT.parent / "shared").resolve()


@pytest.fixture(scope="session")
def polygon_fixtures() -> Path:
    """Folder of real Polygon API response bodies (``aggs_AAPL_day_ok.json``, ``error_bodies.json``, ...)."""
    path = shared_dir() / "fixtures" / "polygon"
    if not path.is_dir():
        pytest.fail(f"Polygon fixtures not found at {path}; set FIN_PIPELINE_SHARED_DIR to the shared/ folder")
    return path
