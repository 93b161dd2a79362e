"""The README's commands, in subprocesses, against a temporary Dagster instance and data directory."""

import datetime as dt
import subprocess

from dagster import DagsterRunStatus

from fin_pipeline.core.calendar import nyse_sessions
from fin_pipeline.features.frame import min_candles
from fin_pipeline_tests.cli.commands import BIN, env_for, runs_of


def test_dagster_asset_materialize_one_ticker_offline(home):
    proc = subprocess.run(
        [
            BIN / "dagster",
            "asset",
            "materialize",
            "-m",
            "fin_pipeline.definitions",
            "--select",
            "raw_candles",
            "--partition",
            "AAPL",
        ],
        cwd=home,
        env=env_for(home, DAGSTER_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (home / "data" / "raw_candles" / "AAPL.parquet").is_file()
    assert (home / "data" / "dagster" / "storage").is_dir()  # the instance lives under data/, per dagster.yaml
    assert runs_of(home) == [("AAPL", DagsterRunStatus.SUCCESS)]


def test_data_only_run_refreshes_the_universe_and_records_runs_in_the_instance(home):
    cmd = [BIN / "fin-pipeline", "run", "--tickers", "AAPL,MSFT", "--data-only"]
    proc = subprocess.run(cmd, cwd=home, env=env_for(home), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    n = str(len(nyse_sessions(dt.date(2024, 1, 2), dt.date(2024, 6, 28))))
    assert any(line.startswith(f"[data 1/2] AAPL: full, +{n} bar(s)") for line in lines), proc.stdout
    table = lines[lines.index(next(line for line in lines if line.startswith("ticker"))) :]
    windows = str(int(n) - min_candles() + 1)  # the job also builds the feature windows
    assert table[2].split() == ["AAPL", n, n, "2024-01-02", "2024-06-28", windows]
    assert sorted(runs_of(home)) == [("AAPL", DagsterRunStatus.SUCCESS), ("MSFT", DagsterRunStatus.SUCCESS)]

    again = subprocess.run(cmd, cwd=home, env=env_for(home), capture_output=True, text=True, timeout=240)
    assert again.returncode == 0 and "[data 1/2] AAPL: up to date, +0 bar(s)" in again.stdout


def test_an_unknown_execution_is_refused_before_any_work(home):
    proc = subprocess.run(
        [BIN / "fin-pipeline", "run", "--execution", "tomorrow"],
        cwd=home,
        env=env_for(home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--execution (FIN_PIPELINE_EXECUTION) 'tomorrow' is not one of" in proc.stdout
    assert not (home / "data").exists() and not runs_of(home)  # nothing fetched, no run recorded
    bad_env = subprocess.run(
        [BIN / "fin-pipeline", "run", "--data-only"],
        cwd=home,
        env=env_for(home, FIN_PIPELINE_EXECUTION="later"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad_env.returncode == 2 and "FIN_PIPELINE_EXECUTION (execution)='later'" in bad_env.stdout


def test_main_job_refuses_a_ticker_outside_the_universe(home):
    proc = subprocess.run(
        [BIN / "fin-pipeline", "run", "--tickers", "NOPE"],
        cwd=home,
        env=env_for(home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "['NOPE'] not in the universe" in proc.stdout
