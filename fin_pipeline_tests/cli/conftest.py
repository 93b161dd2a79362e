"""The CLI tests' project-like folder."""

import shutil

import pytest

from fin_pipeline_tests.conftest import REPO_ROOT


@pytest.fixture
def home(tmp_path):
    """A project-like folder: the repo's dagster.yaml, run from there, data under it."""
    shutil.copy(REPO_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    return tmp_path
