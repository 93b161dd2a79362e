"""Experiment tracking: MLflow runs that hold the checkpoint's history, change no tensor, and never fail training."""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
import time

import pytest
import torch
from mlflow.tracking import MlflowClient

import fin_pipeline.runtime.tracking as tracking
from fin_pipeline.core.settings import Settings, SettingsError
from fin_pipeline.features.assemble import build_windows
from fin_pipeline.features.frame import build_feature_frame
from fin_pipeline.sources.synthetic import SyntheticMarket
from fin_pipeline.training.walkforward import FoldSpec, TrainSpec, compute_folds, fit_fold_normalization, train_fold
from fin_pipeline_tests.subprocess_runs import FOLD_A, FOLD_B

TRAIN = TrainSpec(model="cnn", epochs=3, batch_size=64, seed=5, model_config={"channels": (16, 16, 16, 16)})
TAGS = {"fin_pipeline.training": "fold 2020-10-01", "dagster.run_id": "run-1"}


@pytest.fixture(scope="module")
def fold_inputs():
    frames = {
        t: build_feature_frame(SyntheticMarket(seed=7).fetch(t, dt.date(2017, 1, 3), dt.date(2020, 12, 31)), t, 1)
        for t in ("AAPL", "MSFT")
    }
    ws = build_windows(frames)
    fold = compute_folds(ws, FoldSpec(first_test_date=dt.date(2020, 7, 1), tune_days=40, min_train_days=100))[-1]
    return ws, fold, fit_fold_normalization(ws, fold)


@pytest.fixture(autouse=True)
def fresh_failures(monkeypatch):
    monkeypatch.setattr(tracking, "_FAILED_URIS", set())


def state(path):
    ckpt = torch.load(path, weights_only=True)
    return ckpt["model"], ckpt["optimizer"]["state"]


def assert_same_tensors(a, b):
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_a_tracked_training_logs_the_checkpoint_history_and_changes_no_tensor(fold_inputs, tmp_path):
    ws, fold, stats = fold_inputs
    plain = train_fold(ws, fold, stats, TRAIN, tmp_path / "plain")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    warnings: list[str] = []
    params = {"a": {"b": 1}}
    run = tracking.start_training(
        uri, experiment="fin_pipeline test", name="fold 2020-10-01", params=params, tags=TAGS, warn=warnings.append
    )
    assert isinstance(run, tracking.TrackedTraining)
    tracked = train_fold(ws, fold, stats, TRAIN, tmp_path / "tracked", callbacks=[run.callback()])
    run.finish("FINISHED", tracked.history, tracked.best_path)
    assert warnings == []

    for name in ("best.pt", "last.pt"):  # tracking read nothing from the model and drew no random number
        (m1, o1), (m2, o2) = state(tmp_path / "plain" / name), state(tmp_path / "tracked" / name)
        assert_same_tensors(m1, m2)
        assert all(torch.equal(o1[k][s], o2[k][s]) for k in o1 for s in o1[k] if torch.is_tensor(o1[k][s]))
    assert plain.history[-1]["train_loss"] == tracked.history[-1]["train_loss"]

    client = MlflowClient(uri)
    info = client.get_run(run.run_id)
    assert info.info.status == "FINISHED" and info.info.run_name == "fold 2020-10-01"
    assert info.data.params["a.b"] == "1" and info.data.tags["dagster.run_id"] == "run-1"
    history = torch.load(tmp_path / "tracked" / "last.pt", weights_only=True)["history"]
    for metric, key in (("train_loss", "train_loss"), ("tuning_loss", "val_loss"), ("lr", "lr")):
        logged = sorted((m.step, m.value) for m in client.get_metric_history(run.run_id, metric))
        assert logged == [(h["epoch"], pytest.approx(h[key], rel=1e-12)) for h in history], metric
    artifact = client.download_artifacts(run.run_id, "checkpoint/best.pt", str(tmp_path / "download"))
    assert_same_tensors(torch.load(artifact, weights_only=True)["model"], state(tmp_path / "tracked" / "best.pt")[0])


