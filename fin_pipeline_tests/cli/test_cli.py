"""The README's commands, in subprocesses, against a temporary Dagster instance and data directory."""

import contextlib
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus
from scipy.stats import spearmanr

from fin_pipeline.core.calendar import nyse_sessions
from fin_pipeline.features.frame import min_candles
from fin_pipeline.store.parquet import read_parquet
from fin_pipeline_tests.conftest import REPO_ROOT

BIN = Path(sys.executable).parent


@pytest.fixture
def home(tmp_path):
    """A project-like folder: the repo's dagster.yaml, run from there, data under it."""
    shutil.copy(REPO_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    return tmp_path


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


@pytest.mark.timeout(600)  # the board's eight model × fold runs and the leaderboard come on top of the chain
def test_main_job_runs_the_whole_chain_then_the_dagster_cli_reruns_one_fold(home):
    env = env_for(
        home,
        FIN_PIPELINE_UNIVERSE="AAPL,MSFT,AMZN,XOM",  # four: enough names a day for the factor tear sheet
        FIN_PIPELINE_FOLD_PERIOD="half",
        FIN_PIPELINE_FIRST_TEST_DATE="2020-07-01",  # two folds: 2020-07-01 and 2021-01-01
        FIN_PIPELINE_START="2018-01-02",
        FIN_PIPELINE_END="2021-06-30",
        FIN_PIPELINE_TEAR_SHEETS="1",
    )
    # The CLI's main, then whether anything imported mlflow (tracking is off unless FIN_PIPELINE_MLFLOW is set).
    script = (
        "import sys; from fin_pipeline.cli.main import main; rc = main(sys.argv[1:]); "
        "print('mlflow imported:', 'mlflow' in sys.modules); sys.exit(rc)"
    )
    cmd = [sys.executable, "-c", script, "run", "--model", "cnn", "--epochs", "2"]
    proc = subprocess.run(cmd, cwd=home, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert out.rstrip().endswith("mlflow imported: False")
    # Not a terminal: one plain progress line per epoch of each training, in order, and no control characters.
    progress = re.findall(r"^((?:fold|live) \S+) epoch (\d)/2 · ETA \S+ · run \S+ · train ", out, re.MULTILINE)
    trainings = ["fold 2020-07-01", "fold 2021-01-01", "live 2021-07-01"]
    assert progress == [(t, e) for t in trainings for e in "12"]
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", out)
    assert "[fold 2/2] 2021-01-01: test " in out and "The model per fold" in out and "All folds stitched" in out
    summary = out[out.index("The model per fold") :].splitlines()
    assert [line.split()[0] for line in summary[4:6]] == ["2020-07-01", "2021-01-01"]
    assert "nw_t" in summary[2] and "dm_p" in summary[2] and "psr" in summary[2]
    assert "Ranking skill:" in out and "Against the best baseline" in out
    assert "Capacity of the model's books (net of half-spread (Corwin–Schultz" in out and "C→0 (spread only)" in out
    # the board's four models (the configured cnn and the baselines) on both folds, then the leaderboard: four trials
    # (the board's cnn is the record's own configuration, one trial)
    assert (
        "[board 8/8] momentum on 2021-01-01: " in out and "[leaderboard] cnn, ridge, lightgbm, momentum over 2" in out
    )
    assert "Source: simulated prices: no real market" in out and "DSR over 4 trials: " in out
    assert "## Leaderboard: every model on the same folds" in (home / "data" / "reports" / "report.md").read_text()
    assert (home / "data" / "reports" / "report.md").is_file()
    jobs = sorted(runs_of(home), key=lambda run: str(run[0]))
    # the folds, the board's model × fold runs, tonight's forecast (2021-07-01, after the data's last day
    # 2021-06-30), the tickers, the leaderboard and the report
    board = [f"{fold}|{m}" for fold in ("2020-07-01", "2021-01-01") for m in ("cnn", "lightgbm", "momentum", "ridge")]
    assert [str(p) for p, _ in jobs] == [
        "2020-07-01",
        *board[:4],
        "2021-01-01",
        *board[4:],
        "2021-07-01",
        "AAPL",
        "AMZN",
        "MSFT",
        "None",
        "None",
        "XOM",
    ]
    assert "Forecast for 2021-07-01 (data as of 2021-06-30" in out
    assert {s for _, s in jobs} == {DagsterRunStatus.SUCCESS}
    assert_tear_sheets_of_the_record(home / "data" / "reports")

    before = (home / "data" / "models" / "2021-01-01" / "best.pt").stat().st_mtime_ns
    # The launchpad's training fields may only restate the training configuration the CLI recorded (2 epochs)
    config = '{"ops": {"trained_model": {"config": {"model": "cnn", "epochs": 2}}}}'
    for asset in ("trained_model", "fold_metrics"):
        proc = subprocess.run(
            [
                BIN / "dagster",
                "asset",
                "materialize",
                "-m",
                "fin_pipeline.definitions",
                "--select",
                asset,
                "--partition",
                "2021-01-01",
                "--config-json",
                config,
            ],
            cwd=home,
            env={**env, "DAGSTER_HOME": str(home)},
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (home / "data" / "models" / "2021-01-01" / "best.pt").stat().st_mtime_ns > before


def assert_tear_sheets_of_the_record(reports: Path) -> None:
    """The report's tear sheets: the returns pages of the model's books, and the factor sheet whose one-day IC per
    day is the Spearman correlation, across the day's tickers, of the stitched prediction and the next day's
    return, computed here from the stored record with scipy."""
    for book in ("model", "model_neutral", "buy_and_hold"):
        assert "quantstats" in (reports / f"returns_{book}.html").read_text().lower()
    assert (reports / "factor_tearsheet.png").read_bytes().startswith(b"\x89PNG")
    assert "## Tear sheets" in (reports / "report.md").read_text()
    record, _ = read_parquet(reports / "oos_predictions.parquet")
    daily, _ = read_parquet(reports / "factor_daily.parquet")
    alphalens_ic = daily[daily["period"] == 1].set_index("date")["ic"].dropna()
    assert len(alphalens_ic) > 100  # the record's days but the last few (their 10-day return is not known yet)
    for date, ic in alphalens_ic.items():
        day = record[record["date"] == date]
        assert ic == pytest.approx(spearmanr(day["model"], day["next_return"]).statistic, abs=1e-9), date


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


def test_the_next_run_with_one_more_day_only_rescores_the_open_fold(home):
    """The first run builds everything; the next, with two more trading days, re-scores the open fold (no training),
    leaves the closed fold alone, appends the days to the report, scores the first run's forecast, and says so.
    Two days: under the default execution (next_open) a forecast made on Wednesday's data is bought at Thursday's
    open and sold at Friday's, and a row's target is known two sessions after it."""
    env = dict(
        FIN_PIPELINE_UNIVERSE="AAPL,MSFT",
        FIN_PIPELINE_FIRST_TEST_DATE="2021-01-01",  # two quarterly folds: 2021-01-01 (closed), 2021-04-01 (open)
        FIN_PIPELINE_START="2019-01-02",
    )
    cmd = [BIN / "fin-pipeline", "run", "--model", "cnn", "--epochs", "1", "--batch-size", "128"]
    first = subprocess.run(
        cmd, cwd=home, env=env_for(home, FIN_PIPELINE_END="2021-05-12", **env), capture_output=True, text=True
    )
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "2 fold(s) to train" in first.stdout and "Out-of-sample record: a new record of" in first.stdout
    closed = home / "data" / "models" / "2021-01-01"
    before = {
        p.name: p.read_bytes()
        for p in [*closed.glob("*.pt"), *(closed.parent.parent / "metrics" / "2021-01-01").glob("*")]
    }
    model = (home / "data" / "models" / "2021-04-01" / "best.pt").read_bytes()

    second = subprocess.run(
        cmd, cwd=home, env=env_for(home, FIN_PIPELINE_END="2021-05-14", **env), capture_output=True, text=True
    )
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    out = second.stdout
    assert "+2 bar(s)" in out  # each ticker: two new sessions fetched
    assert "0 fold(s) to train" in out and "1 to re-score with new days (no training), 1 unchanged" in out
    assert "[fold 1/2] 2021-01-01: unchanged (closed), no run" in out
    assert "[fold 2/2] 2021-04-01: test 2021-04-01 … 2021-05-12 (2 tickers), re-scored, no training" in out
    # four predictions added (two days per ticker; the window of 05-12 has its target with 05-14's open)
    assert "Out-of-sample record:" in out and "unchanged (checked against the previous report); 4 added" in out
    assert {
        p.name: p.read_bytes()
        for p in [*closed.glob("*.pt"), *(closed.parent.parent / "metrics" / "2021-01-01").glob("*")]
    } == before
    assert (home / "data" / "models" / "2021-04-01" / "best.pt").read_bytes() == model
    jobs = [p for p, _ in runs_of(home)]
    # tonight's forecast; yesterday's (for 2021-05-14) was made today, years after that session opened: a replayed
    # night is listed as missed, never scored as if it had been made on time
    assert "Forecast for 2021-05-17 (data as of 2021-05-14" in out
    # the first run's forecast (for 2021-05-13) was made today, after that session; no night forecast 2021-05-14
    assert "[live record] 0 forecast day(s) scored of 2 stored; 2 missed session(s), no on-time forecast: " in out
    assert "2021-05-13 (made late (" in out and "2021-05-14 (no forecast)" in out
    assert jobs.count("2021-04-01") == 2
    # the same night again: nothing to train (the live model's version is stored), nothing written, said so
    stored = pipeline_files(home / "data")
    runs_before = runs_of(home)
    again = subprocess.run(
        cmd, cwd=home, env=env_for(home, FIN_PIPELINE_END="2021-05-14", **env), capture_output=True, text=True
    )
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "0 fold(s) to train" in again.stdout and "0 to re-score" in again.stdout
    assert "[forecast] 2021-05-17: up to date: model " in again.stdout
    assert "fin-pipeline: up to date: nothing trained, nothing written" in again.stdout
    now = pipeline_files(home / "data")
    assert [p for p in now.keys() | stored.keys() if now.get(p) != stored.get(p)] == []
    runs_after = runs_of(home)  # newest first: the two tickers' data refreshes, and no other run
    assert len(runs_after) == len(runs_before) + 2 and {p for p, _ in runs_after[:2]} == {"AAPL", "MSFT"}
    # `fin-pipeline forecast` prints tonight's forecast; once the data moves past it, it says the forecast is stale
    cmd_forecast = [BIN / "fin-pipeline", "forecast"]
    env_now = env_for(home, FIN_PIPELINE_END="2021-05-14", **env)
    shown = subprocess.run(cmd_forecast, cwd=home, env=env_now, capture_output=True, text=True)
    assert shown.returncode == 0 and "Forecast for 2021-05-17 (data as of 2021-05-14, made " in shown.stdout
    assert "Paper record: 2 missed session(s), no on-time forecast: 2021-05-13 (made late (" in shown.stdout
    assert "STALE" not in shown.stdout
    later = env_for(home, FIN_PIPELINE_END="2021-05-17", **env)
    data = subprocess.run([*cmd[:2], "--data-only"], cwd=home, env=later, capture_output=True, text=True)
    assert data.returncode == 0, data.stdout[-2000:] + data.stderr[-2000:]
    shown = subprocess.run(cmd_forecast, cwd=home, env=later, capture_output=True, text=True)
    assert (
        "STALE: this forecast was made on data as of 2021-05-14; the data now ends on 2021-05-17" in shown.stdout
        and jobs.count("2021-01-01") == 1
    )  # trained once, re-scored once; once
