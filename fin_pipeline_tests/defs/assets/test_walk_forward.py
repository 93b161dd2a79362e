"""The fold chain in process: every asset, fold independence, retry-resume, leakage, schedule, bad input.

The test session's settings (conftest) give 3 tickers and 3 folds; a short history and 2 epochs of a CNN keep
each fold to about a second.
"""

import dataclasses
import datetime as dt
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from dagster import DagsterEventType, DagsterInstance, build_schedule_context, build_sensor_context

from fin_pipeline.core.settings import load_settings
from fin_pipeline.definitions import build_definitions
from fin_pipeline.defs.resources import DataStore, SyntheticMarketResource
from fin_pipeline.defs.schedules import nightly_retrain, nightly_retrain_followup
from fin_pipeline.features.indicators import FEATURE_COLUMNS
from fin_pipeline.store.parquet import read_json, read_parquet
from fin_pipeline.training.checkpoint import load_checkpoint
from fin_pipeline_tests.report.reading import daily_ic, markdown_table, shows

TICKERS = list(load_settings().universe)
FOLDS = ["2020-10-01", "2021-01-01", "2021-04-01"]  # conftest: quarters from 2020-10-01 to 2021-06-30
CANDLES = {"ops": {"raw_candles": {"config": {"start": "2018-01-02", "end": "2021-06-30"}}}}
TRAIN = {"epochs": 2, "model": "cnn", "batch_size": 64, "seed": 3}


def train_config(**overrides):
    return {"ops": {"trained_model": {"config": {**TRAIN, **overrides}}}}


def make_defs(root):
    return build_definitions({"candle_source": SyntheticMarketResource(seed=7), "store": DataStore(root=str(root))})


def run(defs, job, partition=None, run_config=None, instance=None, tags=None):
    return defs.resolve_job_def(job).execute_in_process(
        partition_key=partition,
        run_config=run_config or {},
        instance=instance or DagsterInstance.ephemeral(),
        tags=tags,
        raise_on_error=False,
    )


def failure_message(result) -> str:
    """Every step failure's message and its causes (a step that ran out of retries wraps the last error)."""
    lines = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None:
            lines.append(error.message)
            error = error.cause
    return "\n".join(lines)


def model_tensors(path):
    ckpt = torch.load(path, weights_only=True)
    return ckpt["model"], ckpt["optimizer"]["state"], ckpt["epoch"], ckpt["best_score"]


def assert_same_checkpoint(a, b):
    (ma, oa, ea, sa), (mb, ob, eb, sb) = model_tensors(a), model_tensors(b)
    assert (ea, sa) == (eb, sb)
    assert ma.keys() == mb.keys() and all(torch.equal(ma[k], mb[k]) for k in ma)
    assert all(torch.equal(oa[i][k], ob[i][k]) for i in oa for k in oa[i] if torch.is_tensor(oa[i][k]))


@pytest.fixture(scope="module")
def full_run_instance():
    return DagsterInstance.ephemeral()


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, full_run_instance):
    """Features for every ticker, every fold trained and evaluated, the report: what `fin-pipeline run` does."""
    root = tmp_path_factory.mktemp("wf") / "data"
    defs, instance = make_defs(root), full_run_instance
    results = [run(defs, "candles_job", t, CANDLES, instance) for t in TICKERS]
    results += [run(defs, "walk_forward_job", f, train_config(), instance) for f in FOLDS]
    results.append(run(defs, "report_job", instance=instance))
    assert all(r.success for r in results), [failure_message(r) for r in results if not r.success]
    return root, defs, results


