"""Stored history, one training configuration, thin universes: the CLI and the nightly schedule in subprocesses on
one store (a project-like folder: the repository's dagster.yaml, data under it)."""

import datetime as dt
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from fin_pipeline.core.calendar import nyse_sessions
from fin_pipeline.core.choices import LAG
from fin_pipeline.core.settings import load_settings
from fin_pipeline.sources.base import session_dates
from fin_pipeline.sources.synthetic import SyntheticMarket
from fin_pipeline.store.parquet import read_parquet
from fin_pipeline.training.checkpoint import read_checkpoint
from fin_pipeline.training.configuration import configuration_hash, read_configuration
from fin_pipeline_tests.conftest import REPO_ROOT

BIN = Path(sys.executable).parent
DRIVER = [sys.executable, "-m", "fin_pipeline_tests.nightly_driver"]


@pytest.fixture
def home(tmp_path):
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


def test_one_configuration_for_cli_and_schedule_and_no_accidental_rewrite(home):
    """The CLI builds (two quarterly folds, tonight's live model); the schedule's night on the same store trains
    tonight's live model with the same configuration (no run config: the file). Then an end date moved back a week
    and a changed flag are refused before anything is written; ``rebuild --from`` archives and rebuilds."""
    settings = dict(
        FIN_PIPELINE_UNIVERSE="AAPL,MSFT",
        FIN_PIPELINE_START="2019-01-02",
        FIN_PIPELINE_FIRST_TEST_DATE="2021-01-01",  # 2021-01-01 (closed) and 2021-04-01 (open)
    )
    data = home / "data"
    cli = [BIN / "fin-pipeline", "run", "--epochs", "1", "--batch-size", "128"]
    first = call(cli, home, env_for(home, FIN_PIPELINE_END="2021-05-13", **settings))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    stored = read_configuration(data / "fin_pipeline.yaml")  # written by the first build, from its flags
    assert {k: stored["training"][k] for k in ("model", "epochs", "batch_size")} == {
        "model": "cnn",
        "epochs": 1,
        "batch_size": 128,
    }
    expected = configuration_hash(stored)
    assert f"2 fold(s) to train (configuration {expected}: " in first.stdout

    night = call([*DRIVER, "2021-05-14"], home, env_for(home, FIN_PIPELINE_END="2021-05-14", **settings))
    assert night.returncode == 0 and night.stdout.rstrip().endswith("done"), night.stdout[-3000:] + night.stderr
    assert "request fold_rescore_job 2021-04-01" in night.stdout and "request forecast_job 2021-05-17" in night.stdout
    trained = [data / "models" / f / "best.pt" for f in ("2021-01-01", "2021-04-01")]
    live = [data / "live" / day / "best.pt" for day in ("2021-05-14", "2021-05-17")]  # the CLI's, the schedule's
    assert {p.relative_to(data).as_posix(): config_hash_of(p) for p in [*trained, *live]} == {
        p.relative_to(data).as_posix(): expected for p in [*trained, *live]
    }

    before = digests(data)
    back = call(cli, home, env_for(home, FIN_PIPELINE_END="2021-05-07", **settings))  # one week before 05-14
    assert back.returncode == 2 and "Traceback" not in back.stdout + back.stderr, back.stdout + back.stderr
    assert (
        "fin-pipeline: the settings (FIN_PIPELINE_START=2019-01-02, FIN_PIPELINE_END=2021-05-07) would rewrite "
        "stored history: AAPL: end 2021-05-07 is earlier than the stored candles, which run to 2021-05-14: the bars "
        "after 2021-05-07 would be dropped; MSFT: end 2021-05-07" in back.stdout
    )
    assert "the stored folds 2021-04-01 and forecasts 2021-05-14, 2021-05-17 would no longer match" in back.stdout
    assert back.stdout.rstrip().endswith(
        "Nothing was written. To do it deliberately (what is replaced is archived, never deleted): "
        "fin-pipeline rebuild --from 2021-05-07"
    )
    assert digests(data) == before
    changed = call([*cli[:2], "--epochs", "2"], home, env_for(home, FIN_PIPELINE_END="2021-05-14", **settings))
    assert changed.returncode == 2 and "Traceback" not in changed.stdout + changed.stderr
    assert "training.epochs: stored 1, requested 2. Nothing was written." in changed.stdout
    assert digests(data) == before

    rebuild = [BIN / "fin-pipeline", "rebuild", "--from", "2021-05-07"]
    again = call(rebuild, home, env_for(home, FIN_PIPELINE_END="2021-05-07", **settings))
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    (archive,) = (data / "archive").iterdir()
    assert archive.name.endswith("-from-2021-05-07")
    archived = digests(archive)
    assert {
        "raw_candles/AAPL.parquet",
        "feature_windows/MSFT.parquet",
        "folds/2021-04-01.json",
        "models/2021-04-01/best.pt",
        "metrics/2021-04-01/predictions.parquet",
        "forecasts/2021-05-17.parquet",
        "live/2021-05-17/best.pt",
        "reports/report.md",
    } <= set(archived)
    assert "fin_pipeline.yaml" not in archived  # the configuration did not change: it stays
    assert all(before[rel] == sha for rel, sha in archived.items())  # moved as they were, nothing lost
    after = digests(data)
    closed = [rel for rel in before if "2021-01-01" in rel and rel.split("/")[0] in ("folds", "models", "metrics")]
    assert closed and all(after[rel] == before[rel] for rel in closed)  # the closed fold was left alone
    candles, _ = read_parquet(data / "raw_candles" / "AAPL.parquet")
    assert session_dates(candles["timestamp"]).max() == dt.date(2021, 5, 7)
    assert "Forecast for 2021-05-10 (data as of 2021-05-07" in again.stdout
    assert config_hash_of(data / "models" / "2021-04-01" / "best.pt") == expected


