"""Corrupt stored data is refused on read, naming the file and the asset that rebuilds it."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from fin_pipeline.sources.synthetic import SyntheticMarket
from fin_pipeline.sources.update import update_candles
from fin_pipeline.store.parquet import IntegrityError, StorageError, read_json, read_parquet, write_json, write_parquet
from fin_pipeline.training.checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint

START, END = dt.date(2020, 1, 2), dt.date(2020, 12, 31)


def tamper_parquet(path, column: str, row: int, value: float) -> None:
    """Change one value but keep the file's metadata (its digest): what a flipped bit that still decodes does."""
    table = pq.read_table(path)
    df = table.to_pandas()
    df.loc[row, column] = value
    import pyarrow as pa

    bad = pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(table.schema.metadata)
    pq.write_table(bad, path)


def test_candles_with_flipped_volume_are_refused_and_not_written_back(tmp_path):
    path = tmp_path / "raw_candles" / "AAPL.parquet"
    source = SyntheticMarket(seed=7)
    update_candles(source, "AAPL", path, START, END - dt.timedelta(days=30))
    tamper_parquet(path, "volume", 10, 1e-307)
    before = path.read_bytes()
    with pytest.raises(IntegrityError, match=r"raw_candles/AAPL.parquet: content hash mismatch.*raw_candles\[AAPL\]"):
        update_candles(source, "AAPL", path, START, END)
    assert path.read_bytes() == before  # never written back


def test_feature_file_with_huge_value_is_refused(tmp_path):
    path = tmp_path / "feature_windows" / "MSFT.parquet"
    df = __import__("pandas").DataFrame({"f0": np.linspace(0, 1, 50), "target": np.zeros(50)})
    write_parquet(df, path, meta={"ticker": "MSFT"})
    assert read_parquet(path)[0].equals(df)
    tamper_parquet(path, "f0", 3, -1.6e38)
    with pytest.raises(IntegrityError, match=r"feature_windows/MSFT.parquet.*rematerialize feature_windows\[MSFT\]"):
        read_parquet(path)


def test_flipped_bytes_in_parquet_name_the_file(tmp_path):
    path = tmp_path / "metrics" / "fold_00" / "metrics.parquet"
    write_parquet(__import__("pandas").DataFrame({"mse": np.arange(200.0)}), path)
    data = bytearray(path.read_bytes())
    for i in range(100, 140):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(StorageError, match=r"metrics/fold_00/metrics.parquet.*fold_metrics\[fold_00\]"):
        read_parquet(path)


def test_fold_json_edited_is_refused(tmp_path):
    path = tmp_path / "folds" / "fold_00.json"
    write_json({"val_start": "2020-01-02", "rows": 10}, path)
    assert read_json(path) == {"val_start": "2020-01-02", "rows": 10}
    doc = json.loads(path.read_text())
    doc["data"]["rows"] = 11
    path.write_text(json.dumps(doc))
    with pytest.raises(IntegrityError, match=r"folds/fold_00.json.*walk_forward_folds\[fold_00\]"):
        read_json(path)


def checkpoint(tmp_path):
    model = torch.nn.Linear(64, 64)
    path = tmp_path / "models" / "fold_02" / "best.pt"
    save_checkpoint(path, {"model": model.state_dict(), "epoch": 3, "model_spec": None})
    return model, path


def test_checkpoint_with_flipped_weight_bytes_is_refused(tmp_path):
    model, path = checkpoint(tmp_path)
    data = bytearray(path.read_bytes())
    weights = model.weight.detach().numpy().tobytes()
    at = bytes(data).find(weights[:64])
    assert at > 0
    data[at + 100] ^= 0x01  # one bit of one weight
    path.write_bytes(bytes(data))
    with pytest.raises(StorageError, match=r"checkpoint .*models/fold_02/best.pt.*trained_model\[fold_02\]"):
        load_checkpoint(path, model)


def test_truncated_checkpoint_names_its_path(tmp_path):
    _, path = checkpoint(tmp_path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(CheckpointError, match=r"checkpoint .*models/fold_02/best.pt cannot be loaded.*truncated"):
        read_checkpoint(path)


def test_sound_checkpoint_loads(tmp_path):
    model, path = checkpoint(tmp_path)
    ckpt = read_checkpoint(path)
    assert ckpt["epoch"] == 3 and torch.equal(ckpt["model"]["weight"], model.weight.detach())