def test_every_asset_materializes_and_checkpoints_rebuild_their_model(full_run):
    root, _, results = full_run
    materialized = {e.asset_key.to_user_string() for r in results for e in r.get_asset_materialization_events()}
    assert materialized == {
        "raw_candles",
        "feature_windows",
        "walk_forward_folds",
        "normalization_stats",
        "trained_model",
        "fold_metrics",
        "live_record",  # report_job scores the realized forecasts first (none here: an empty record)
        "walk_forward_report",
    }
    for fold in FOLDS:
        model, ckpt = load_checkpoint(root / "models" / fold / "best.pt")  # torch.load(weights_only=True)
        assert type(model).__name__ == "CNNModel" and ckpt["extra"]["fold"]["fold"] == fold
        assert set(ckpt["extra"]) >= {"normalization", "fold", "data_version", "code_version", "train_spec"}
        assert (root / "models" / fold / "last.pt").is_file() and not (root / "models" / fold / "runs").exists()
        metrics, _ = read_parquet(root / "metrics" / fold / "metrics.parquet")
        model_row = metrics.set_index("predictor").loc["model"]
        assert np.isfinite(model_row[["mse", "mae", "ic", "rank_ic", "directional_accuracy"]].astype(float)).all()
    summary, _ = read_parquet(root / "reports" / "fold_summary.parquet")
    assert list(summary["fold"]) == FOLDS
    stitched, _ = read_parquet(root / "reports" / "oos_predictions.parquet")
    assert stitched.groupby(["ticker", "date"]).size().max() == 1  # validation blocks never overlap


def test_the_training_step_logs_one_structured_line_per_epoch(full_run, full_run_instance):
    """What the UI's run view shows while a fold trains: a line per epoch with the numbers as key=value pairs."""
    root, _, results = full_run
    for fold, result in zip(FOLDS, results[len(TICKERS) : len(TICKERS) + len(FOLDS)], strict=True):
        history = torch.load(root / "models" / fold / "last.pt", weights_only=True)["history"]
        messages = [
            e.user_message
            for e in full_run_instance.all_logs(result.run_id)
            if e.dagster_event is None and e.step_key == "trained_model" and " epoch " in e.user_message
        ]
        assert len(messages) == len(history), messages
        for line, h in zip(messages, history, strict=True):
            fields = dict(kv.split("=") for kv in line.split(": ", 1)[1].split())
            assert line.startswith(f"fold {fold} epoch {h['epoch']}/")
            assert float(fields["train_loss"]) == pytest.approx(h["train_loss"], rel=1e-5)
            assert float(fields["tune_loss"]) == pytest.approx(h["val_loss"], rel=1e-5)


