"""Atomic Parquet files with a small JSON header: what every stage writes under the data directory.

A writer never leaves a half-written file where a reader looks: it writes a temporary file in the same
directory, flushes it to disk, then renames it over the target (``os.replace`` is atomic on POSIX and
Windows). A crash or an exception mid-write leaves the previous file intact.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

# Key under which our own metadata (source, requested range, versions) sits in the Parquet schema.
META_KEY = b"fin_pipeline"


class StorageError(RuntimeError):
    """A stored file that cannot be read; the message names the file."""


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
    if meta is not None:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: json.dumps(meta)})
    with atomic_path(path) as tmp:
        # Our columns are floats and timestamps, which dictionary encoding never shrinks: trying it anyway
        # doubles the write time and grows the file.
        pq.write_table(table, tmp, use_dictionary=False)


def read_parquet(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a file written by :func:`write_parquet`: the frame and its metadata (``{}`` if none)."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise StorageError(f"{path}: cannot read Parquet file ({exc}); delete it to rebuild it") from exc
    raw = (table.schema.metadata or {}).get(META_KEY)
    return table.to_pandas(), (json.loads(raw) if raw else {})


def read_parquet_meta(path: Path) -> dict[str, Any]:
    """Only the metadata of a file written by :func:`write_parquet` (reads the footer, not the data)."""
    try:
        raw = (pq.read_schema(path).metadata or {}).get(META_KEY)
    except (OSError, pa.ArrowException) as exc:
        raise StorageError(f"{path}: cannot read Parquet file ({exc}); delete it to rebuild it") from exc
    return json.loads(raw) if raw else {}


def write_json(obj: Any, path: Path) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> Any:
    """Read a file written by :func:`write_json`; :class:`StorageError` naming the file if it is missing or bad."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise StorageError(f"{path}: cannot read JSON ({exc})") from exc
