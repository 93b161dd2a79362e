"""A vendor hole (a ticker missing some sessions inside a fold's test block) drops that ticker from the fold's
scoring, named in the metadata; the fold is not failed."""

import datetime as dt

import pandas as pd
from dagster import DagsterInstance

from fin_pipeline.core.calendar import nyse_sessions
from fin_pipeline.evaluation.scoring import holed_tickers
from fin_pipeline.store.parquet import read_parquet
from fin_pipeline_tests.defs.assets.test_fold_versions import TRAIN
from fin_pipeline_tests.defs.assets.test_restatements import TICKERS, chain, run, vendor_files

FOLD = "2021-01-01"  # conftest: quarterly folds from 2020-10-01; this one tests 2021-01-04 … 2021-03-31
HOLE = [dt.date(2021, 2, 3), dt.date(2021, 2, 4)]


def test_holed_tickers_are_those_missing_days_between_their_first_and_last():
    days = pd.to_datetime(["2021-01-04", "2021-01-05", "2021-01-06", "2021-01-07"])
    rows = [("A", d) for d in days]  # every day
    rows += [("B", d) for d in days[[0, 1, 3]]]  # a hole on the 6th
    rows += [("C", d) for d in days[2:]]  # listed on the 6th: no hole
    rows += [("D", d) for d in days[:2]]  # delisted after the 5th: no hole
    predictions = pd.DataFrame(rows, columns=["ticker", "date"])
    assert holed_tickers(predictions) == {"B": ["2021-01-06"]}


def test_a_ticker_with_a_hole_is_dropped_from_the_fold_not_the_fold(tmp_path):
    hole = {d.isoformat() for d in HOLE}
    vendor_files(tmp_path / "csv")
    path = tmp_path / "csv" / "MSFT.csv"
    frame = pd.read_csv(path)
    frame[~frame["Date"].isin(hole)].to_csv(path, index=False)
    defs, instance = chain(tmp_path / "data", tmp_path / "csv"), DagsterInstance.ephemeral()
    candles = {"ops": {"raw_candles": {"config": {"start": "2018-01-02", "end": "2021-05-14"}}}}
    for t in TICKERS:
        run(defs, "candles_job", t, candles, instance)
    every = {"ops": {**TRAIN["ops"], "walk_forward_folds": {"config": {"min_tickers": len(TICKERS)}}}}
    result = run(defs, "walk_forward_job", FOLD, every, instance)  # a day with 2 of 3 tickers inside the block
    (event,) = result.asset_materializations_for_node("fold_metrics")
    assert event.metadata["dropped_tickers"].value == "MSFT (missing 2 test day(s): 2021-02-03, 2021-02-04)"
    predictions, _ = read_parquet(tmp_path / "data" / "metrics" / FOLD / "predictions.parquet")
    assert sorted(predictions["ticker"].astype(str).unique()) == sorted(set(TICKERS) - {"MSFT"})
    # the targets of the windows ending on the test block's sessions are known up to 2021-03-31's (h = 1)
    sessions = nyse_sessions(dt.date(2021, 1, 1), dt.date(2021, 3, 31))
    assert predictions.groupby("ticker", observed=True).size().to_dict() == {
        t: len(sessions) for t in TICKERS if t != "MSFT"
    }
    assert event.metadata["test_tickers"].value == len(TICKERS) - 1
