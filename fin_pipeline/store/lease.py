"""The fold lease of an S3 data directory (see :mod:`fin_pipeline.store.location`, whose store it writes through):
one ``.lease.json`` object per fold folder, created with ``If-None-Match: *`` and renewed, taken over and deleted
with ``If-Match: <etag>``. No dagster here."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from fin_pipeline.store.parquet import StorageError

LEASE_NAME = ".lease.json"


class LeaseError(StorageError):
    """Another writer holds the fold's lease (or took it over): this writer must not publish."""


def read_body(fs: Any, body: Any) -> bytes:
    from fsspec.asyn import sync

    async def read() -> bytes:
        async with body:
            return await body.read()

    return sync(fs.loop, read)


class Lease:
    """A lease object under a fold's folder; see :mod:`fin_pipeline.store.location`."""

    def __init__(self, store: Any, path: Path, owner: str, ttl: float) -> None:
        self.store, self.path, self.owner, self.ttl = store, path, owner, float(ttl)
        self.key = store.key(path)
        self.etag: str | None = None

    def _write(self, **conditions: str) -> str:
        doc = {"owner": self.owner, "expires": time.time() + self.ttl, "host": os.uname().nodename}
        body = json.dumps(doc).encode()
        return self.store.call("put_object", Key=self.key, Body=body, **conditions)["ETag"]

    def _current(self) -> tuple[dict[str, Any], str] | None:
        try:
            obj = self.store.call("get_object", Key=self.key)
        except FileNotFoundError:
            return None
        return json.loads(read_body(self.store.fs, obj["Body"])), obj["ETag"]

    def acquire(self) -> None:
        """Create the lease (If-None-Match: *), or take over our own or an expired one (If-Match: its ETag)."""
        try:
            self.etag = self._write(IfNoneMatch="*")
            return
        except Exception as exc:  # noqa: BLE001
            if not precondition_failed(exc):
                raise StorageError(f"{self.store.describe(self.path)}: {self.store.explain(exc)}") from exc
        current = self._current()
        if current is None:  # released in between: try once more from scratch
            return self.acquire()
        doc, etag = current
        if doc.get("owner") != self.owner and doc.get("expires", 0) > time.time():
            raise LeaseError(
                f"{self.store.describe(self.path)}: the fold is being written by run {doc.get('owner')} on "
                f"{doc.get('host')} (lease valid for {doc['expires'] - time.time():.0f} s more); refused"
            )
        try:
            self.etag = self._write(IfMatch=etag)
        except Exception as exc:  # noqa: BLE001
            if precondition_failed(exc):
                raise LeaseError(f"{self.store.describe(self.path)}: another writer took the lease first") from None
            raise

    def renew(self) -> None:
        """Extend the lease; :class:`LeaseError` if it is no longer ours (taken over after it expired)."""
        try:
            self.etag = self._write(IfMatch=self.etag)
        except Exception as exc:  # noqa: BLE001
            if precondition_failed(exc) or isinstance(exc, FileNotFoundError):
                raise LeaseError(
                    f"{self.store.describe(self.path)}: the lease of run {self.owner} expired and was taken over; "
                    "this run does not publish"
                ) from None
            raise

    def release(self) -> None:
        with contextlib.suppress(Exception):
            self.store.call("delete_object", Key=self.key, IfMatch=self.etag)


def precondition_failed(exc: BaseException) -> bool:
    if isinstance(exc, FileExistsError):  # s3fs's name for 412 Precondition Failed (If-None-Match)
        return True
    text = f"{exc!r} {exc} {exc.__cause__!r}"  # If-Match: an OSError caused by botocore's ClientError
    return any(s in text for s in ("PreconditionFailed", "412", "ConditionalRequestConflict"))