def test_no_leakage_in_any_fold(full_run):
    root, _, _ = full_run
    frames = {t: read_parquet(root / "feature_windows" / f"{t}.parquet")[0] for t in TICKERS}
    calendar = list(
        np.unique(
            np.concatenate(
                [
                    f["timestamp"].dt.tz_convert("America/New_York").dt.date.to_numpy()[f["window_ok"].to_numpy()]
                    for f in frames.values()
                ]
            )
        )
    )
    columns = list(FEATURE_COLUMNS)  # the model's inputs (the files also hold the target and the cost inputs)
    for fold in FOLDS:
        b = read_json(root / "folds" / f"{fold}.json")
        day = {k: dt.date.fromisoformat(b[k]) for k in b if k.endswith(("_start", "_end"))}
        h, purge = b["horizon"], b["purge_days"]
        # next_open, the default: the target of day t runs from open t+1 to open t+1+h (lag 1), and the default
        # purge is that span, h + 1, stored as configured
        assert b["execution"] == "next_open" and purge == h + 1 and b["embargo_days"] == 0
        for end, nxt in (("train_end", "tune_start"), ("tune_end", "test_start")):
            last_target = calendar.index(day[end]) + 1 + h  # the day the block's last target is realized
            assert calendar.index(day[nxt]) - last_target - 1 == purge, (fold, end)  # purge days strictly between
        assert day["train_start"] <= day["train_end"] < day["tune_start"] <= day["tune_end"] < day["test_start"]
        assert b["test_tickers"] == len(TICKERS) and b["test_windows"] > 0 and b["tune_windows"] > 0
        # Normalization, recomputed here from the training and tuning rows alone: each ticker's rows from the
        # first row of its first training window to tune_end (the tuning windows reach back into the gap).
        rows = []
        for f in frames.values():
            days = f["timestamp"].dt.tz_convert("America/New_York").dt.date.to_numpy()
            ok = np.flatnonzero(f["window_ok"].to_numpy() & (days >= day["train_start"]))
            first = ok[0] - 29
            rows.append(f[columns].to_numpy(np.float64)[first : np.searchsorted(days, day["tune_end"], side="right")])
        rows = np.concatenate(rows)
        stats = read_json(root / "normalization" / f"{fold}.json")
        assert stats["rows"] == len(rows)
        np.testing.assert_allclose(stats["mean"], rows.mean(axis=0), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(stats["std"], np.where(rows.std(axis=0) < 1e-8, 1, rows.std(axis=0)), rtol=1e-5)


def test_the_configured_purge_is_what_the_fold_file_and_the_ui_show(full_run, tmp_path):
    root, _, _ = full_run
    data = tmp_path / "data"
    shutil.copytree(root / "feature_windows", data / "feature_windows")
    config = {"ops": {"walk_forward_folds": {"config": {"purge_days": 3, "embargo_days": 2, "tune_days": 40}}}}
    result = folds_only(data, "2021-01-01", config)
    assert result.success, failure_message(result)
    b = read_json(data / "folds" / "2021-01-01.json")
    assert (b["purge_days"], b["embargo_days"], b["tune_days"]) == (3, 2, 40)
    (event,) = result.asset_materializations_for_node("walk_forward_folds")
    assert event.metadata["purge_days"].value == 3 and event.metadata["embargo_days"].value == 2


def folds_only(data, fold, run_config):
    """Materialize only the fold's boundaries (``walk_forward_folds``): no training."""
    from dagster import materialize

    from fin_pipeline.defs.assets.folds import walk_forward_folds

    return materialize(
        [walk_forward_folds],
        partition_key=fold,
        run_config=run_config,
        resources={"store": DataStore(root=str(data))},
        selection=[walk_forward_folds],
        raise_on_error=False,
    )


def test_a_fold_alone_gives_the_same_checkpoint_as_in_the_full_run(full_run, tmp_path):
    root, _, _ = full_run
    alone = tmp_path / "data"
    shutil.copytree(root / "feature_windows", alone / "feature_windows")  # only the features
    result = run(make_defs(alone), "walk_forward_job", "2021-01-01", train_config())
    assert result.success, failure_message(result)
    assert_same_checkpoint(alone / "models" / "2021-01-01" / "best.pt", root / "models" / "2021-01-01" / "best.pt")
    assert not (alone / "models" / "2020-10-01").exists()


def test_a_failing_fold_leaves_the_others_alone(full_run, tmp_path, monkeypatch):
    root, _, _ = full_run
    data = tmp_path / "data"
    shutil.copytree(root, data)
    defs = make_defs(data)
    before = {f: (data / "models" / f / "best.pt").read_bytes() for f in FOLDS}
    import fin_pipeline.defs.assets.training as training_assets

    real = training_assets.train_fold

    def broken_for_the_third_fold(ws, fold, *a, **kw):
        if fold.fold == "2021-04-01":
            raise RuntimeError("simulated crash in 2021-04-01")
        return real(ws, fold, *a, **kw)

    monkeypatch.setattr(training_assets, "train_fold", broken_for_the_third_fold)
    results = {f: run(defs, "walk_forward_job", f, train_config()) for f in FOLDS}
    assert [f for f, r in results.items() if not r.success] == ["2021-04-01"]
    assert "simulated crash in 2021-04-01" in failure_message(results["2021-04-01"])
    # The failed fold kept its previous checkpoint; the others retrained to the same one (same seed).
    assert (data / "models" / "2021-04-01" / "best.pt").read_bytes() == before["2021-04-01"]
    for f in ("2020-10-01", "2021-01-01"):
        assert_same_checkpoint(data / "models" / f / "best.pt", root / "models" / f / "best.pt")


def test_a_retried_fold_resumes_from_its_last_epoch(full_run, tmp_path, monkeypatch):
    root, _, _ = full_run
    data = tmp_path / "data"
    shutil.copytree(root / "feature_windows", data / "feature_windows")
    from fin_pipeline.training.trainer import Trainer

    real_fit, calls = Trainer.fit, []

    def preempted_after_epoch_1(self, epochs, *args, resume=False, **kw):
        calls.append((self.epoch, resume))
        if len(calls) == 1:
            real_fit(self, 1, *args, resume=resume, **kw)
            raise RuntimeError("simulated preemption after epoch 1")
        return real_fit(self, epochs, *args, resume=resume, **kw)

    monkeypatch.setattr(Trainer, "fit", preempted_after_epoch_1)
    result = run(make_defs(data), "walk_forward_job", "2020-10-01", train_config())
    assert result.success, failure_message(result)
    retries = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]
    assert len(retries) == 1 and calls == [(0, False), (0, True)]
    ckpt = torch.load(data / "models" / "2020-10-01" / "last.pt", weights_only=True)
    assert [h["epoch"] for h in ckpt["history"]] == [1, 2]  # epoch 1 from the first attempt, 2 from the retry
    assert_same_checkpoint(data / "models" / "2020-10-01" / "best.pt", root / "models" / "2020-10-01" / "best.pt")
    assert_same_checkpoint(data / "models" / "2020-10-01" / "last.pt", root / "models" / "2020-10-01" / "last.pt")


