"""Stored folds on a CSV universe: float noise in re-delivered files changes nothing; a real split re-adjustment
keeps the closed folds as recorded, retrains the open fold on the restated data, and the report says so in a line;
a plan that would move stored folds is refused; folds of different training configurations are not stitched
unless asked for.

The conftest's folds are the quarters 2020-10-01, 2021-01-01 and 2021-04-01; the chain is built as of Friday
2021-05-14 (the last fold open), then vendor files are re-delivered with the next sessions.
"""

import datetime as dt
import shutil

import numpy as np
import pandas as pd
import pytest
from dagster import DagsterInstance, materialize

from fin_pipeline.core.settings import load_settings
from fin_pipeline.definitions import build_definitions
from fin_pipeline.defs.assets.training import trained_model
from fin_pipeline.defs.assets.universe import data_fold_keys, load_universe
from fin_pipeline.defs.resources import CsvDirectoryResource, DataStore
from fin_pipeline.evaluation.nightly import plan_folds
from fin_pipeline.sources.base import session_dates
from fin_pipeline.sources.synthetic import SyntheticMarket
from fin_pipeline.store.parquet import read_parquet
from fin_pipeline.training.folds import FoldSpec
from fin_pipeline_tests.defs.assets.test_fold_versions import CLOSED, OPEN, TRAIN, fold_bytes, materializations

TICKERS = list(load_settings().universe)
DAY, NEXT = "2021-05-14", "2021-05-17"
PRICES = ("Open", "High", "Low", "Close")


def candles(end):
    return {"ops": {"raw_candles": {"config": {"start": "2018-01-02", "end": end}}}}


def vendor_files(folder, prices=lambda t, p: p, volume=lambda t, v: v):
    """One vendor CSV per ticker (the synthetic market's bars to 2021-06-30), prices and volume mapped."""
    folder.mkdir(exist_ok=True)
    for ticker in TICKERS:
        bars = SyntheticMarket(seed=7).fetch(ticker, dt.date(2018, 1, 2), dt.date(2021, 6, 30))
        frame = pd.DataFrame({"Date": session_dates(bars["timestamp"]).astype(str)})
        for column in PRICES:
            frame[column] = prices(ticker, bars[column.lower()].to_numpy())
        frame["Volume"] = volume(ticker, bars["volume"].to_numpy())
        frame.to_csv(folder / f"{ticker}.csv", index=False)


def chain(root, csv_dir):
    return build_definitions(
        {"candle_source": CsvDirectoryResource(directory=str(csv_dir)), "store": DataStore(root=str(root))}
    )


