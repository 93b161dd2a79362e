"""Config before work: a bad training or fold config fails in seconds, before any data is fetched or written."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fin_pipeline.cli.preflight import ConfigError, check_folds, check_training_config
from fin_pipeline.core.settings import Settings, SettingsError
from fin_pipeline_tests.conftest import REPO_ROOT

BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--epochs", "-1"], "epochs must be >= 1, got -1"),
        (["--batch-size", "0"], "batch_size must be >= 1, got 0"),
        (["--model", "transformerzz"], "transformerzz"),
        (["--loss", "nope"], "nope"),
    ],
)
def test_bad_training_config_fails_fast_with_nothing_fetched_or_written(tmp_path, args, message):
    shutil.copy(REPO_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIN_PIPELINE_", "DAGSTER_HOME"))}
    env.update(FIN_PIPELINE_DATA_DIR=str(tmp_path / "data"), FIN_PIPELINE_UNIVERSE="AAPL,MSFT", OMP_NUM_THREADS="1")
    t0 = time.monotonic()
    proc = subprocess.run(
        [BIN / "fin-pipeline", "run", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    seconds = time.monotonic() - t0
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stdout and "rejected before any work" in proc.stdout
    assert len(proc.stdout.splitlines()) == 1 and not proc.stderr  # one line, not 270
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dagster.yaml"]  # no data, no run storage
    # The plain checks (ranges) run before torch, pandas or dagster is imported: ~0.2 s here. An unknown model or
    # loss needs torch (several seconds on this shared machine), hence the looser bound for those.
    assert seconds < (5.0 if args[0] in ("--epochs", "--batch-size") else 20.0)


def test_training_config_uses_the_assets_validation():
    assert check_training_config({"model": "cnn", "epochs": 2}).epochs == 2
    with pytest.raises(ConfigError, match="unknown training setting"):
        check_training_config({"epoch": 2})


def test_a_first_test_date_leaving_too_little_history_is_refused_naming_the_setting():
    import datetime as dt

    settings = Settings(start=dt.date(2024, 1, 2), end=dt.date(2024, 12, 31), first_test_date=dt.date(2024, 7, 1))
    with pytest.raises(SettingsError, match=r"FIN_PIPELINE_FIRST_TEST_DATE=2024-07-01 leaves 124 session\(s\)"):
        check_folds(settings)
    check_folds(Settings(start=dt.date(2010, 1, 4), end=dt.date(2024, 12, 31), first_test_date=dt.date(2022, 1, 1)))