def test_nightly_schedule_then_sensor_materialize_everything_in_order(tmp_path, monkeypatch):
    # the board's enabled models (FIN_PIPELINE_MODELS): two baselines keep the night short
    settings = dataclasses.replace(load_settings(), models=("ridge", "momentum"))
    monkeypatch.setattr("fin_pipeline.defs.assets.board.load_settings", lambda: settings)
    defs, instance = make_defs(tmp_path / "data"), DagsterInstance.ephemeral()
    store = {"store": DataStore(root=str(tmp_path / "data"))}  # the sensor reads the data's last day
    tick = dt.datetime(2021, 7, 1, 21, 30, tzinfo=dt.timezone(dt.timedelta(hours=-4)))
    requests = nightly_retrain(build_schedule_context(instance=instance, scheduled_execution_time=tick))
    assert sorted(r.partition_key for r in requests) == sorted(TICKERS)
    for r in requests:
        assert run(defs, "candles_job", r.partition_key, CANDLES, instance, r.tags).success

    folds = nightly_retrain_followup(build_sensor_context(instance=instance, definitions=defs, resources=store))
    assert sorted(r.partition_key for r in folds) == FOLDS and {r.job_name for r in folds} == {"walk_forward_job"}
    for r in folds:
        assert run(defs, r.job_name, r.partition_key, train_config(epochs=1), instance, r.tags).success
    # The folds done: tonight's forecast, for the session after the data's last day (a new dynamic partition).
    result = nightly_retrain_followup(build_sensor_context(instance=instance, definitions=defs, resources=store))
    (forecast,) = result.run_requests
    assert (forecast.job_name, forecast.partition_key) == ("forecast_job", "2021-07-01")  # after 2021-06-30
    assert [r.partition_keys for r in result.dynamic_partitions_requests] == [["2021-07-01"]]
    instance.add_dynamic_partitions("forecast_dates", ["2021-07-01"])
    live_config = {"ops": {"live_model": {"config": {**TRAIN, "epochs": 1}}}}
    assert run(defs, "forecast_job", "2021-07-01", live_config, instance, forecast.tags).success
    # then the enabled models on tonight's folds, one run each, and the leaderboard
    board = nightly_retrain_followup(build_sensor_context(instance=instance, definitions=defs, resources=store))
    assert sorted(r.partition_key for r in board) == sorted(f"{f}|{m}" for f in FOLDS for m in ("ridge", "momentum"))
    assert {r.job_name for r in board} == {"board_job"}
    for r in board:
        assert run(defs, r.job_name, r.partition_key, instance=instance, tags=r.tags).success
    leaderboard = nightly_retrain_followup(build_sensor_context(instance=instance, definitions=defs, resources=store))
    assert leaderboard.job_name == "leaderboard_job"
    assert run(defs, "leaderboard_job", instance=instance, tags=leaderboard.tags).success
    report = nightly_retrain_followup(build_sensor_context(instance=instance, definitions=defs, resources=store))
    assert report.job_name == "report_job"
    assert run(defs, "report_job", instance=instance, tags=report.tags).success

    events = [
        (e.timestamp, e.dagster_event.asset_key.to_user_string())
        for run_record in instance.get_run_records()
        for e in instance.all_logs(run_record.dagster_run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    ]
    first = {k: min(t for t, a in events if a == k) for _, k in events}
    last = {k: max(t for t, a in events if a == k) for _, k in events}
    assert len(first) == 12  # every asset
    # The night's order: every ticker's data, then the folds, the live model, the forecast, the board, the
    # leaderboard, the record, the report.
    assert last["raw_candles"] < first["walk_forward_folds"] and last["feature_windows"] < first["walk_forward_folds"]
    assert last["fold_metrics"] < first["live_model"] < first["forecasts"] < first["board_predictions"]
    assert last["board_predictions"] < first["leaderboard"] < first["live_record"] < first["walk_forward_report"]


def test_a_tuning_block_too_long_for_the_history_fails_naming_the_fold_and_dates(full_run, tmp_path):
    root, _, _ = full_run
    data = tmp_path / "data"
    shutil.copytree(root / "feature_windows", data / "feature_windows")
    config = {"ops": {"walk_forward_folds": {"config": {"tune_days": 700}}}}
    result = run(make_defs(data), "walk_forward_job", "2020-10-01", config)
    assert not result.success
    message = failure_message(result)
    assert "2020-10-01: no room for a tuning block of tune_days=700 before the test block 2020-10-01.." in message


def test_missing_upstream_partitions_are_named(tmp_path):
    result = run(make_defs(tmp_path / "data"), "walk_forward_job", "2020-10-01", train_config())
    assert not result.success
    assert f"feature_windows is missing for {TICKERS}" in failure_message(result)


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"model": "transformerxl"}, "unknown model"),
        ({"loss": "nope"}, "nope"),
        ({"epochs": 0}, "epochs"),
        ({"optimizer": "adagrad"}, "optimizer"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"device": "tpu"}, "device"),
        *([] if torch.cuda.is_available() else [({"device": "cuda"}, "no CUDA device")]),
    ],
)
def test_bad_training_config_is_rejected_before_training(full_run, tmp_path, override, named):
    root, _, _ = full_run
    data = tmp_path / "data"
    shutil.copytree(root, data, ignore=shutil.ignore_patterns("models"))
    result = run(make_defs(data), "walk_forward_job", "2020-10-01", train_config(**override))
    assert not result.success
    assert "rejected before training" in failure_message(result) and named in failure_message(result)
    assert not [e for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]
    assert not (data / "models").exists()


