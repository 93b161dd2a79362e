"""Fold inputs versioned by rows: simulated nights on the synthetic market, and Dagster's staleness of the folds.

The conftest's folds are the quarters 2020-10-01, 2021-01-01 and 2021-04-01. The chain is built as of Friday
2021-05-14 (the 2021-04-01 fold open, the two before it closed); the next night adds Monday 2021-05-17. Under the
default execution (next_open) a row's target runs from the next open to the one after, so each night realizes the
target of the row two sessions back: Monday's open realizes Thursday 2021-05-13's (bought at Friday's open).
"""

import datetime as dt

import pandas as pd
import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, build_sensor_context, materialize
from dagster._core.definitions.data_version import StaleCauseCategory, StaleStatus
from dagster._utils.test.data_versions import get_stale_status_resolver

from fin_pipeline.core.settings import load_settings
from fin_pipeline.definitions import ASSETS, build_definitions
from fin_pipeline.defs.assets.folds import normalization_stats, walk_forward_folds
from fin_pipeline.defs.assets.universe import data_fold_keys, load_universe
from fin_pipeline.defs.resources import DataStore, SyntheticMarketResource
from fin_pipeline.defs.schedules import NIGHTLY_TAG, nightly_retrain_followup
from fin_pipeline.evaluation.nightly import plan_folds
from fin_pipeline.features.assemble import load_window_set
from fin_pipeline.store.parquet import read_json, read_parquet, write_parquet
from fin_pipeline.training.folds import FoldSpec, compute_folds
from fin_pipeline.training.versions import fold_version, training_version

TICKERS = list(load_settings().universe)
CLOSED, OPEN = ["2020-10-01", "2021-01-01"], "2021-04-01"
DAY, NEXT = "2021-05-14", "2021-05-17"
REALIZED = "2021-05-13"  # the row whose target NEXT's open realizes (open DAY -> open NEXT)
TRAIN = {"ops": {"trained_model": {"config": {"epochs": 1, "model": "cnn", "batch_size": 128, "seed": 3}}}}
FOLD_ASSETS = ("walk_forward_folds", "normalization_stats", "trained_model", "fold_metrics")


def candles(end):
    return {"ops": {"raw_candles": {"config": {"start": "2018-01-02", "end": end}}}}


def run(defs, job, partition, run_config, instance, tags=None):
    result = defs.resolve_job_def(job).execute_in_process(
        partition_key=partition, run_config=run_config, instance=instance, raise_on_error=False, tags=tags
    )
    assert result.success, job
    return result


def data_version(instance, asset, partition):
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    return records[0].asset_materialization.tags["dagster/data_version"]


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """The chain as of DAY, then the data refreshed to NEXT (nothing else run yet)."""
    root = tmp_path_factory.mktemp("nights") / "data"
    defs, instance = (
        build_definitions({"candle_source": SyntheticMarketResource(seed=7), "store": DataStore(root=str(root))}),
        DagsterInstance.ephemeral(),
    )
    for t in TICKERS:
        run(defs, "candles_job", t, candles(DAY), instance)
    for fold in [*CLOSED, OPEN]:
        run(defs, "walk_forward_job", fold, TRAIN, instance)
    run(defs, "report_job", None, {}, instance)
    before = {(a, f): data_version(instance, a, f) for a in FOLD_ASSETS for f in [*CLOSED, OPEN]}
    for t in TICKERS:
        run(defs, "candles_job", t, candles(NEXT), instance)
    return root, defs, instance, before


def windows(root):
    return load_window_set({t: root / "feature_windows" / f"{t}.parquet" for t in TICKERS})


