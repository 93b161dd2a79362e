"""The data store's reads and writes of each artifact: where each lands, what an unchanged rerun does, and the
message of a missing input."""

import os

import pandas as pd
import pytest
from dagster import Failure

from fin_pipeline.defs.resources import DataStore
from fin_pipeline.store.parquet import read_json, read_parquet, write_parquet


def test_an_unchanged_feature_file_is_not_rewritten_and_a_changed_one_is(tmp_path):
    store = DataStore(root=str(tmp_path))
    frame, meta = pd.DataFrame({"x": [1.0, 2.0]}), {"ticker": "AAPL", "horizon": 1}
    assert store.write_features("AAPL", frame, meta)
    path = tmp_path / "feature_windows" / "AAPL.parquet"
    os.utime(path, ns=(1, 1))
    assert not store.write_features("AAPL", frame, meta)
    assert path.stat().st_mtime_ns == 1  # left as it was
    assert store.write_features("AAPL", frame, {**meta, "horizon": 2})
    assert read_parquet(path)[1]["horizon"] == 2
    path.write_bytes(b"not parquet")  # a damaged file is rewritten, not trusted
    assert store.write_features("AAPL", frame, meta)
    pd.testing.assert_frame_equal(store.read_features("AAPL"), frame)


def test_a_missing_input_names_the_asset_to_materialize_first(tmp_path):
    store = DataStore(root=str(tmp_path))
    with pytest.raises(Failure, match=r"materialize raw_candles for MSFT first"):
        store.read_candles("MSFT")
    with pytest.raises(Failure, match=r"materialize walk_forward_folds\[2021-01-01\] first"):
        store.read_fold("2021-01-01")
    assert store.read_fold_record("2021-01-01", missing_ok=True) is None
    with pytest.raises(Failure, match=r"materialize trained_model\[2021-01-01\] first"):
        store.fold_checkpoint("2021-01-01")
    assert store.read_forecast("2026-11-30") is None


def test_the_live_model_is_published_last_and_old_nights_are_pruned(tmp_path):
    store = DataStore(root=str(tmp_path))
    for night in ("2026-11-25", "2026-11-26", "2026-11-27"):
        (tmp_path / "live" / night / "runs" / "r1").mkdir(parents=True)
        for name in ("best.pt", "last.pt"):
            (tmp_path / "live" / night / name).write_bytes(b"x")
        store.publish_live(night, {"forecast_date": night})
    assert read_json(tmp_path / "live" / "2026-11-27" / "live.json") == {"forecast_date": "2026-11-27"}
    assert not (tmp_path / "live" / "2026-11-27" / "runs").exists()
    assert store.prune_live(2) == ["2026-11-25"]
    assert sorted(p.name for p in (tmp_path / "live").iterdir()) == ["2026-11-26", "2026-11-27"]


def test_the_stored_forecasts_are_read_oldest_first_and_a_damaged_one_fails(tmp_path):
    store = DataStore(root=str(tmp_path))
    for night, value in (("2026-11-27", 2.0), ("2026-11-26", 1.0)):
        write_parquet(pd.DataFrame({"v": [value]}), tmp_path / "forecasts" / f"{night}.parquet")
    assert [f["v"].iloc[0] for f in store.read_forecasts()] == [1.0, 2.0]
    (tmp_path / "forecasts" / "2026-11-28.parquet").write_bytes(b"broken")
    with pytest.raises(Failure, match="live_record: "):
        store.read_forecasts()


def test_the_live_record_keeps_a_picture_only_with_days_scored(tmp_path):
    store = DataStore(root=str(tmp_path))
    drawn = []

    def draw(path) -> None:
        drawn.append(path)
        path.write_bytes(b"png")

    store.write_live_record(pd.DataFrame({"a": [1]}), {"forecasts": 1}, draw)
    picture = tmp_path / "live_record" / "live_equity.png"
    assert drawn == [picture] and picture.is_file()
    store.write_live_record(pd.DataFrame({"a": []}), {"forecasts": 0}, None)
    assert not picture.exists()
    assert read_parquet(tmp_path / "live_record" / "record.parquet")[1] == {"forecasts": 0}
