"""Atomic Parquet files with a small JSON header: what every stage writes under the data directory.

A writer never leaves a half-written file where a reader looks: it writes a temporary file in the same
directory, flushes it to disk, then renames it over the target (``os.replace`` is atomic on POSIX and
Windows). A crash or an exception mid-write leaves the previous file intact.

Integrity: every file carries a content hash written at publish time and checked on every read, so a flipped
bit is an error naming the file and the asset to rematerialize, never data that flows on (and is written back).

- Parquet: a BLAKE2b digest of the table's content (each column's name, type, validity and values) in the
  schema's key-value metadata under ``fin_pipeline_digest``; the reader recomputes it from what it decoded.
- JSON: the document ``{"content_sha256": ..., "data": obj}``; the hash is over the canonical JSON of
  ``obj`` (sorted keys), so it is stored in the same atomic write as what it covers.

Files written before hashes existed (no digest) are read as they are. A mismatch raises :class:`IntegrityError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fin_pipeline.store import layout

# Key under which our own metadata (source, requested range, versions) sits in the Parquet schema.
META_KEY = b"fin_pipeline"
DIGEST_KEY = b"fin_pipeline_digest"
JSON_HASH_KEY = "content_sha256"


class StorageError(RuntimeError):
    """A stored file that cannot be read; the message names the file."""


class IntegrityError(StorageError):
    """A stored file whose content does not match the hash written with it: corrupt on disk."""


def rebuild_hint(path: Path) -> str:
    """How to rebuild ``path``: the asset (and partition) that writes it, from the folder it sits in."""
    found = layout.writer(Path(path).parts)
    if found is None:
        return "delete it and rebuild it"
    asset, partition = found
    target = f"{asset}[{partition}]" if partition else asset
    return f"delete it and rematerialize {target} (fin-pipeline run, or Materialize in the UI)"


def table_digest(table: pa.Table) -> str:
    """BLAKE2b-128 hex digest of a table's content: column names, types, validity and values, in order."""
    h = hashlib.blake2b(digest_size=16)
    for name, column in zip(table.column_names, table.columns, strict=True):
        array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        if pa.types.is_dictionary(array.type):  # a categorical: Parquet may give back other index/value types
            array = array.dictionary_decode()
        if array.null_count == len(array):  # all missing: pandas writes type null, Parquet reads back another
            h.update(name.encode() + f"\0all-null\0{len(array)}\0".encode())
            continue
        kind = str(array.type).replace("large_string", "string").replace("large_binary", "binary")
        h.update(name.encode() + b"\0" + kind.encode() + b"\0")
        if array.null_count:
            h.update(np.packbits(array.is_valid().to_numpy(zero_copy_only=False)).tobytes())
        values = array.to_numpy(zero_copy_only=False)
        if values.dtype == object:
            h.update("\0".join(map(repr, values.tolist())).encode())
        else:
            h.update(np.ascontiguousarray(values).view(np.uint8).tobytes())
    return h.hexdigest()


def _json_digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``, on error delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_parquet(df: pd.DataFrame, path: Path, meta: dict[str, Any] | None = None) -> None:
    """Write ``df`` (without its index) to ``path`` atomically, with ``meta`` as JSON in the schema."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    extra = {DIGEST_KEY: table_digest(table)}
    if meta is not None:
        extra[META_KEY] = json.dumps(meta)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
    with atomic_path(path) as tmp:
        # Our columns are floats and timestamps, which dictionary encoding never shrinks: trying it anyway
        # doubles the write time and grows the file.
        pq.write_table(table, tmp, use_dictionary=False)


def read_parquet(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a file written by :func:`write_parquet`: the frame and its metadata (``{}`` if none).

    The content hash is checked once per read; :class:`IntegrityError` names the file when it differs.
    """
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise StorageError(f"{path}: cannot read Parquet file ({exc}); {rebuild_hint(path)}") from exc
    stored = (table.schema.metadata or {}).get(DIGEST_KEY)
    if stored is not None:
        actual = table_digest(table)
        if actual != stored.decode():
            raise IntegrityError(
                f"{path}: content hash mismatch (stored {stored.decode()}, read {actual}): the file is corrupt "
                f"and was not used; {rebuild_hint(path)}"
            )
    raw = (table.schema.metadata or {}).get(META_KEY)
    try:
        meta = json.loads(raw) if raw else {}
    except ValueError as exc:
        raise StorageError(f"{path}: metadata is not JSON ({exc}); {rebuild_hint(path)}") from None
    return table.to_pandas(), meta


def read_parquet_meta(path: Path) -> dict[str, Any]:
    """Only the metadata of a file written by :func:`write_parquet` (reads the footer, not the data)."""
    try:
        raw = (pq.read_schema(path).metadata or {}).get(META_KEY)
    except (OSError, pa.ArrowException) as exc:
        raise StorageError(f"{path}: cannot read Parquet file ({exc}); {rebuild_hint(path)}") from exc
    return json.loads(raw) if raw else {}


def write_json(obj: Any, path: Path) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically, wrapped with its content hash."""
    doc = {JSON_HASH_KEY: _json_digest(obj), "data": obj}
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> Any:
    """Read a file written by :func:`write_json`; :class:`StorageError` naming the file if it is missing or bad,
    :class:`IntegrityError` when its content does not match its hash."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise StorageError(f"{path}: cannot read JSON ({exc}); {rebuild_hint(path)}") from exc
    if not (isinstance(doc, dict) and set(doc) == {JSON_HASH_KEY, "data"}):
        return doc  # written before hashes existed
    if _json_digest(doc["data"]) != doc[JSON_HASH_KEY]:
        raise IntegrityError(
            f"{path}: content hash mismatch: the file is corrupt (or was edited by hand) and was not used; "
            f"{rebuild_hint(path)}"
        )
    return doc["data"]