def test_a_new_day_changes_only_the_open_folds_rows(night):
    root, _, _, _ = night
    ws = windows(root)
    spec = FoldSpec(first_test_date=dt.date(2020, 10, 1))
    folds = {f.fold: f for f in compute_folds(ws, spec)}
    # NEXT's open realizes REALIZED's target: the window ending on REALIZED joins the open fold's test block
    assert folds[OPEN].is_open and str(folds[OPEN].test_end) == REALIZED
    for fold in CLOSED:
        stored = read_json(root / "folds" / f"{fold}.json")
        assert fold_version(ws, folds[fold], spec.to_dict()) == stored["data_version"]  # unchanged by the new day
    stored = read_json(root / "folds" / f"{OPEN}.json")
    assert fold_version(ws, folds[OPEN], spec.to_dict()) != stored["data_version"]  # one more test day
    assert training_version(ws, folds[OPEN]) == stored["training_version"]  # the model's rows did not change


def test_staleness_follows_the_rows_and_the_code_version(night):
    _, defs, instance, before = night
    # The fold boundaries are recomputed (cheap): closed folds keep their data version, the open one does not.
    store = defs.resources["store"]
    for fold in [*CLOSED, OPEN]:
        assert materialize(
            [walk_forward_folds], partition_key=fold, resources={"store": store}, instance=instance
        ).success
    for fold in CLOSED:
        assert data_version(instance, "walk_forward_folds", fold) == before[("walk_forward_folds", fold)]
    assert data_version(instance, "walk_forward_folds", OPEN) != before[("walk_forward_folds", OPEN)]
    resolver = get_stale_status_resolver(instance, ASSETS)
    for fold in CLOSED:
        for asset in FOLD_ASSETS[1:]:
            assert resolver.get_status(AssetKey(asset), fold) == StaleStatus.FRESH, (asset, fold)
    # The open fold: its normalization and metrics read the new test day's fold record; its model does not.
    assert resolver.get_status(AssetKey("normalization_stats"), OPEN) == StaleStatus.STALE
    assert resolver.get_status(AssetKey("fold_metrics"), OPEN) == StaleStatus.STALE
    assert materialize([normalization_stats], partition_key=OPEN, resources={"store": store}, instance=instance).success
    assert data_version(instance, "normalization_stats", OPEN) == before[("normalization_stats", OPEN)]
    resolver = get_stale_status_resolver(instance, ASSETS)
    assert resolver.get_status(AssetKey("trained_model"), OPEN) == StaleStatus.FRESH  # no retraining
    # A new code version of trained_model marks every fold's model stale, with the cause; nothing runs.
    changed = [
        a.map_asset_specs(lambda s: s.replace_attributes(code_version="changed"))
        if a.key.path == ["trained_model"]
        else a
        for a in ASSETS
    ]
    resolver = get_stale_status_resolver(instance, changed)
    for fold in [*CLOSED, OPEN]:
        assert resolver.get_status(AssetKey("trained_model"), fold) == StaleStatus.STALE
        causes = resolver.get_stale_causes(AssetKey("trained_model"), fold)
        assert [c.category for c in causes] == [StaleCauseCategory.CODE]


def materializations(instance, partitions):
    return {
        (asset, fold): len(
            instance.fetch_materializations(
                AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[fold]), limit=100
            ).records
        )
        for asset in FOLD_ASSETS
        for fold in partitions
    }


def fold_bytes(root, fold):
    paths = [root / "folds" / f"{fold}.json", root / "normalization" / f"{fold}.json"]
    paths += sorted((root / "models" / fold).glob("*.pt")) + sorted((root / "metrics" / fold).glob("*.*"))
    return {p.name + p.parent.name: p.read_bytes() for p in paths}