def run(defs, job, partition, run_config, instance):
    result = defs.resolve_job_def(job).execute_in_process(
        partition_key=partition, run_config=run_config, instance=instance, raise_on_error=False
    )
    assert result.success, [e.step_failure_data.error.message for e in result.get_step_failure_events()]
    return result


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The chain on clean vendor files as of DAY: every fold trained, the report written."""
    base = tmp_path_factory.mktemp("restated")
    vendor_files(base / "csv")
    defs, instance = chain(base / "data", base / "csv"), DagsterInstance.ephemeral()
    for t in TICKERS:
        run(defs, "candles_job", t, candles(DAY), instance)
    for fold in [*CLOSED, OPEN]:
        run(defs, "walk_forward_job", fold, TRAIN, instance)
    run(defs, "report_job", None, {}, instance)
    return base


def copy(built, tmp_path):
    shutil.copytree(built / "data", tmp_path / "data")
    return tmp_path / "data"


def plan(defs):
    store = defs.resources["store"]
    universe = load_universe(store, "test")
    spec = FoldSpec(first_test_date=dt.date(2020, 10, 1))
    return {p.fold: p for p in plan_folds(universe.windows, spec, store, data_fold_keys(universe))}


def test_float_noise_in_redelivered_files_retrains_nothing(built, tmp_path):
    root = copy(built, tmp_path)
    stored = {t: read_parquet(root / "raw_candles" / f"{t}.parquet")[0] for t in TICKERS}
    # every price multiplied by 4 (the file keeps 6 decimals) and divided back: noise of ~1e-9 relative
    vendor_files(tmp_path / "csv", prices=lambda t, p: np.round(p * 4, 6) / 4)
    again = pd.read_csv(tmp_path / "csv" / "AAPL.csv")["Close"].to_numpy()
    clean = SyntheticMarket(seed=7).fetch("AAPL", dt.date(2018, 1, 2), dt.date(2021, 6, 30))["close"].to_numpy()
    assert 0 < np.abs(again / clean - 1).max() < 1e-6
    defs, instance = chain(root, tmp_path / "csv"), DagsterInstance.ephemeral()
    for t in TICKERS:
        run(defs, "candles_job", t, candles(NEXT), instance)
        new, meta = read_parquet(root / "raw_candles" / f"{t}.parquet")
        pd.testing.assert_frame_equal(new.iloc[: len(stored[t])], stored[t], check_exact=True)  # the stored bars
        assert len(new) == len(stored[t]) + 1 and "restatements" not in meta
    plans = plan(defs)
    assert {f: p.action for f, p in plans.items()} == {CLOSED[0]: "skip", CLOSED[1]: "skip", OPEN: "rescore"}
    assert not any(p.restated for p in plans.values())


def test_a_split_readjustment_keeps_closed_folds_and_the_report_says_so(built, tmp_path):
    root = copy(built, tmp_path)
    closed_before = {f: fold_bytes(root, f) for f in CLOSED}
    # AAPL splits 4:1 after DAY: the re-delivered adjusted history is a quarter of every price, four times the volume
    vendor_files(
        tmp_path / "csv",
        prices=lambda t, p: p / 4 if t == "AAPL" else p,
        volume=lambda t, v: v * 4 if t == "AAPL" else v,
    )
    defs, instance = chain(root, tmp_path / "csv"), DagsterInstance.ephemeral()
    for t in TICKERS:
        run(defs, "candles_job", t, candles(NEXT), instance)
    _, meta = read_parquet(root / "raw_candles" / "AAPL.parquet")
    assert meta["restatements"] == [{"first": "2018-01-02", "last": DAY, "bars": len(session_range()), "seen": DAY}]
    plans = plan(defs)
    assert {f: p.action for f, p in plans.items()} == {CLOSED[0]: "skip", CLOSED[1]: "skip", OPEN: "train"}
    assert [f for f, p in plans.items() if p.restated] == CLOSED  # kept as recorded, said so
    counts = materializations(instance, CLOSED)
    run(defs, "walk_forward_job", OPEN, TRAIN, instance)  # the open fold on the restated data
    result = run(defs, "report_job", None, {}, instance)
    assert {f: fold_bytes(root, f) for f in CLOSED} == closed_before  # byte-identical
    assert materializations(instance, CLOSED) == counts
    (event,) = result.asset_materializations_for_node("walk_forward_report")
    open_rows = read_parquet(built / "data" / "metrics" / OPEN / "predictions.parquet")[0]
    assert event.metadata["restated_rows"].value == len(open_rows)  # the open fold's earlier days, re-predicted
    line = (
        f"Restated history (prices re-adjusted beyond a relative 1e-06, e.g. a split or dividend): AAPL 2018-01-02 "
        f"… {DAY} ({len(session_range())} bar(s), seen after {DAY}). Closed folds and past forecasts are kept as "
        f"they were (a record of what was known then); the open fold {OPEN} and the live model use the restated data."
    )
    assert line in (root / "reports" / "report.md").read_text()
    # a closed fold materialized by hand is refused too, naming the deliberate command
    failed = defs.resolve_job_def("fold_rescore_job").execute_in_process(
        partition_key=CLOSED[0], instance=instance, raise_on_error=False
    )
    message = failed.get_step_failure_events()[0].step_failure_data.error.message
    assert "kept as recorded" in message and f"fin-pipeline rebuild --from {CLOSED[0]}" in message
    # and so does each fold asset materialized on its own (here the model: it would train on the restated rows)
    alone = materialize(
        [trained_model],
        partition_key=CLOSED[1],
        resources={"store": defs.resources["store"]},
        run_config=TRAIN,
        instance=instance,
        raise_on_error=False,
    )
    message = alone.get_step_failure_events()[0].step_failure_data.error.message
    assert f"trained_model[{CLOSED[1]}]: the fold is closed and its rows were restated since it was scored" in message
    assert {f: fold_bytes(root, f) for f in CLOSED} == closed_before


def session_range():
    from fin_pipeline.core.calendar import nyse_sessions

    return nyse_sessions(dt.date(2018, 1, 2), dt.date.fromisoformat(DAY))


def test_a_plan_that_would_move_stored_folds_is_refused_before_any_write(built, tmp_path):
    """A changed fold rule (here min_tickers 2 -> 3, every ticker a day) would move every stored fold's blocks:
    the plan refuses the night, naming each fold, what would move, and the deliberate command."""
    from fin_pipeline.evaluation.nightly import check_plans
    from fin_pipeline.sources.update import HistoryRewrite

    root = copy(built, tmp_path)
    before = {f: fold_bytes(root, f) for f in [*CLOSED, OPEN]}
    defs = chain(root, built / "csv")
    store = defs.resources["store"]
    universe = load_universe(store, "test")
    spec = FoldSpec(first_test_date=dt.date(2020, 10, 1), min_tickers=3)
    plans = plan_folds(universe.windows, spec, store, data_fold_keys(universe))
    assert [p.action for p in plans] == ["refuse"] * 3
    with pytest.raises(HistoryRewrite) as refused:
        check_plans(plans)
    message = str(refused.value)
    assert message.startswith(
        f"this run would rewrite stored folds: fold {CLOSED[0]}: its closed blocks would move: min_tickers 2 -> 3; "
    )
    assert f"fold {OPEN}: its blocks would move: min_tickers 2 -> 3" in message  # the open one too
    assert message.endswith(
        f"Nothing was written. To rebuild them deliberately (what is replaced is archived, never "
        f"deleted): fin-pipeline rebuild --from {CLOSED[0]}"
    )
    # the fold asset refuses the same, before it writes
    failed = defs.resolve_job_def("fold_rescore_job").execute_in_process(
        partition_key=CLOSED[1],
        run_config={"ops": {"walk_forward_folds": {"config": {"min_tickers": 3}}}},
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert f"fold {CLOSED[1]}: its closed blocks would move: min_tickers 2 -> 3" in (
        failed.get_step_failure_events()[0].step_failure_data.error.message
    )
    assert {f: fold_bytes(root, f) for f in [*CLOSED, OPEN]} == before


def test_the_report_refuses_folds_of_different_configurations_unless_told_to(built, tmp_path):
    """A fold trained with another configuration (as `rebuild --from` with new flags leaves the earlier folds): the
    report names the folds of each configuration and refuses, unless allow_mixed_configurations."""
    from fin_pipeline.store.parquet import read_json, write_json
    from fin_pipeline.training.configuration import configuration_hash

    root = copy(built, tmp_path)
    path = root / "metrics" / OPEN / "scored.json"
    scored = read_json(path)
    old = configuration_hash(scored["configuration"])
    scored["configuration"]["training"]["epochs"] = 2
    new = configuration_hash(scored["configuration"])
    write_json(scored, path)
    defs, instance = chain(root, built / "csv"), DagsterInstance.ephemeral()
    failed = defs.resolve_job_def("report_job").execute_in_process(instance=instance, raise_on_error=False)
    message = failed.get_step_failure_events()[0].step_failure_data.error.message
    assert (
        f"the folds were trained with 2 different training configurations (configuration {old}: folds {CLOSED[0]}, "
        f"{CLOSED[1]}; configuration {new}: folds {OPEN})" in message
    )
    allow = {"ops": {"walk_forward_report": {"config": {"allow_mixed_configurations": True}}}}
    run(defs, "report_job", None, allow, instance)
    line = (
        f"Mixed training configurations, stitched on request: configuration {old}: folds {CLOSED[0]}, {CLOSED[1]}; "
        f"configuration {new}: folds {OPEN}."
    )
    assert line in (root / "reports" / "report.md").read_text()


def test_a_run_config_that_differs_from_the_configuration_is_refused_before_the_job_writes(built, tmp_path):
    """A UI launch of a fold's job with other training fields: refused by name at its first step, nothing written."""
    root = copy(built, tmp_path)
    before = {f: fold_bytes(root, f) for f in [*CLOSED, OPEN]}
    defs, instance = chain(root, built / "csv"), DagsterInstance.ephemeral()
    config = TRAIN["ops"]["trained_model"]["config"]
    other = {"ops": {"trained_model": {"config": {**config, "epochs": 2, "model_options": {"dropout": 0.3}}}}}
    failed = defs.resolve_job_def("walk_forward_job").execute_in_process(
        partition_key=OPEN, run_config=other, instance=instance, raise_on_error=False
    )
    (failure,) = failed.get_step_failure_events()
    assert failure.step_key == "walk_forward_folds"
    message = failure.step_failure_data.error.message
    assert "training.epochs: stored 1, requested 2; training.model_config: stored {}, requested {'dropout': 0.3}" in (
        message
    )
    assert "Nothing was written. To train with it deliberately: fin-pipeline rebuild --from DATE" in message
    assert {f: fold_bytes(root, f) for f in [*CLOSED, OPEN]} == before
