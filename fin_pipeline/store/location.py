"""Where the data directory lives: a local folder (the default) or an ``s3://bucket/prefix`` URL.

The library writes and reads local files (Parquet, JSON, torch checkpoints, PNG) with its atomic helpers in
:mod:`fin_pipeline.store.parquet`. For a local data directory that is all: :class:`LocalStore`'s transfers do nothing.
For S3, :class:`S3Store` keeps a local cache folder laid out like the data directory, and the caller moves
files between it and the bucket at step boundaries:

- :meth:`~S3Store.pull` downloads an object into the cache (atomically) before a read, or removes the cached
  copy when the object is gone, so a reader sees exactly the store's state;
- :meth:`~S3Store.push` uploads a finished local file with **one PUT** of the whole object (never multipart):
  S3 makes an object visible only once its PUT completed, so an interrupted upload leaves nothing under the
  key (or the previous version). The content hashes written by :mod:`fin_pipeline.store.parquet` and
  :mod:`fin_pipeline.training.checkpoint` travel inside the files, and are checked on every read as before.
- :meth:`~S3Store.lease` keeps concurrent writers of one fold apart with a **lease object** ``.lease.json``
  beside the fold's files, written with S3 conditional writes: ``If-None-Match: *`` to create it (only one
  writer can), ``If-Match: <etag>`` to renew it, to take over an expired one and to delete it (a writer whose
  lease was taken over fails on its next renewal, before it publishes). The lease names its owner (the run id:
  a step re-delivered to another worker of the same run takes it over) and expires ``ttl`` seconds after its
  last renewal, so a dead writer's lease does not block the fold forever.

A missing bucket or refused credentials raise :class:`~fin_pipeline.store.parquet.StorageError` naming the bucket
when the store is opened, before anything is written. No dagster here.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fin_pipeline.store.parquet import StorageError, atomic_path

LEASE_NAME = ".lease.json"


class LeaseError(StorageError):
    """Another writer holds the fold's lease (or took it over): this writer must not publish."""


def is_url(root: str | os.PathLike) -> bool:
    return str(root).startswith("s3://")


class LocalStore:
    """The data directory is a local (or mounted) folder: files are read and written where they lie."""

    remote = False

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = self.cache = Path(root)

    def describe(self, path: Path) -> str:
        return str(path)

    def pull(self, path: Path) -> Path:
        return Path(path)

    def exists(self, path: Path) -> bool:
        return Path(path).is_file()

    def pull_tree(self, folder: Path) -> Path:
        return Path(folder)

    def push(self, path: Path) -> None:
        pass

    def push_tree(self, folder: Path) -> None:
        pass

    def delete_tree(self, folder: Path) -> None:
        pass

    def delete(self, path: Path) -> None:
        pass  # the local file is the store's: whoever moved or removed it is done

    @contextlib.contextmanager
    def lease(self, folder: Path, owner: str, ttl: float = 3600.0) -> Iterator[Lease | None]:
        yield None  # one machine: Dagster's pool and the per-run folders keep the writers of a fold apart