def test_a_retried_step_goes_on_in_the_run_it_started(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    records = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 2.0 / e, "lr": 1e-3, "seconds": 1.0} for e in (1, 2, 3)]
    first = tracking.start_training(uri, experiment="e", name="fold x", params={}, tags=TAGS, warn=print)
    first._log_epochs(records[:2])  # the step dies here (no finish): the run stays RUNNING
    again = tracking.start_training(uri, experiment="e", name="fold x", params={}, tags=TAGS, warn=print)
    assert again.run_id == first.run_id and again.logged == 2
    again.finish("FINISHED", records)
    steps = [m.step for m in MlflowClient(uri).get_metric_history(first.run_id, "train_loss")]
    assert sorted(steps) == [1, 2, 3]  # epoch 3 once, epochs 1 and 2 not again
    other = tracking.start_training(uri, experiment="e", name="fold x", params={}, tags=TAGS, warn=print)
    assert other.run_id != first.run_id  # a finished run is not reopened: a new training, a new run


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_server_warns_once_and_the_training_goes_on(fold_inputs, tmp_path, monkeypatch):
    for key in tracking._HTTP_DEFAULTS:
        monkeypatch.delenv(key, raising=False)
    ws, fold, stats = fold_inputs
    uri = f"http://127.0.0.1:{closed_port()}"
    warnings: list[str] = []
    t0 = time.monotonic()
    run = tracking.start_training(uri, experiment="e", name="fold x", params={}, tags=TAGS, warn=warnings.append)
    assert time.monotonic() - t0 < 30  # a few quick retries, not MLflow's minutes of backoff
    assert isinstance(run, tracking.Untracked)
    spec = dataclasses.replace(TRAIN, epochs=1)
    outcome = train_fold(ws, fold, stats, spec, tmp_path / "a", callbacks=[run.callback()])
    run.finish("FINISHED", outcome.history, outcome.best_path)
    again = tracking.start_training(uri, experiment="e", name="fold y", params={}, tags=TAGS, warn=warnings.append)
    assert isinstance(again, tracking.Untracked)
    assert len(warnings) == 1 and uri in warnings[0] and "untracked" in warnings[0]
    assert (tmp_path / "a" / "best.pt").is_file()


def test_a_tracking_store_that_fails_mid_training_warns_once(tmp_path):
    warnings: list[str] = []
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run = tracking.start_training(uri, experiment="e", name="fold x", params={}, tags=TAGS, warn=warnings.append)

    class Broken:
        def log_batch(self, *args, **kwargs):
            raise ConnectionError("the server went away")

        set_terminated = log_artifact = log_batch

    run.client = Broken()
    record = {"epoch": 1, "train_loss": 1.0, "val_loss": 1.0, "lr": 1e-3, "seconds": 1.0}
    run._log_epochs([record])
    run.finish("FINISHED", [record, {**record, "epoch": 2}], tmp_path / "missing.pt")
    assert len(warnings) == 1 and "the server went away" in warnings[0] and uri in warnings[0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", None),
        ("off", None),
        ("http://mlflow:5000", "http://mlflow:5000"),
        ("sqlite:////x/m.db", "sqlite:////x/m.db"),
    ],
)
def test_the_setting_turns_tracking_on_or_names_a_server(value, expected):
    assert Settings.from_env({"FIN_PIPELINE_MLFLOW": value}).tracking_uri == expected


def test_the_local_store_sits_in_dagster_home(tmp_path):
    uri = Settings.from_env({"FIN_PIPELINE_MLFLOW": "1", "DAGSTER_HOME": str(tmp_path)}).tracking_uri
    assert uri == "sqlite:///" + str(tmp_path.resolve() / "mlflow.db")
    assert Settings.from_env({}).tracking_uri is None  # off by default
    with pytest.raises(SettingsError, match="FIN_PIPELINE_MLFLOW='maybe'"):
        Settings.from_env({"FIN_PIPELINE_MLFLOW": "maybe"})


def assert_every_training_is_an_mlflow_run(home, tmp_path):
    """After ``fin-pipeline run`` with FIN_PIPELINE_MLFLOW=1 in ``home`` (test_progress's terminal run): the two
    folds and the live model, each a finished run in one experiment, per-epoch losses equal to the published
    checkpoint's history, the artifact loadable with ``weights_only=True`` and equal to the published one."""
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    experiments = [e for e in client.search_experiments() if e.name.startswith("fin_pipeline cnn ")]
    # one build: the same training config, fold rules and code (a source file edited mid-run is another build)
    assert len(experiments) == 1, [e.name for e in client.search_experiments()]
    runs = {r.info.run_name: r for r in client.search_runs([experiments[0].experiment_id])}
    live = sorted((home / "data" / "live").glob("*/last.pt"))
    assert len(live) == 1
    checkpoints = {
        f"fold {FOLD_A}": home / "data" / "models" / FOLD_A,
        f"fold {FOLD_B}": home / "data" / "models" / FOLD_B,
        f"live {live[0].parent.name}": live[0].parent,
    }
    assert set(runs) == set(checkpoints)
    for name, folder in checkpoints.items():
        run = runs[name]
        assert run.info.status == "FINISHED", name
        history = torch.load(folder / "last.pt", weights_only=True)["history"]
        logged = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, "tuning_loss"))
        assert logged == [(h["epoch"], pytest.approx(h["val_loss"], rel=1e-12)) for h in history], name
        assert (
            run.data.params["data_version"]
            == torch.load(folder / "best.pt", weights_only=True)["extra"]["data_version"]
        )
        artifact = client.download_artifacts(run.info.run_id, "checkpoint/best.pt", str(tmp_path / name))
        assert_same_tensors(torch.load(artifact, weights_only=True)["model"], state(folder / "best.pt")[0])
