import json

import numpy as np
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


# -- the file hash covers the metadata ---------------------------------------------------------------------------


def flip_in_file(path, old: bytes, new: bytes) -> None:
    """Replace the one occurrence of ``old`` in the file's bytes by ``new`` (same length): a flipped byte."""
    data = path.read_bytes()
    assert len(old) == len(new) and data.count(old) == 1, data.count(old)
    path.write_bytes(data.replace(old, new))


def stored_hashes(path) -> dict:
    """The hash record as the file holds it, read with pyarrow alone."""
    return json.loads(pq.read_schema(path).metadata[b"fin_pipeline_hashes"])


def scored_fold(tmp_path):
    path = tmp_path / "metrics" / "2020-07-01" / "metrics.parquet"
    frame = pd.DataFrame({"predictor": ["model", "ridge"], "ic": [0.05, 0.01]})
    write_parquet(frame, path, meta={"comparison": {"dm_p": 0.988}, "fold": {"horizon": 1}})
    return path, frame


def test_one_changed_byte_of_the_metadata_is_refused_by_name_with_both_hashes(tmp_path):
    path, frame = scored_fold(tmp_path)
    assert read_parquet(path)[1]["comparison"]["dm_p"] == 0.988
    size = path.stat().st_size
    flip_in_file(path, b'"dm_p": 0.988', b'"dm_p": 0.088')
    assert path.stat().st_size == size
    assert pq.read_metadata(path).metadata[b"fin_pipeline"].count(b"0.088") == 1  # the footer's copy changed
    stored = stored_hashes(path)["file"]
    for read in (read_parquet, storage.read_parquet_meta):
        with pytest.raises(storage.IntegrityError) as refused:
            read(path)
        message = str(refused.value)
        assert message.startswith(f"{path}: metadata hash mismatch (stored hash {stored}, computed ")
        computed = message.split("computed ")[1].split(")")[0]
        assert len(computed) == len(stored) == 32 and computed != stored
        assert "fold_metrics[2020-07-01]" in message and "0.088" not in message


def test_a_changed_byte_in_a_metadata_keys_name_is_refused(tmp_path):
    path, _ = scored_fold(tmp_path)
    flip_in_file(path, b"fin_pipeline_hashes", b"fin_pipeline_hashez")  # the hash record no longer found by name
    with pytest.raises(storage.IntegrityError, match=r"unknown metadata key\(s\) \['fin_pipeline_hashez'\]"):
        read_parquet(path)


def test_a_changed_table_digest_in_the_hash_record_is_refused(tmp_path):
    path, _ = scored_fold(tmp_path)
    table = stored_hashes(path)["table"]
    other = ("0" if table[0] != "0" else "1") + table[1:]
    flip_in_file(path, table.encode(), other.encode())
    with pytest.raises(storage.IntegrityError, match="hash mismatch"):
        read_parquet(path)
    with pytest.raises(storage.IntegrityError, match="metadata hash mismatch"):
        storage.read_parquet_meta(path)


def write_previous_version(path, frame, meta, digest=True):
    """A file as the previous version wrote it: the table's digest only (or no hash at all), no hash record."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    extra = {b"fin_pipeline": json.dumps(meta).encode()}
    if digest:
        extra[b"fin_pipeline_digest"] = storage.table_digest(table).encode()
    # uncompressed, so that a test can find a value's bytes in the data page
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, **extra}), path, compression="none")


def test_files_of_the_previous_version_still_read_and_their_table_is_checked(tmp_path):
    frame = pd.DataFrame({"close": [1.0, 2.0, 3.0]})
    old, bare = tmp_path / "old.parquet", tmp_path / "bare.parquet"
    write_previous_version(old, frame, {"horizon": 1})
    write_previous_version(bare, frame, {"horizon": 1}, digest=False)
    for path in (old, bare):
        back, meta = read_parquet(path)
        pd.testing.assert_frame_equal(back, frame)
        assert meta == {"horizon": 1} and storage.read_parquet_meta(path) == {"horizon": 1}
    flip_in_file(old, np.float64(2.0).tobytes(), np.float64(2.5).tobytes())  # a value in the data page
    with pytest.raises(storage.IntegrityError, match=r"old.parquet: content hash mismatch \(stored hash [0-9a-f]{32}"):
        read_parquet(old)


def test_a_rewrite_of_a_previous_version_file_carries_the_file_hash(tmp_path):
    path = tmp_path / "x.parquet"
    write_previous_version(path, pd.DataFrame({"a": [1.0]}), {"k": 1})
    frame, meta = read_parquet(path)
    write_parquet(frame, path, meta)
    assert set(stored_hashes(path)) == {"scheme", "table", "file"}
    assert b"fin_pipeline_digest" not in pq.read_schema(path).metadata


def flip_in_arrow_schema(path, old: bytes) -> bytes:
    """Change one character of the base64 ``ARROW:schema`` in the footer (the copy of the metadata a reader
    decodes) so that one digit of ``old`` in the decoded metadata changes, nothing else; the new text."""
    import base64
    import string

    data = path.read_bytes()
    b64 = pq.read_metadata(path).metadata[b"ARROW:schema"]
    decoded = base64.b64decode(b64)
    target = decoded.index(old) + len(old) - 1  # the last digit
    for i in range(target * 4 // 3 - 1, target * 4 // 3 + 3):
        for c in (string.ascii_letters + string.digits + "+/").encode():
            new = b64[:i] + bytes([c]) + b64[i + 1 :]
            try:
                d = base64.b64decode(new, validate=True)
            except ValueError:
                continue
            rest, was = d[:target] + d[target + 1 :], decoded[:target] + decoded[target + 1 :]
            if len(d) == len(decoded) and rest == was and chr(d[target]).isdigit() and d[target] != decoded[target]:
                assert data.count(b64) == 1
                path.write_bytes(data.replace(b64, new))
                return old[:-1] + bytes([d[target]])
    raise AssertionError("no one-character change of ARROW:schema changes that digit alone")


def test_a_changed_byte_in_the_schema_copy_that_readers_decode_is_refused(tmp_path):
    path, _ = scored_fold(tmp_path)
    size = path.stat().st_size
    changed = flip_in_arrow_schema(path, b"0.988")
    assert path.stat().st_size == size
    lie = json.loads(pq.read_schema(path).metadata[b"fin_pipeline"])["comparison"]["dm_p"]
    assert lie == float(changed) != 0.988  # what pyarrow alone would hand on
    stored = stored_hashes(path)["file"]
    for read in (read_parquet, storage.read_parquet_meta):
        with pytest.raises(storage.IntegrityError, match=rf"metadata hash mismatch \(stored hash {stored}, computed"):
            read(path)
