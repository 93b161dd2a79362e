"""Atomic Parquet files with a small JSON header: what every stage writes under the data directory.

A writer never leaves a half-written file where a reader looks: it writes a temporary file in the same
directory, flushes it to disk, then renames it over the target (``os.replace`` is atomic on POSIX and
Windows). A crash or an exception mid-write leaves the previous file intact.

Integrity: every file carries a hash written at publish time and checked on every read, so a flipped bit is an
error naming the file and the asset to rematerialize, never data that flows on (and is written back).

- Parquet: the file hash covers everything a reader gets from the file: the table's content (a BLAKE2b digest
  of each column's name, type, validity and values, :func:`table_digest`) and every other key of the schema's
  key-value metadata (our ``fin_pipeline`` JSON: fold boundaries, statistics, horizon, versions; and pandas'
  own), in a canonical order. It is stored under ``fin_pipeline_hashes`` as ``{"scheme": 2, "table": ...,
  "file": ...}``: a full read recomputes both from what it decoded; :func:`read_parquet_meta`, which reads only
  the footer, checks the file hash against the stored table digest and the metadata it read.
- JSON: the document ``{"content_sha256": ..., "data": obj}``; the hash is over the canonical JSON of
  ``obj`` (sorted keys), so it is stored in the same atomic write as what it covers.

Files of the previous version carry only the table digest (``fin_pipeline_digest``): their table is checked, their
metadata is read as it is (nothing recorded covers it); they are rewritten with the file hash the next time their
asset writes them. Files written before hashes existed are read as they are. A metadata key that no version of
this module writes (a flipped byte in a key's name) and a mismatch raise :class:`IntegrityError`.
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
DIGEST_KEY = b"fin_pipeline_digest"  # the previous version's hash: the table's content only
HASHES_KEY = b"fin_pipeline_hashes"  # this version's: the table's content and the file hash over all metadata
HASH_SCHEME = 2
PANDAS_KEY = b"pandas"
ARROW_SCHEMA_KEY = b"ARROW:schema"  # pyarrow's serialized schema in the footer, with a second copy of the metadata
KNOWN_KEYS = frozenset({META_KEY, DIGEST_KEY, HASHES_KEY, PANDAS_KEY})
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


def file_digest(metadata: dict[bytes, bytes], table: str) -> str:
    """BLAKE2b-128 of a Parquet file as a reader gets it: its table digest ``table`` and every key-value metadata
    entry but the hashes themselves, sorted by key, each length-prefixed (so no two layouts hash alike)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"scheme {HASH_SCHEME}\0table {table}\0".encode())
    for key in sorted(k for k in metadata if k != HASHES_KEY):
        value = metadata[key]
        h.update(f"{len(key)}:".encode() + key + f"{len(value)}:".encode() + value)
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
    metadata = {k: v for k, v in (table.schema.metadata or {}).items() if k in KNOWN_KEYS}
    if meta is not None:
        metadata[META_KEY] = json.dumps(meta).encode()
    content = table_digest(table)
    hashes = {"scheme": HASH_SCHEME, "table": content, "file": file_digest(metadata, content)}
    table = table.replace_schema_metadata({**metadata, HASHES_KEY: json.dumps(hashes, sort_keys=True).encode()})
    with atomic_path(path) as tmp:
        # Our columns are floats and timestamps, which dictionary encoding never shrinks: trying it anyway
        # doubles the write time and grows the file.
        pq.write_table(table, tmp, use_dictionary=False)


