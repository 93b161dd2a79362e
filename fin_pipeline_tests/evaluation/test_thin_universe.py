"""A universe that thins below its minimum: the CLI, the nightly schedule and the fold asset name it
(subprocesses on one store)."""

import datetime as dt
import re

import pandas as pd
import pytest

from fin_pipeline.core.calendar import nyse_sessions
from fin_pipeline.core.choices import LAG
from fin_pipeline.core.settings import load_settings
from fin_pipeline.sources.base import session_dates
from fin_pipeline.sources.synthetic import SyntheticMarket
from fin_pipeline_tests.evaluation.store_runs import BIN, DRIVER, call, env_for, project_home


@pytest.fixture
def home(tmp_path):
    return project_home(tmp_path)


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
