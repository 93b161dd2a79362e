import pandas as pd
import pyarrow.parquet as pq
import pytest

from fin_pipeline.store import parquet as storage
from fin_pipeline.store.parquet import StorageError, read_parquet, write_parquet


def test_round_trip_keeps_dtypes_and_metadata(tmp_path):
    df = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(["2024-01-02 05:00", "2024-01-03 05:00"], utc=True),
            "close": [1.5, 2.5],
            "transactions": pd.array([3, None], dtype="Int64"),
        }
    )
    path = tmp_path / "sub" / "x.parquet"
    write_parquet(df, path, meta={"source": "synthetic", "start": "2024-01-01"})
    back, meta = read_parquet(path)
    pd.testing.assert_frame_equal(back, df)
    assert meta == {"source": "synthetic", "start": "2024-01-01"}
    assert [p.name for p in path.parent.iterdir()] == ["x.parquet"]  # no temporary file left behind


def test_a_failed_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "x.parquet"
    write_parquet(pd.DataFrame({"a": [1, 2, 3]}), path)
    before = path.read_bytes()

    def write_half_then_fail(table, where, **kw):
        with open(where, "wb") as fh:
            fh.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(storage.pq, "write_table", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        write_parquet(pd.DataFrame({"a": [9]}), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.parquet"]
    assert pq.read_table(path).num_rows == 3


def test_unreadable_file_names_its_path(tmp_path):
    path = tmp_path / "AAPL.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(StorageError, match="AAPL.parquet"):
        read_parquet(path)
