"""The README's main job, in a subprocess: the whole chain, then the Dagster CLI reruns one fold."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterRunStatus
from scipy.stats import spearmanr

from fin_pipeline.store.parquet import read_parquet
from fin_pipeline_tests.cli.commands import BIN, env_for, runs_of


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
