"""Corrupt stored data is refused on read, naming the file and the asset that rebuilds it."""

from __future__ import annotations

import datetime as dt
import json
import re

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
    stored = read_checkpoint_hash(path)
    with pytest.raises(StorageError, match=r"checkpoint .*models/fold_02/best.pt.*trained_model\[fold_02\]") as refused:
        load_checkpoint(path, model)
    # both hashes: the one written with the file, and the one of what it holds now (another, 32 hex digits)
    computed = re.search(rf"stored hash {stored}, computed ([0-9a-f]{{32}})\)", str(refused.value))
    assert computed and computed[1] != stored


def read_checkpoint_hash(path) -> str:
    """The hash the checkpoint file was written with, read by torch alone (no check)."""
    return torch.load(path, weights_only=True)["content_hash"]


def test_truncated_checkpoint_names_its_path(tmp_path):
    _, path = checkpoint(tmp_path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(CheckpointError, match=r"checkpoint .*models/fold_02/best.pt cannot be loaded.*truncated"):
        read_checkpoint(path)


def test_sound_checkpoint_loads(tmp_path):
    model, path = checkpoint(tmp_path)
    ckpt = read_checkpoint(path)
    assert ckpt["epoch"] == 3 and torch.equal(ckpt["model"]["weight"], model.weight.detach())


def test_corrupt_stored_candles_fail_the_step_once_not_retried(tmp_path):
    """A retry reads the same bytes: the failure is final, names the file, both hashes and what rebuilds it."""
    from dagster import DagsterEventType, DagsterInstance, materialize

    from fin_pipeline.defs.assets.candles import raw_candles
    from fin_pipeline.defs.resources import DataStore, SyntheticMarketResource

    def run(end):
        return materialize(
            [raw_candles],
            partition_key="AAPL",
            resources={"candle_source": SyntheticMarketResource(seed=3), "store": DataStore(root=str(tmp_path))},
            run_config={"ops": {"raw_candles": {"config": {"start": "2020-01-02", "end": end}}}},
            instance=DagsterInstance.ephemeral(),
            raise_on_error=False,
        )

    assert run("2020-06-30").success
    path = tmp_path / "raw_candles" / "AAPL.parquet"
    tamper_parquet(path, "volume", 10, 1e-307)
    result = run("2020-07-31")
    assert not result.success
    (failure,) = result.get_step_failure_events()
    message = failure.step_failure_data.error.message
    assert re.search(
        rf"{re.escape(str(path))}: content hash mismatch \(stored hash \w{{32}}, computed \w{{32}}\)", message
    )
    assert "rematerialize raw_candles[AAPL]" in message
    assert not [e for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]


def test_day_first_dashed_csv_dates_are_refused_naming_the_setting(tmp_path):
    from fin_pipeline.sources.base import CandleError
    from fin_pipeline.sources.csv_dir import read_vendor_csv

    path = tmp_path / "AAPL.csv"
    path.write_text("Date,Open,High,Low,Close,Volume\n02-01-2020,10,11,9,10.5,1000\n31-01-2020,10,11,9,10.5,900\n")
    with pytest.raises(
        CandleError, match=r"AAPL.csv: line 2: unparsable date '02-01-2020'.*FIN_PIPELINE_CSV_DATE_FORMAT"
    ):
        read_vendor_csv(path)
    with pytest.raises(CandleError, match=r"e\.g\. %d-%m-%Y or %m-%d-%Y"):
        read_vendor_csv(path)
    frame = read_vendor_csv(path, "%d-%m-%Y")  # the advice, followed
    assert [str(d)[:10] for d in frame["timestamp"].dt.tz_convert("America/New_York")] == ["2020-01-02", "2020-01-31"]