def read_parquet(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a file written by :func:`write_parquet`: the frame and its metadata (``{}`` if none).

    The file hash (content and metadata) is checked once per read; :class:`IntegrityError` names the file and
    both hashes when it differs.
    """
    table, meta = read_parquet_table(path)
    return table.to_pandas(), meta


def read_parquet_table(path: Path) -> tuple[pa.Table, dict[str, Any]]:
    """:func:`read_parquet` without the pandas conversion (a copy of every column): the Arrow table, checked the
    same way, for a reader that takes a few columns as numpy arrays (the window set's loader)."""
    try:
        table = pq.read_table(path)
        plain = pq.read_metadata(path).metadata  # the footer's own copy (the table's comes from ARROW:schema)
    except (OSError, pa.ArrowException) as exc:
        raise _unreadable(path, exc) from exc
    metadata = dict(table.schema.metadata or {})
    verify(path, metadata, table_digest(table), plain)
    return table, _meta(path, metadata)


def read_parquet_meta(path: Path) -> dict[str, Any]:
    """Only the metadata of a file written by :func:`write_parquet` (reads the footer, not the data), checked
    against the file hash with the table digest it records (a full read checks the table too)."""
    try:
        footer = pq.read_metadata(path)
        metadata = dict(footer.schema.to_arrow_schema().metadata or {})
    except (OSError, pa.ArrowException) as exc:
        raise _unreadable(path, exc) from exc
    verify(path, metadata, None, footer.metadata)
    return _meta(path, metadata)


def _unreadable(path: Path, exc: Exception) -> StorageError:
    """A file that is there but does not decode is corrupt (:class:`IntegrityError`: a retry reads the same bytes);
    one that cannot be opened (missing, no permission) is a plain :class:`StorageError`."""
    kind = StorageError if isinstance(exc, FileNotFoundError | PermissionError) else IntegrityError
    return kind(f"{path}: cannot read Parquet file ({exc}); {rebuild_hint(path)}")


def verify(
    path: Path, metadata: dict[bytes, bytes], content: str | None, plain: dict[bytes, bytes] | None = None
) -> None:
    """Raise :class:`IntegrityError` naming ``path`` and the stored and computed hashes when the file's metadata
    (and, given the decoded table's digest ``content``, its table) differs from what was written.

    A Parquet file written by pyarrow holds its key-value metadata twice: in the footer (``plain``) and inside the
    serialized Arrow schema (``ARROW:schema``), which is the copy a reader decodes (``metadata``). Each copy must
    pass: a flipped byte in either is refused, the one a reader would not even see included."""

    def refuse(what: str, stored: str, computed: str) -> IntegrityError:
        return IntegrityError(
            f"{path}: {what} (stored hash {stored}, computed {computed}): the file is corrupt and was not used; "
            f"{rebuild_hint(path)}"
        )

    if plain is not None:
        plain = {k: v for k, v in plain.items() if k != ARROW_SCHEMA_KEY}
        if plain != metadata:  # the two copies disagree: check the footer's as the reader's is checked below
            verify(path, plain, content)
            if HASHES_KEY not in plain:  # no file hash to tell which copy is right: neither is used
                raise refuse("the footer's copy of the metadata differs from the schema's", "n/a", "n/a")
    unknown = sorted(k.decode(errors="replace") for k in metadata if k not in KNOWN_KEYS)
    if unknown:  # a flipped byte in a key's name: whatever that key held is no longer seen under its name
        raise refuse(f"unknown metadata key(s) {unknown}", "n/a", "n/a")
    raw = metadata.get(HASHES_KEY)
    if raw is None:  # the previous version: the table's digest alone; before it, no hash at all
        stored = metadata.get(DIGEST_KEY)
        if stored is not None and content is not None and content != stored.decode(errors="replace"):
            raise refuse("content hash mismatch", stored.decode(errors="replace"), content)
        return
    try:
        hashes = json.loads(raw)
        recorded_table, recorded_file = str(hashes["table"]), str(hashes["file"])
    except (ValueError, TypeError, KeyError):
        raise refuse("its hash record is unreadable", raw.decode(errors="replace"), "n/a") from None
    computed = file_digest(metadata, content if content is not None else recorded_table)
    if computed != recorded_file:
        what = "content hash mismatch" if content not in (None, recorded_table) else "metadata hash mismatch"
        raise refuse(what, recorded_file, computed)
    if content is not None and content != recorded_table:  # only the recorded table digest itself changed
        raise refuse("table hash mismatch", recorded_table, content)


def _meta(path: Path, metadata: dict[bytes, bytes]) -> dict[str, Any]:
    raw = metadata.get(META_KEY)
    try:
        return json.loads(raw) if raw else {}
    except ValueError as exc:
        raise IntegrityError(f"{path}: metadata is not JSON ({exc}); {rebuild_hint(path)}") from None


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
    if (computed := _json_digest(doc["data"])) != doc[JSON_HASH_KEY]:
        raise IntegrityError(
            f"{path}: content hash mismatch (stored hash {doc[JSON_HASH_KEY]}, computed {computed}): the file is "
            f"corrupt (or was edited by hand) and was not used; {rebuild_hint(path)}"
        )
    return doc["data"]
