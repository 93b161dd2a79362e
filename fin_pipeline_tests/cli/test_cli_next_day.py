"""The README's main job on consecutive nights, in subprocesses: one more day rescores the open fold alone."""

import subprocess

from fin_pipeline_tests.cli.commands import BIN, env_for, pipeline_files, runs_of


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