def test_the_nightly_path_rescores_the_open_fold_and_leaves_closed_folds_alone(night):
    root, defs, instance, _ = night
    store = defs.resources["store"]
    ws = windows(root)
    spec = FoldSpec(first_test_date=dt.date(2020, 10, 1))
    plans = {p.fold: p.action for p in plan_folds(ws, spec, store, [*CLOSED, OPEN])}
    assert plans == {CLOSED[0]: "skip", CLOSED[1]: "skip", OPEN: "rescore"}
    closed_before = {f: fold_bytes(root, f) for f in CLOSED}
    counts = materializations(instance, [*CLOSED, OPEN])
    predictions_before, _ = read_parquet(root / "metrics" / OPEN / "predictions.parquet")
    model_before = (root / "models" / OPEN / "best.pt").read_bytes()

    # The nightly sensor plans the same: after the night's (tagged) ticker runs, one re-score of the open fold.
    night_tags = {NIGHTLY_TAG: NEXT}
    for t in TICKERS:
        run(defs, "candles_job", t, candles(NEXT), instance, tags=night_tags)  # the data is already at NEXT
    context = build_sensor_context(instance=instance, definitions=defs, resources={"store": store})
    requests = nightly_retrain_followup(context)
    assert [(r.job_name, r.partition_key) for r in requests] == [("fold_rescore_job", OPEN)]
    run(defs, "fold_rescore_job", OPEN, {}, instance, tags=requests[0].tags)  # also what `fin-pipeline run` runs
    after = nightly_retrain_followup(
        build_sensor_context(instance=instance, definitions=defs, resources={"store": store})
    )
    # once the re-score succeeded: tonight's forecast (then the report); no fold run is requested
    assert [(r.job_name, r.partition_key) for r in after.run_requests] == [("forecast_job", "2021-05-18")]

    assert {f: fold_bytes(root, f) for f in CLOSED} == closed_before  # byte-identical
    after = materializations(instance, [*CLOSED, OPEN])
    assert {k: after[k] - counts[k] for k in after} == {
        **{(a, f): 0 for a in FOLD_ASSETS for f in CLOSED},  # closed folds: no new materialization
        ("walk_forward_folds", OPEN): 1,
        ("normalization_stats", OPEN): 1,
        ("trained_model", OPEN): 0,  # no retraining
        ("fold_metrics", OPEN): 1,
    }
    assert (root / "models" / OPEN / "best.pt").read_bytes() == model_before
    predictions, _ = read_parquet(root / "metrics" / OPEN / "predictions.parquet")
    assert predictions.groupby("ticker").size().to_dict() == {
        t: n + 1 for t, n in predictions_before.groupby("ticker").size().to_dict().items()
    }  # one more test day per ticker
    assert str(predictions["date"].max().date()) == REALIZED
    # Earlier days unchanged (``window`` is a position in the back-to-back row array: a new row shifts the tickers
    # after the first, so it is left out).
    old = predictions[predictions["date"] < predictions["date"].max()].drop(columns="window").reset_index(drop=True)
    pd.testing.assert_frame_equal(old, predictions_before.drop(columns="window").reset_index(drop=True))


def test_the_report_appends_the_new_day_and_refuses_a_changed_closed_day(night):
    root, defs, instance, _ = night
    before, _ = read_parquet(root / "reports" / "oos_predictions.parquet")  # the report as of DAY
    result = run(defs, "report_job", None, {}, instance)
    (event,) = result.asset_materializations_for_node("walk_forward_report")
    meta = {k: v.value for k, v in event.metadata.items()}
    assert (meta["unchanged_rows"], meta["added_rows"]) == (len(before), len(TICKERS))  # one day per ticker
    assert meta["added_first"] == meta["added_last"] == REALIZED
    # Alter one closed day in the stored fold predictions (a valid file, as a silent rewrite would leave it).
    path = root / "metrics" / CLOSED[0] / "predictions.parquet"
    predictions, file_meta = read_parquet(path)
    predictions.loc[0, "model"] += 0.01
    write_parquet(predictions, path, meta=file_meta)
    result = defs.resolve_job_def("report_job").execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    message = failure.step_failure_data.error.message
    ticker, day = predictions.loc[0, "ticker"], f"{predictions.loc[0, 'date']:%Y-%m-%d}"
    assert (
        f"fold {CLOSED[0]}: the out-of-sample record changed on a day already reported: {ticker} on {day}, model"
        in message
    )


