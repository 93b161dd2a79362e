"""Every recovery message, followed: a stored file deleted or corrupted, ``fin-pipeline run`` (and, where it refuses,
the advice it prints, done), then a run that succeeds. On a real ``fin-pipeline run`` in a subprocess.

Slow (minutes on two cores): one home is built once (two small folds, the live model, the report); each test
damages a copy of it.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch

from fin_pipeline.store.parquet import read_parquet, read_parquet_meta
from fin_pipeline.training.checkpoint import read_checkpoint
from fin_pipeline_tests.subprocess_runs import FOLD_A, FOLD_B, make_home, run


def ok(result) -> str:
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    home = make_home(tmp_path_factory.mktemp("recovery") / "home")
    ok(run(home))
    return home


@pytest.fixture
def home(built, tmp_path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(built, copy)  # the instance's storage paths are relative: the copy is a home of its own
    return copy


def up_to_date(home: Path) -> None:
    out = ok(run(home))
    assert "fin-pipeline: up to date: nothing trained, nothing written" in out, out[-3000:]


def flip_a_weight(path: Path) -> None:
    """One bit of the first weight tensor's bytes in the checkpoint file changed (it still loads)."""
    weights = next(t for t in read_checkpoint(path)["model"].values() if t.is_floating_point() and t.numel() > 8)
    data = bytearray(path.read_bytes())
    at = bytes(data).find(weights.contiguous().view(torch.uint8).numpy().tobytes()[:32])
    assert at > 0
    data[at + 3] ^= 0x01
    path.write_bytes(bytes(data))


def same_weights(a: dict, b: dict) -> bool:
    return a["model"].keys() == b["model"].keys() and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_a_deleted_predictions_file_is_rescored_and_the_report_follows(home):
    path = home / "data" / "metrics" / FOLD_A / "predictions.parquet"
    before, _ = read_parquet(path)
    path.unlink()
    out = ok(run(home))
    assert f"[fold 1/2] {FOLD_A}: test" in out
    assert f"re-scored, no training ({path} is missing: re-scored from the intact checkpoint, not retrained)" in out
    assert f"[fold 2/2] {FOLD_B}: unchanged" in out and "FileNotFoundError" not in out
    assert read_parquet(path)[0].equals(before)
    up_to_date(home)


def test_a_changed_metadata_byte_is_recomputed_and_carried_into_no_output(home):
    path = home / "data" / "metrics" / FOLD_A / "metrics.parquet"
    was = read_parquet_meta(path)["comparison"]["vs_best"]["dm_p_a_better"]
    data = path.read_bytes()
    found = re.search(rb'"vs_best": \{[^}]*?"dm_p_a_better": (0\.\d+)', data)
    assert found and float(found[1]) == was
    text = found[1]
    changed = text[:2] + (b"1" if text[2:3] != b"1" else b"2") + text[3:]  # 0.988 -> 0.188: one byte, same length
    path.write_bytes(data[: found.start(1)] + changed + data[found.end(1) :])

    out = ok(run(home))
    assert f"re-scored, no training ({path} is corrupt (metadata hash mismatch (stored hash " in out
    assert read_parquet_meta(path)["comparison"]["vs_best"]["dm_p_a_better"] == was
    for written in (home / "data").rglob("*"):
        if written.is_file() and written.suffix in (".parquet", ".json", ".md", ".html", ".yaml"):
            assert changed not in written.read_bytes(), written
    up_to_date(home)


def test_a_corrupt_fold_checkpoint_is_noticed_and_retrained(home):
    path = home / "data" / "models" / FOLD_B / "best.pt"
    before = read_checkpoint(path)
    flip_a_weight(path)
    out = ok(run(home))
    assert f"[fold 2/2] {FOLD_B}: test" in out
    stored = before["content_hash"]
    assert f"({path} is corrupt (checkpoint: content hash mismatch (stored hash {stored}, computed " in out
    assert ": retrained)" in out
    assert same_weights(read_checkpoint(path), before)  # the same seed and rows train the same model again
    up_to_date(home)


def test_corrupt_candles_are_refused_by_name_and_the_advice_rebuilds_them(home):
    path = home / "data" / "raw_candles" / "MSFT.parquet"
    frame, meta = read_parquet(path)
    data = path.read_bytes()
    source = re.search(rb'"source": "(\w+)"', data)
    assert source
    path.write_bytes(data[: source.start(1)] + source[1][:-1] + b"X" + data[source.end(1) :])  # one byte

    refused = run(home)  # refused before any run: the stored range is read first, and the file does not pass
    out = refused.stdout + refused.stderr
    assert refused.returncode == 2, out[-3000:]
    line = next(x for x in out.splitlines() if str(path) in x)
    assert line.startswith(f"fin-pipeline: {path}: metadata hash mismatch (stored hash ")
    assert "delete it and rematerialize raw_candles[MSFT]" in line and "Traceback" not in out

    path.unlink()  # the advice
    ok(run(home))
    assert read_parquet(path)[0].equals(frame)
    up_to_date(home)


def test_a_corrupt_forecast_is_refused_by_name_and_the_advice_writes_it_again(home):
    (path,) = (home / "data" / "forecasts").glob("*.parquet")
    before, _ = read_parquet(path)
    data = bytearray(path.read_bytes())
    at = data.find(b'"as_of": "') + len(b'"as_of": "') + 3  # a digit of the year: 2021 -> 2022, same length
    data[at] = ord("2") if data[at] != ord("2") else ord("3")
    path.write_bytes(bytes(data))

    refused = run(home)
    out = refused.stdout + refused.stderr
    assert refused.returncode == 1, out[-3000:]
    assert f"the stored forecast is damaged: {path}: metadata hash mismatch (stored hash " in out
    assert f"delete it and rematerialize forecasts[{path.stem}]" in out

    path.unlink()  # the advice
    ok(run(home))
    again, _ = read_parquet(path)
    same = [c for c in before.columns if c != "made_at"]
    assert again[same].equals(before[same])  # the same live model forecasts the same
    up_to_date(home)


def test_a_corrupt_live_checkpoint_is_noticed_and_trained_again(home):
    (path,) = (home / "data" / "live").glob("*/best.pt")
    before = read_checkpoint(path)
    flip_a_weight(path)
    out = ok(run(home))
    night = path.parent.name
    stored = before["content_hash"]
    assert f"[forecast] {night}: {path} is corrupt (checkpoint: content hash mismatch (stored hash {stored}" in out
    assert f"[forecast] {night}: live model trained on" in out
    assert same_weights(read_checkpoint(path), before)
    up_to_date(home)
