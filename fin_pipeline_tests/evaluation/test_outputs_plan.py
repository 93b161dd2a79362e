"""The nightly planner calls a fold up to date only when every output is present and matches its hash.

A chain built once in process (the conftest's three quarterly folds, one epoch each); every test damages one file
of a copy of it, reads the plan, runs the job the plan names, and checks the fold is whole again: a missing or
corrupt scored file is re-scored from the intact checkpoint (never retrained), a corrupt checkpoint is retrained.
"""

from __future__ import annotations

import re
import shutil

import pandas as pd
import pytest
import torch
from dagster import DagsterInstance

from fin_pipeline.core.settings import load_settings
from fin_pipeline.definitions import build_definitions
from fin_pipeline.defs.assets.folds import FoldConfig
from fin_pipeline.defs.assets.universe import load_universe
from fin_pipeline.defs.resources import DataStore, SyntheticMarketResource
from fin_pipeline.evaluation.nightly import plan_folds
from fin_pipeline.store.parquet import IntegrityError, read_parquet, read_parquet_meta
from fin_pipeline.training.checkpoint import read_checkpoint

TICKERS = list(load_settings().universe)
FOLDS = ["2020-10-01", "2021-01-01", "2021-04-01"]
CLOSED = FOLDS[0]
DAY = "2021-05-14"
TRAIN = {"ops": {"trained_model": {"config": {"epochs": 1, "model": "cnn", "batch_size": 128, "seed": 3}}}}


def run(defs, job, partition, run_config=None):
    return defs.resolve_job_def(job).execute_in_process(
        partition_key=partition, run_config=run_config or {}, instance=DagsterInstance.ephemeral(), raise_on_error=False
    )


def chain(root):
    return build_definitions({"candle_source": SyntheticMarketResource(seed=7), "store": DataStore(root=str(root))})


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("outputs") / "data"
    defs = chain(root)
    candles = {"ops": {"raw_candles": {"config": {"start": "2018-01-02", "end": DAY}}}}
    for ticker in TICKERS:
        assert run(defs, "candles_job", ticker, candles).success
    for fold in FOLDS:
        assert run(defs, "walk_forward_job", fold, TRAIN).success
    assert run(defs, "report_job", None).success
    return root


@pytest.fixture
def home(built, tmp_path):
    """A copy of the built chain: ``(root, defs, plan)``, ``plan()`` the planner's actions by fold."""
    root = tmp_path / "data"
    shutil.copytree(built, root)
    defs = chain(root)
    store = defs.resources["store"]

    def plan():
        universe = load_universe(store, "test")
        plans = plan_folds(universe.windows, FoldConfig().spec(), store, FOLDS, universe.horizon)
        return {p.fold: p for p in plans}

    return root, defs, plan


def actions(plans):
    return {fold: p.action for fold, p in plans.items()}


def test_an_intact_chain_is_up_to_date(home):
    _, _, plan = home
    assert {fold: p.reason for fold, p in plan().items()} == dict.fromkeys(FOLDS, "unchanged")


def test_a_deleted_predictions_file_is_rescored_from_the_intact_checkpoint(home):
    root, defs, plan = home
    path = root / "metrics" / CLOSED / "predictions.parquet"
    before, _ = read_parquet(path)
    path.unlink()
    plans = plan()
    assert actions(plans) == {CLOSED: "rescore", FOLDS[1]: "skip", FOLDS[2]: "skip"}
    assert plans[CLOSED].reason == f"{path} is missing: re-scored from the intact checkpoint, not retrained"
    assert run(defs, "fold_rescore_job", CLOSED).success
    assert actions(plan()) == dict.fromkeys(FOLDS, "skip")
    pd.testing.assert_frame_equal(read_parquet(path)[0], before)  # the same model scored the same rows again
    assert run(defs, "report_job", None).success


def dm_p_text(path) -> tuple[bytes, bytes]:
    """The stored ``dm_p_a_better`` of the model against the best baseline as the file's bytes hold it, and the
    same number with one digit changed (same length)."""
    data = path.read_bytes()
    found = re.search(rb'"vs_best": \{[^}]*?"dm_p_a_better": (0\.\d+)', data)
    assert found, "no dm_p in the metadata"
    text = found[1]
    digit = text[2:3]
    changed = text[:2] + (b"1" if digit != b"1" else b"2") + text[3:]
    return text, changed


