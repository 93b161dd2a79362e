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
  Each object also carries the SHA-256 of its bytes as user metadata (``x-amz-meta-sha256``); a push first asks
  for it (one HEAD) and sends nothing when the object already holds these bytes, so a rerun that changed
  nothing uploads nothing (an object written before the digest was stored is compared by its ETag, the MD5 of a
  single-PUT body);
- :meth:`~S3Store.lease` keeps concurrent writers of one fold apart with a **lease object** ``.lease.json``
  beside the fold's files (:mod:`fin_pipeline.store.lease`), written with S3 conditional writes:
  ``If-None-Match: *`` to create it (only one writer can), ``If-Match: <etag>`` to renew it, to take over an
  expired one and to delete it (a writer whose lease was taken over fails on its next renewal, before it
  publishes). The lease names its owner (the run id: a step re-delivered to another worker of the same run takes
  it over) and expires ``ttl`` seconds after its last renewal, so a dead writer's lease does not block the fold
  forever.

A missing bucket or refused credentials raise :class:`~fin_pipeline.store.parquet.StorageError` naming the bucket
when the store is opened, before anything is written. No dagster here.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fin_pipeline.store.lease import LEASE_NAME, Lease, LeaseError, precondition_failed, read_body
from fin_pipeline.store.parquet import StorageError, atomic_path

__all__ = ["LEASE_NAME", "Lease", "LeaseError", "LocalStore", "S3Store", "is_url", "open_store"]
DIGEST = "sha256"  # the user-metadata key of an object's content digest (x-amz-meta-sha256)


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

    def folders(self, folder: Path) -> list[str]:
        folder = Path(folder)
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

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

    def call(self, method: str, **kwargs: Any) -> Any:
        return self.fs.call_s3(method, Bucket=self.bucket, **kwargs)

    def _check_bucket(self) -> None:
        try:
            self.call("head_bucket")
        except Exception as exc:  # noqa: BLE001 (s3fs maps botocore errors onto OSError subclasses)
            raise StorageError(self.explain(exc)) from None

    def explain(self, exc: BaseException) -> str:
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
            data = read_body(self.fs, self.call("get_object", Key=self.key(path))["Body"])
        except FileNotFoundError:
            path.unlink(missing_ok=True)
            return path
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
        return path

    def exists(self, path: Path) -> bool:
        """Whether the object of ``path`` is in the bucket (one HEAD request; nothing is downloaded)."""
        try:
            self.call("head_object", Key=self.key(path))
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

    def folders(self, folder: Path) -> list[str]:
        """The names of the subfolders of ``folder`` in the bucket (its keys' next path segment)."""
        prefix = self.key(folder).rstrip("/") + "/"
        rest = [key[len(self.bucket) + 1 + len(prefix) :] for key in self._find(prefix)]
        return sorted({r.split("/")[0] for r in rest if "/" in r})

    def push(self, path: Path, **conditions: str) -> str:
        """Upload the finished file ``path`` in one PUT (``conditions``: IfMatch/IfNoneMatch); its ETag. Without
        conditions, a file whose bytes the object already holds is not sent (see the module docstring)."""
        data = Path(path).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if not conditions and (etag := self._holding(path, data, digest)):
            return etag
        try:
            put = {"Key": self.key(path), "Body": data, "Metadata": {DIGEST: digest}, **conditions}
            return self.call("put_object", **put)["ETag"]
        except Exception as exc:  # noqa: BLE001
            if precondition_failed(exc):
                raise
            raise StorageError(f"{self.describe(path)}: upload failed: {self.explain(exc)}") from exc

    def _holding(self, path: Path, data: bytes, digest: str) -> str | None:
        """The object's ETag when it holds exactly ``data`` (its stored SHA-256, else its ETag as the MD5 of a
        single-PUT body); None when it is missing, differs, or cannot be asked (the PUT then says why)."""
        try:
            head = self.call("head_object", Key=self.key(path))
        except Exception:  # noqa: BLE001 (missing, or refused: either way the upload goes ahead)
            return None
        stored = (head.get("Metadata") or {}).get(DIGEST)
        etag = str(head.get("ETag", "")).strip('"')
        same = stored == digest if stored else etag == hashlib.md5(data, usedforsecurity=False).hexdigest()
        return head.get("ETag") if same else None

    def push_tree(self, folder: Path) -> None:
        for local in sorted(Path(folder).rglob("*")):
            if local.is_file() and not local.name.endswith(".tmp"):
                self.push(local)

    def _find(self, prefix: str) -> list[str]:
        self.fs.invalidate_cache()  # other machines write too: always list afresh
        return self.fs.find(f"{self.bucket}/{prefix}")

    def delete(self, path: Path) -> None:
        """Remove the object of one file (e.g. after archiving its copy)."""
        self.call("delete_object", Key=self.key(path))

    def delete_tree(self, folder: Path) -> None:
        prefix = self.key(folder).rstrip("/") + "/"
        for key in self._find(prefix):
            self.call("delete_object", Key=key[len(self.bucket) + 1 :])

    # -- the lease -----------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lease(self, folder: Path, owner: str, ttl: float = 3600.0) -> Iterator[Lease]:
        lease = Lease(self, Path(folder) / LEASE_NAME, owner, ttl)
        lease.acquire()
        try:
            yield lease
        finally:
            lease.release()


def open_store(root: str | os.PathLike, cache: str | os.PathLike | None = None) -> LocalStore | S3Store:
    """The store of a data directory: :class:`S3Store` for ``s3://`` URLs, else :class:`LocalStore`."""
    return S3Store(str(root), cache) if is_url(root) else LocalStore(root)
