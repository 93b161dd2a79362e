"""Corrupt stored files fail a step once, never retried: a retry reads the same bytes and fails the same way.

Dagster's ``RetryPolicy`` takes no predicate on the exception; a ``Failure(allow_retries=False)`` is how a step
says that a retry cannot help (the failure still names the file, both hashes and what rebuilds it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from dagster import Failure

from fin_pipeline.store.parquet import IntegrityError
from fin_pipeline.training.checkpoint import CheckpointError

CORRUPT = (IntegrityError, CheckpointError)


@contextlib.contextmanager
def refuse_corrupt(what: str) -> Iterator[None]:
    """Turn a corrupt or unreadable stored file met inside the block into a failure Dagster does not retry."""
    try:
        yield
    except CORRUPT as exc:
        raise Failure(f"{what}: {exc}", allow_retries=False) from exc