def test_a_thinning_csv_universe_is_named_by_the_cli_the_sensor_and_the_fold_asset(home):
    """Five tickers, two of which end a year before the others: with min_tickers 4 no fold can be cut (the CLI, the
    nightly sensor and the fold asset say why, in the same words); with min_tickers 3 the run completes. (A usable
    window needs its target: the last one of a ticker whose data ends on 06-30 ends on 06-29.)"""
    csv = home / "csv"
    csv.mkdir()
    ends = {"AAPL": "2021-06-30", "MSFT": "2021-06-30", "AMZN": "2021-06-30", "XOM": "2020-06-30", "JPM": "2020-06-30"}
    for ticker, end in ends.items():
        bars = SyntheticMarket(seed=5).fetch(ticker, dt.date(2019, 1, 2), dt.date.fromisoformat(end))
        frame = pd.DataFrame({"Date": session_dates(bars["timestamp"]).astype(str)})
        for column in ("open", "high", "low", "close", "volume"):
            frame[column.title()] = bars[column].to_numpy()
        frame.to_csv(csv / f"{ticker}.csv", index=False)
    env = env_for(
        home,
        FIN_PIPELINE_UNIVERSE=",".join(ends),
        FIN_PIPELINE_CSV_DIR=str(csv),
        FIN_PIPELINE_START="2019-01-02",
        FIN_PIPELINE_END="2021-06-30",
        FIN_PIPELINE_FIRST_TEST_DATE="2021-01-01",
    )
    cli = [BIN / "fin-pipeline", "run", "--epochs", "1", "--batch-size", "128"]
    too_many = call([*cli, "--min-tickers", "6"], home, env)
    assert too_many.returncode == 2 and "FIN_PIPELINE_MIN_TICKERS=6 must be between 2 and the universe's 5" in (
        too_many.stdout
    )
    assert not (home / "data").exists()  # refused before any write

    thin = call([*cli, "--min-tickers", "4"], home, env)
    assert thin.returncode == 1 and "Traceback" not in thin.stdout + thin.stderr, thin.stdout + thin.stderr
    (said,) = re.findall(r"^fin-pipeline: (the universe has thinned: .*)$", thin.stdout, re.MULTILINE)
    # the last day with a known target on 4 tickers: h + L sessions before their data's end (the execution's lag L)
    june = nyse_sessions(dt.date(2020, 6, 1), dt.date(2020, 6, 30))
    last_usable = f"{june[-(1 + 1 + LAG[load_settings().execution])]:%Y-%m-%d}"
    assert said == (
        "the universe has thinned: 2 of 5 tickers' data ended before 2021-06-30 (JPM on 2020-06-30, XOM on "
        "2020-06-30), leaving 3 ticker(s), fewer than min_tickers=4; a fold's test block needs 4 tickers a day, so "
        "no new fold can start: fold(s) 2021-01-01, 2021-04-01 cannot be cut (the last day on which 4 tickers have a "
        f"usable window is {last_usable}). Set FIN_PIPELINE_MIN_TICKERS (fin-pipeline run --min-tickers) to at most "
        "3, or add tickers to the universe"
    )
    assert not (home / "data" / "models").exists() and not (home / "data" / "folds").exists()
    four = {**env, "FIN_PIPELINE_MIN_TICKERS": "4"}
    night = call([*DRIVER, "2021-06-30"], home, four)
    assert night.returncode == 0 and f"skip night 2021-06-30: {said}" in night.stdout, night.stdout + night.stderr
    asset = call([*DRIVER, "run", "fold_rescore_job", "2021-01-01"], home, four)
    assert asset.returncode == 1 and f"walk_forward_folds: fold 2021-01-01: {said}" in asset.stdout, asset.stdout

    done = call([*cli, "--min-tickers", "3"], home, env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 fold(s) to train" in done.stdout and "Forecast for 2021-07-01 (data as of 2021-06-30" in done.stdout