class S3Store:
    """The data directory is ``s3://bucket/prefix``; ``cache`` is a local folder with the same layout."""

    remote = True

    def __init__(self, url: str, cache: str | os.PathLike | None = None, **s3_options: Any) -> None:
        import s3fs  # the cluster extra

        rest = url[len("s3://") :].strip("/")
        self.url = url
        self.bucket, _, self.prefix = rest.partition("/")
        if not self.bucket:
            raise StorageError(f"{url}: no bucket in the data URL (want s3://bucket/prefix)")
        if cache is None:
            cache = Path(tempfile.gettempdir()) / "fin_pipeline_cache" / self.bucket / self.prefix
        self.root = url.rstrip("/")
        self.cache = Path(cache)
        endpoint = os.environ.get("FIN_PIPELINE_S3_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")
        options = {"client_kwargs": {"endpoint_url": endpoint}} if endpoint else {}
        self.fs = s3fs.S3FileSystem(**{**options, **s3_options}, skip_instance_cache=True)
        self._check_bucket()

    # -- keys ----------------------------------------------------------------------------------------------
    def key(self, path: Path) -> str:
        rel = Path(path).relative_to(self.cache).as_posix()
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def describe(self, path: Path) -> str:
        return f"s3://{self.bucket}/{self.key(path)}"

    def _call(self, method: str, **kwargs: Any) -> Any:
        return self.fs.call_s3(method, Bucket=self.bucket, **kwargs)

    def _check_bucket(self) -> None:
        try:
            self._call("head_bucket")
        except Exception as exc:  # noqa: BLE001 (s3fs maps botocore errors onto OSError subclasses)
            raise StorageError(self._explain(exc)) from None

    def _explain(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, FileNotFoundError) or "NoSuchBucket" in text or "Not Found" in text:
            why = "does not exist"
        elif isinstance(exc, PermissionError) or any(
            s in text for s in ("Forbidden", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403")
        ):
            why = "refused the credentials (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the profile)"
        else:
            why = f"cannot be reached ({text})"
        return f"S3 bucket {self.bucket!r} of the data directory {self.url} {why}; nothing was written"

    # -- files ---------------------------------------------------------------------------------------------
    def pull(self, path: Path) -> Path:
        """Download the object of ``path`` into the cache (atomically); remove the cached copy if it is gone."""
        path = Path(path)
        try:
            data = _read_all(self.fs, self._call("get_object", Key=self.key(path))["Body"])
        except FileNotFoundError:
            path.unlink(missing_ok=True)
            return path
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
        return path

    def exists(self, path: Path) -> bool:
        """Whether the object of ``path`` is in the bucket (one HEAD request; nothing is downloaded)."""
        try:
            self._call("head_object", Key=self.key(path))
        except FileNotFoundError:
            return False
        return True

    def pull_tree(self, folder: Path) -> Path:
        """Mirror the objects under ``folder`` into the cache (files of the folder that are gone are removed)."""
        folder = Path(folder)
        prefix = self.key(folder).rstrip("/") + "/"
        keys = set()
        for key in self._find(prefix):
            rel = key[len(self.bucket) + 1 + len(prefix) :]
            keys.add(rel)
            self.pull(folder / rel)
        if folder.is_dir():
            for local in sorted(folder.rglob("*"), reverse=True):
                rel = local.relative_to(folder).as_posix()
                if local.is_file() and rel not in keys:
                    local.unlink()
                elif local.is_dir() and not any(local.iterdir()):
                    local.rmdir()
        return folder

    def push(self, path: Path, **conditions: str) -> str:
        """Upload the finished file ``path`` in one PUT (``conditions``: IfMatch/IfNoneMatch); its ETag."""
        data = Path(path).read_bytes()
        try:
            return self._call("put_object", Key=self.key(path), Body=data, **conditions)["ETag"]
        except Exception as exc:  # noqa: BLE001
            if _precondition_failed(exc):
                raise
            raise StorageError(f"{self.describe(path)}: upload failed: {self._explain(exc)}") from exc

    def push_tree(self, folder: Path) -> None:
        for local in sorted(Path(folder).rglob("*")):
            if local.is_file() and not local.name.endswith(".tmp"):
                self.push(local)

    def _find(self, prefix: str) -> list[str]:
        self.fs.invalidate_cache()  # other machines write too: always list afresh
        return self.fs.find(f"{self.bucket}/{prefix}")

    def delete(self, path: Path) -> None:
        """Remove the object of one file (e.g. after archiving its copy)."""
        self._call("delete_object", Key=self.key(path))

    def delete_tree(self, folder: Path) -> None:
        prefix = self.key(folder).rstrip("/") + "/"
        for key in self._find(prefix):
            self._call("delete_object", Key=key[len(self.bucket) + 1 :])

    # -- the lease -----------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lease(self, folder: Path, owner: str, ttl: float = 3600.0) -> Iterator[Lease]:
        lease = Lease(self, Path(folder) / LEASE_NAME, owner, ttl)
        lease.acquire()
        try:
            yield lease
        finally:
            lease.release()


def _read_all(fs: Any, body: Any) -> bytes:
    from fsspec.asyn import sync

    async def read() -> bytes:
        async with body:
            return await body.read()

    return sync(fs.loop, read)


class Lease:
    """A lease object under a fold's folder; see the module docstring."""

    def __init__(self, store: S3Store, path: Path, owner: str, ttl: float) -> None:
        self.store, self.path, self.owner, self.ttl = store, path, owner, float(ttl)
        self.key = store.key(path)
        self.etag: str | None = None

    def _write(self, **conditions: str) -> str:
        doc = {"owner": self.owner, "expires": time.time() + self.ttl, "host": os.uname().nodename}
        body = json.dumps(doc).encode()
        return self.store._call("put_object", Key=self.key, Body=body, **conditions)["ETag"]

    def _current(self) -> tuple[dict[str, Any], str] | None:
        try:
            obj = self.store._call("get_object", Key=self.key)
        except FileNotFoundError:
            return None
        return json.loads(_read_all(self.store.fs, obj["Body"])), obj["ETag"]

    def acquire(self) -> None:
        """Create the lease (If-None-Match: *), or take over our own or an expired one (If-Match: its ETag)."""
        try:
            self.etag = self._write(IfNoneMatch="*")
            return
        except Exception as exc:  # noqa: BLE001
            if not _precondition_failed(exc):
                raise StorageError(f"{self.store.describe(self.path)}: {self.store._explain(exc)}") from exc
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
            if _precondition_failed(exc):
                raise LeaseError(f"{self.store.describe(self.path)}: another writer took the lease first") from None
            raise

    def renew(self) -> None:
        """Extend the lease; :class:`LeaseError` if it is no longer ours (taken over after it expired)."""
        try:
            self.etag = self._write(IfMatch=self.etag)
        except Exception as exc:  # noqa: BLE001
            if _precondition_failed(exc) or isinstance(exc, FileNotFoundError):
                raise LeaseError(
                    f"{self.store.describe(self.path)}: the lease of run {self.owner} expired and was taken over; "
                    "this run does not publish"
                ) from None
            raise

    def release(self) -> None:
        with contextlib.suppress(Exception):
            self.store._call("delete_object", Key=self.key, IfMatch=self.etag)


def _precondition_failed(exc: BaseException) -> bool:
    if isinstance(exc, FileExistsError):  # s3fs's name for 412 Precondition Failed (If-None-Match)
        return True
    text = f"{exc!r} {exc} {exc.__cause__!r}"  # If-Match: an OSError caused by botocore's ClientError
    return any(s in text for s in ("PreconditionFailed", "412", "ConditionalRequestConflict"))


def open_store(root: str | os.PathLike, cache: str | os.PathLike | None = None) -> LocalStore | S3Store:
    """The store of a data directory: :class:`S3Store` for ``s3://`` URLs, else :class:`LocalStore`."""
    return S3Store(str(root), cache) if is_url(root) else LocalStore(root)
