"""The services a cluster run depends on: the Celery broker and result backend, their URLs and checks.

Shared by the Celery executor (the producer, :mod:`fin_pipeline.defs.executors`), the workers
(:mod:`fin_pipeline.runtime.workers`) and the instance check (:mod:`fin_pipeline.runtime.instance`): one copy of
the URLs, queue names and Celery settings. A service that cannot be reached fails at once, naming its URL with the
password masked.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fin_pipeline.core.deployment import DEFAULT_BACKEND, DEFAULT_BROKER

GPU_QUEUE = "gpu"
DEFAULT_QUEUE = "dagster"  # dagster-celery's default queue

# Celery settings shared by the executor (the producer) and the workers: one task at a time per worker
# process, acknowledged after it finished, re-queued when its worker is lost.
CELERY_SETTINGS: dict[str, Any] = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
    "broker_connection_retry_on_startup": False,
}


class ServiceUnreachable(RuntimeError):
    """A broker, result backend or database that cannot be reached; the message names its (masked) URL."""


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (``pyamqp://guest:***@host:5672//``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def celery_broker() -> str:
    return os.environ.get("FIN_PIPELINE_CELERY_BROKER", "").strip() or DEFAULT_BROKER


def celery_backend() -> str:
    return os.environ.get("FIN_PIPELINE_CELERY_BACKEND", "").strip() or DEFAULT_BACKEND


def check_broker(url: str, timeout: float = 3.0) -> None:
    """Connect to the Celery broker once; :class:`ServiceUnreachable` naming the masked URL if that fails."""
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
    except Exception as exc:
        raise ServiceUnreachable(f"Celery broker {mask_url(url)} is unreachable: {exc}") from None


def check_backend(url: str, timeout: float = 3.0) -> None:
    """Ping a Redis result backend (other backends are checked by Celery itself)."""
    if not url.startswith(("redis://", "rediss://")):
        return
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout).ping()
    except Exception as exc:
        raise ServiceUnreachable(f"Celery result backend {mask_url(url)} is unreachable: {exc}") from None


def celery_app_args() -> dict[str, Any]:
    """The Celery app arguments of the executor and of every worker: same broker, backend and settings."""
    from dagster_celery.executor import CeleryExecutor

    return CeleryExecutor.for_cli(
        broker=celery_broker(), backend=celery_backend(), config_source=CELERY_SETTINGS
    ).app_args()