def test_one_changed_metadata_byte_is_refused_and_recomputed_and_no_output_carries_it(home):
    root, defs, plan = home
    path = root / "metrics" / CLOSED / "metrics.parquet"
    stored_p = read_parquet_meta(path)["comparison"]["vs_best"]["dm_p_a_better"]
    text, changed = dm_p_text(path)
    assert float(text) == stored_p
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"dm_p_a_better": ' + text, b'"dm_p_a_better": ' + changed, 1))
    assert path.stat().st_size == len(data)

    with pytest.raises(IntegrityError, match=rf"{re.escape(str(path))}: metadata hash mismatch \(stored hash \w+"):
        read_parquet(path)
    report = run(defs, "report_job", None)  # refused by name, nothing written from it
    assert not report.success
    failure = str([e.event_specific_data.error.to_string() for e in report.all_events if e.is_step_failure])
    assert str(path) in failure and "metadata hash mismatch" in failure
    plans = plan()
    assert actions(plans)[CLOSED] == "rescore"
    assert plans[CLOSED].reason.startswith(f"{path} is corrupt (metadata hash mismatch (stored hash ")
    assert plans[CLOSED].reason.endswith(": re-scored from the intact checkpoint, not retrained")

    assert run(defs, "fold_rescore_job", CLOSED).success
    assert read_parquet_meta(path)["comparison"]["vs_best"]["dm_p_a_better"] == stored_p
    assert run(defs, "report_job", None).success
    assert actions(plan()) == dict.fromkeys(FOLDS, "skip")
    for written in [*root.rglob("*.parquet"), *root.rglob("*.json"), *root.rglob("*.md")]:
        assert changed not in written.read_bytes(), written


def test_a_deleted_scored_record_of_a_closed_fold_is_rescored_not_taken_for_a_restatement(home):
    root, defs, plan = home
    (root / "metrics" / CLOSED / "scored.json").unlink()
    plans = plan()
    assert actions(plans)[CLOSED] == "rescore" and not plans[CLOSED].restated
    assert "scored.json is missing" in plans[CLOSED].reason
    assert run(defs, "fold_rescore_job", CLOSED).success
    assert actions(plan()) == dict.fromkeys(FOLDS, "skip")


def test_an_edited_fold_record_is_recomputed_and_rescored_with_the_intact_checkpoint(home):
    root, defs, plan = home
    path = root / "folds" / f"{CLOSED}.json"
    path.write_text(path.read_text().replace('"purge_days": ', '"purge_days": 1', 1))  # a digit more, by hand
    plans = plan()
    assert actions(plans)[CLOSED] == "rescore"
    assert plans[CLOSED].reason.startswith(f"{path} is corrupt (content hash mismatch")
    assert run(defs, "fold_rescore_job", CLOSED).success
    assert actions(plan()) == dict.fromkeys(FOLDS, "skip")


def flip_a_weight(path) -> None:
    """Change one bit of the first weight tensor's bytes in the checkpoint file (it still loads)."""
    ckpt = read_checkpoint(path)
    weights = next(t for t in ckpt["model"].values() if t.is_floating_point() and t.numel() > 8)
    data = bytearray(path.read_bytes())
    at = bytes(data).find(weights.contiguous().view(torch.uint8).numpy().tobytes()[:32])
    assert at > 0
    data[at + 3] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_corrupt_checkpoint_is_noticed_by_the_planner_and_retrained(home):
    root, defs, plan = home
    path = root / "models" / CLOSED / "best.pt"
    before = read_checkpoint(path)
    flip_a_weight(path)
    plans = plan()
    assert actions(plans) == {CLOSED: "train", FOLDS[1]: "skip", FOLDS[2]: "skip"}
    reason = plans[CLOSED].reason
    stored = before["content_hash"]
    assert reason.startswith(f"{path} is corrupt (checkpoint: content hash mismatch (stored hash {stored}, computed ")
    assert reason.endswith(": retrained") and plans[CLOSED].repair
    assert run(defs, "walk_forward_job", CLOSED, TRAIN).success
    assert actions(plan()) == dict.fromkeys(FOLDS, "skip")
    again = read_checkpoint(path)
    assert all(torch.equal(again["model"][k], v) for k, v in before["model"].items())  # the same seed, the same model