def test_report_lists_every_fold_beside_the_baselines(full_run):
    root, _, _ = full_run
    for fold in FOLDS:
        metrics, meta = read_parquet(root / "metrics" / fold / "metrics.parquet")
        assert list(metrics["predictor"]) == ["model", "zero", "momentum", "ridge"]
        assert metrics.set_index("predictor").loc["zero", ["ic", "ic_nw_t"]].isna().all()  # undefined, not 0
        assert meta["fold"]["fold"] == fold and meta["baselines"]["ridge_alpha"] > 0
    folds, _ = read_parquet(root / "reports" / "folds.parquet")
    assert list(folds["fold"]) == FOLDS and (folds["test_tickers"] == len(TICKERS)).all()
    text = (root / "reports" / "report.md").read_text()
    # zero's IC is defined on no day (a constant prediction): shown as such, never as 0
    assert "| zero | " in text and "n/a (0 days)" in text and all(f in text for f in FOLDS)
    # What the numbers rest on comes first (the candles' stored source; the tests' universe is set), then the
    # verdict in words.
    lines = text.splitlines()
    assert lines[2].startswith("**Source:** simulated prices: no real market")
    assert lines[3].startswith(f"**Universe:** hand-picked, user-given (3 tickers: {', '.join(TICKERS)}")
    assert lines[4].startswith("**Execution:** next_open: each book is formed from data through close t and held from")
    assert lines[5].startswith("**Costs:** spread_impact: half-spread (Corwin–Schultz from daily high/low")
    assert lines[7].startswith("**Ranking skill:")
    # The numbers shown are the fold files' predictions, recomputed here: the stitched and per-fold mean daily IC
    # (numpy's correlation across each day's tickers) and the count of out-of-sample predictions.
    per_fold = {f: read_parquet(root / "metrics" / f / "predictions.parquet")[0] for f in FOLDS}
    stitched_rows = pd.concat(per_fold.values(), ignore_index=True)
    forecasts = markdown_table(text, "Forecasts, all folds stitched")
    assert shows(forecasts.loc["model", "ic"], daily_ic(stitched_rows))
    assert shows(forecasts.loc["ridge", "ic"], daily_ic(stitched_rows, "ridge"))
    assert forecasts.loc["model", "n"] == str(len(stitched_rows)) and f"{len(stitched_rows)} out-of-sample" in text
    shown_folds = markdown_table(text, "The model per fold")
    for fold, rows in per_fold.items():
        assert shows(shown_folds.loc[fold, "model_ic"], daily_ic(rows)), fold
        assert shown_folds.loc[fold, "test_days"] == str(rows["date"].nunique()), fold
    # The record is the store's one trial: registered once, however many times the report ran; DSR = PSR.
    (trial,) = (root / "trials").glob("*.parquet")
    returns, meta = read_parquet(trial)
    assert (
        meta["configuration"]["training"][0]["seed"] == TRAIN["seed"]
        and "device" not in meta["configuration"]["training"][0]
    )
    stitched = read_parquet(root / "reports" / "backtest.parquet")[0].set_index("strategy")
    assert len(returns) == read_parquet(root / "reports" / "oos_predictions.parquet")[0]["date"].nunique()
    # The model's Sharpe shown is the registered trial's daily net returns' mean / std (ddof 1) · √252.
    r = returns["model"].to_numpy()
    sharpe = float(np.mean(r) / np.std(r, ddof=1) * np.sqrt(252))
    assert shows(markdown_table(text, "Books, all folds stitched").loc["model", "sharpe"], sharpe)
    assert stitched.loc["model", "dsr"] == stitched.loc["model", "psr"] and "DSR over 1 trial: `" in text
    assert np.isnan(stitched.loc[["ridge", "momentum", "buy_and_hold"], "dsr"].astype(float)).all()
    summary = read_parquet(root / "reports" / "fold_summary.parquet")[0]
    for fold, hits in zip(FOLDS, summary["ridge_edge_hits"], strict=True):
        assert hits == read_parquet(root / "metrics" / fold / "metrics.parquet")[1]["baselines"]["ridge_edge_hits"]


