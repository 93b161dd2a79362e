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


# A step whose Celery queue has had no consumer for this long fails, naming the queue (its pool slot is freed):
# no worker was started for it, or its worker died and none took the task over. RabbitMQ hands a dead worker's
# task to another consumer of the queue at once, so a live worker resumes the step well within it.
REDIS_SCHEMES = ("redis://", "rediss://", "redis+socket://", "sentinel://")


class ServiceUnreachable(RuntimeError):
    """A broker, result backend or database that cannot be reached, or a broker that is refused; the message
    names its (masked) URL."""


class BrokerRefused(ServiceUnreachable):
    """A broker that cannot bound how long a dead worker's task waits (Redis): refused, saying why."""


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


def refuse_redis_broker(url: str) -> None:
    """:class:`BrokerRefused` for a Redis broker.

    Redis has no consumer connections to watch: a task taken by a worker that dies is handed out again only once
    its ``visibility_timeout`` has passed (1 h by default), and a task still running on a live worker is handed out
    again just the same when it runs longer than that. No timeout fits both: short enough for a dead worker's
    fold not to hold the ``training`` pool for long, it would train every longer fold twice at once. RabbitMQ
    hands the task on as soon as the dead worker's connection drops, and never while the worker lives."""
    if url.strip().lower().startswith(REDIS_SCHEMES):
        raise BrokerRefused(
            f"Celery broker {mask_url(url)} is refused: Redis re-delivers the task of a worker that died only "
            "after its visibility timeout (1 h by default), and re-delivers a fold still training on a live worker "
            "once that timeout passes, so no timeout both frees the training pool soon after a worker dies and "
            "trains each fold once; set FIN_PIPELINE_CELERY_BROKER to RabbitMQ (pyamqp://user:password@host:5672//), "
            "which re-delivers as soon as the worker's connection drops (Redis stays fine as the result backend, "
            "FIN_PIPELINE_CELERY_BACKEND)"
        )


def worker_wait() -> float:
    """Seconds a step waits for a consumer of its queue (``FIN_PIPELINE_WORKER_WAIT``, default 300, checked with
    the other settings)."""
    from fin_pipeline.core.settings import load_settings

    return load_settings().deployment.worker_wait


def queue_consumers(url: str, queue: str, timeout: float = 3.0) -> int | None:
    """How many workers consume ``queue`` on an AMQP broker (0 when the queue does not exist); None where the
    broker cannot tell (not AMQP) or cannot be reached right now."""
    if not url.startswith(("amqp://", "pyamqp://", "amqps://", "pyamqps://")):
        return None
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=timeout) as conn:
            try:
                return conn.default_channel.queue_declare(queue=queue, passive=True).consumer_count
            except conn.channel_errors:
                return 0  # NOT_FOUND: no worker ever declared it
    except Exception:
        return None


def check_broker(url: str, timeout: float = 3.0) -> None:
    """Connect to the Celery broker once; :class:`ServiceUnreachable` naming the masked URL if that fails,
    :class:`BrokerRefused` for a Redis broker."""
    from kombu import Connection

    refuse_redis_broker(url)

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