def test_a_period_rollover_trains_exactly_one_new_fold(tmp_path):
    """Built as of 2021-03-31 (two folds); the next night (2021-04-06: 2021-04-02 is Good Friday) the open of
    2021-04-06 realizes the target of 2021-04-01 (bought at the open of 2021-04-05, next_open), the first trading
    day of a new quarter: the fold 2021-04-01 appears and is the only one trained."""
    root = tmp_path / "data"
    defs = build_definitions({"candle_source": SyntheticMarketResource(seed=7), "store": DataStore(root=str(root))})
    instance, store = DagsterInstance.ephemeral(), defs.resources["store"]
    spec = FoldSpec(first_test_date=dt.date(2020, 10, 1))
    for t in TICKERS:
        run(defs, "candles_job", t, candles("2021-03-31"), instance)
    for fold in CLOSED:
        run(defs, "walk_forward_job", fold, TRAIN, instance)
    assert data_fold_keys(load_universe(store, "test")) == CLOSED
    counts = materializations(instance, [*CLOSED, OPEN])
    for t in TICKERS:
        run(defs, "candles_job", t, candles("2021-04-06"), instance)
    universe = load_universe(store, "test")
    keys = data_fold_keys(universe)
    assert keys == [*CLOSED, OPEN]  # the new quarter's fold partition, by itself
    plans = {p.fold: p.action for p in plan_folds(universe.windows, spec, store, keys)}
    # the quarter that ended gets its last day scored; the new one is trained; the older one is left alone
    assert plans == {CLOSED[0]: "skip", CLOSED[1]: "rescore", OPEN: "train"}
    for fold, action in plans.items():
        if action != "skip":
            run(
                defs,
                "walk_forward_job" if action == "train" else "fold_rescore_job",
                fold,
                TRAIN if action == "train" else {},
                instance,
            )
    after = materializations(instance, [*CLOSED, OPEN])
    trained = {f: after[("trained_model", f)] - counts[("trained_model", f)] for f in [*CLOSED, OPEN]}
    assert trained == {CLOSED[0]: 0, CLOSED[1]: 0, OPEN: 1}
    assert all(after[(a, CLOSED[0])] == counts[(a, CLOSED[0])] for a in FOLD_ASSETS)


def test_a_failed_fold_holds_back_the_report_but_not_the_forecast_or_the_paper_record(night):
    """The sensor, with a night whose one fold run failed: tonight's forecast is requested all the same, then the
    paper record alone (record_job); the report waits for every fold, and the sensor says why."""
    from dagster import DagsterRunStatus, SkipReason
    from dagster._core.test_utils import create_run_for_test

    _, defs, _, _ = night
    store = defs.resources["store"]
    instance = DagsterInstance.ephemeral()  # the night's runs only, created with their final status (none runs)
    tags = {NIGHTLY_TAG: "2021-05-17"}

    def finished(job, partition, status):
        partition_tags = {"dagster/partition": partition} if partition else {}
        create_run_for_test(instance, job_name=job, status=status, tags={**tags, **partition_tags})

    def tick():
        return nightly_retrain_followup(
            build_sensor_context(instance=instance, definitions=defs, resources={"store": store})
        )

    for t in TICKERS:
        finished("candles_job", t, DagsterRunStatus.SUCCESS)
    finished("fold_rescore_job", OPEN, DagsterRunStatus.FAILURE)  # e.g. its statistics raised
    result = tick()
    assert [(r.job_name, r.partition_key) for r in result.run_requests] == [("forecast_job", "2021-05-18")]
    finished("forecast_job", "2021-05-18", DagsterRunStatus.SUCCESS)
    request = tick()
    assert request.job_name == "record_job" and request.run_key == "nightly-2021-05-17-record"
    finished("record_job", None, DagsterRunStatus.SUCCESS)
    skip = tick()
    assert isinstance(skip, SkipReason) and f"fold runs failed: ['{OPEN}']" in skip.skip_message
    assert "no report" in skip.skip_message
