"""``FIN_PIPELINE_LEASE_TTL``, the seconds an S3 fold lease outlives its last renewal: a setting like the others,
read when the settings load; a bad value is refused by name, not a traceback at import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fin_pipeline.core.settings import DEFAULT_LEASE_TTL, Settings, SettingsError
from fin_pipeline_tests.subprocess_runs import env_for, make_home


def test_the_lease_ttl_is_read_from_its_variable_and_a_bad_value_is_refused_by_name():
    assert Settings.from_env({}).lease_ttl == DEFAULT_LEASE_TTL == 900.0
    assert Settings.from_env({"FIN_PIPELINE_LEASE_TTL": "120"}).lease_ttl == 120.0
    for bad, said in (
        ("soon", "is not a number of seconds"),
        ("0", "must be a number of seconds > 0"),
        ("-5", "must be a number of seconds > 0"),
        ("nan", "must be a number of seconds > 0"),
    ):
        with pytest.raises(SettingsError, match=f"FIN_PIPELINE_LEASE_TTL=.*{said}"):
            Settings.from_env({"FIN_PIPELINE_LEASE_TTL": bad})


def test_a_command_with_a_bad_lease_ttl_exits_2_naming_the_variable(tmp_path):
    home = make_home(tmp_path / "home")
    # ``forecast`` loads the code location (the training assets included) before it reads anything stored
    proc = subprocess.run(
        [sys.executable, "-m", "fin_pipeline.cli.main", "forecast"],
        cwd=home,
        env=env_for(home, FIN_PIPELINE_LEASE_TTL="15 minutes"),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "FIN_PIPELINE_LEASE_TTL='15 minutes' is not a number of seconds" in proc.stdout
    assert "Traceback" not in proc.stderr