def test_report_backtests_the_stitched_series_and_draws_pictures(full_run):
    root, _, results = full_run
    books = {"model", "zero", "momentum", "ridge", "buy_and_hold"}
    books |= {f"{p}_neutral" for p in ("model", "zero", "momentum", "ridge")}
    for fold in FOLDS:
        per_fold, _ = read_parquet(root / "metrics" / fold / "backtest.parquet")
        assert set(per_fold["strategy"]) == books
    stitched, _ = read_parquet(root / "reports" / "backtest.parquet")
    table = stitched.set_index("strategy")
    key_numbers = table.loc[["model", "model_neutral", "buy_and_hold"], ["total_return", "sharpe", "sharpe_se", "psr"]]
    assert np.isfinite(key_numbers.to_numpy(float)).all()
    assert table.loc["zero", "total_return"] == 0 and np.isnan(table.loc["zero", "sharpe"])  # flat: undefined
    for name in ("equity_curve", "equity_neutral", "drawdown", "learning_curves"):
        png = (root / "reports" / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000
    text = (root / "reports" / "report.md").read_text()
    assert "Books, all folds stitched" in text and "![equity](equity_curve.png)" in text
    (report,) = results[-1].asset_materializations_for_node("walk_forward_report")
    assert report.metadata["equity"].value.startswith("![equity_curve](data:image/png;base64,")
    assert "Ranking skill" in report.metadata["verdict"].value
    # Capacity under the default cost model: at its $10M the model's book is the one in the stitched table.
    assert "## Capacity: the model's books at other capitals" in text and "C→0 (spread only)" in text
    assert report.metadata["model_sharpe_at_10M"].value == pytest.approx(table.loc["model", "sharpe"])
    assert "Corwin–Schultz" in report.metadata["costs"].value and "capacity" in report.metadata


def test_a_fold_scored_before_the_cost_inputs_existed_is_refused_by_the_report(full_run, tmp_path):
    from fin_pipeline.features.cost_inputs import COST_INPUTS
    from fin_pipeline.store.parquet import read_parquet_meta, write_parquet

    root, _, _ = full_run
    data = tmp_path / "data"
    shutil.copytree(root, data)
    path = data / "metrics" / FOLDS[1] / "predictions.parquet"
    frame, _ = read_parquet(path)
    write_parquet(frame.drop(columns=list(COST_INPUTS)), path, meta=read_parquet_meta(path))  # an older scoring
    before = (data / "reports" / "report.md").read_bytes()
    result = run(make_defs(data), "report_job")
    assert not result.success
    message = failure_message(result)
    assert f"the folds ['{FOLDS[1]}'] were scored before the cost inputs existed" in message
    assert "rematerialize feature_windows, then fold_metrics" in message
    assert (data / "reports" / "report.md").read_bytes() == before  # refused before any write


def test_an_uneven_csv_universe_runs_end_to_end(tmp_path):
    """A CSV universe whose tickers list late and delist early: folds honour min_tickers, each fold counts its
    tickers, and the chain runs through the report."""
    from fin_pipeline.defs.resources import CsvDirectoryResource
    from fin_pipeline.sources.synthetic import SyntheticMarket

    ranges = {
        "AAPL": ("2016-01-04", "2021-06-30"),
        "MSFT": ("2017-06-01", "2021-06-30"),
        "XOM": ("2016-01-04", "2020-06-30"),
    }
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    for ticker, (start, end) in ranges.items():
        bars = SyntheticMarket(seed=11).fetch(ticker, dt.date.fromisoformat(start), dt.date.fromisoformat(end))
        day = bars["timestamp"].dt.tz_convert("America/New_York").dt.strftime("%Y-%m-%d")
        frame = pd.DataFrame({"Date": day, **{c.title(): bars[c] for c in ("open", "high", "low", "close", "volume")}})
        frame.to_csv(csv_dir / f"{ticker}.csv", index=False)
    data = tmp_path / "data"
    defs = build_definitions(
        {"candle_source": CsvDirectoryResource(directory=str(csv_dir)), "store": DataStore(root=str(data))}
    )
    instance = DagsterInstance.ephemeral()
    candles = {"ops": {"raw_candles": {"config": {"start": "2016-01-04", "end": "2021-06-30"}}}}
    results = [run(defs, "candles_job", t, candles, instance) for t in TICKERS]
    results += [run(defs, "walk_forward_job", f, train_config(epochs=1), instance) for f in FOLDS]
    results.append(run(defs, "report_job", instance=instance))
    assert all(r.success for r in results), [failure_message(r) for r in results if not r.success]
    records = [read_json(data / "folds" / f"{fold}.json") for fold in FOLDS]
    assert all(r["min_tickers"] == 2 for r in records)  # default: half of 3 tickers, at least 2
    for r in records:  # each fold's count is the tickers whose rows reach into its test block
        start, end = dt.date.fromisoformat(r["test_start"]), dt.date.fromisoformat(r["test_end"])
        live = [
            t for t, (a, b) in ranges.items() if dt.date.fromisoformat(a) < end and dt.date.fromisoformat(b) > start
        ]
        assert r["test_tickers"] == len(live), (r["fold"], live)
        assert r["test_min_tickers_per_day"] >= 2
    assert records[-1]["test_tickers"] == 2  # XOM delisted before the last test block
    folds, _ = read_parquet(data / "reports" / "folds.parquet")
    assert list(folds["test_tickers"]) == [r["test_tickers"] for r in records]
    text = (data / "reports" / "report.md").read_text()  # real prices: the header never says simulated
    assert "simulated" not in text and text.splitlines()[2].startswith("**Source:** vendor CSV files")
