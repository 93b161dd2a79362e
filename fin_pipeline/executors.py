"""How the jobs' steps run: Dagster's default executor on one machine, or Celery workers when configured.

``FIN_PIPELINE_EXECUTOR`` picks the executor of every job of the code location:

* ``default`` (or unset): Dagster's default, each run's steps in subprocesses of one machine. The CLI's
  in-process runs (``fin-pipeline run``) ignore the executor and stay in process.
* ``k8s``: each step is a Kubernetes job (``k8s_job_executor``, see ``deploy/helm/values.yaml``); the
  ``dagster-k8s/config`` tag of :data:`TRAINING_OP_TAGS` gives the training step one GPU.
* ``celery``: steps are Celery tasks (``dagster-celery``). ``trained_model`` steps go to the ``gpu`` queue
  (:data:`TRAINING_OP_TAGS`), every other step to Dagster's default queue ``dagster``; workers started with
  ``fin-pipeline-worker`` (:mod:`fin_pipeline.workers`) consume them. Broker ``FIN_PIPELINE_CELERY_BROKER``
  (RabbitMQ or Redis), result backend ``FIN_PIPELINE_CELERY_BACKEND`` (Redis).

Tasks are acknowledged *late* (after the step returns): a worker that dies mid-step (SIGKILL, lost machine)
never acknowledges its task, so the broker hands it to another worker, where ``trained_model`` resumes from the
run's ``last.pt``. Before the first step is submitted, the broker and the backend are checked: an unreachable
one fails the run at once with its URL (password masked) instead of leaving it hanging.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fin_pipeline.settings import SettingsError

GPU_QUEUE = "gpu"
DEFAULT_QUEUE = "dagster"  # dagster-celery's default queue
DEFAULT_BROKER = "pyamqp://guest:guest@127.0.0.1:5672//"
DEFAULT_BACKEND = "redis://127.0.0.1:6379/0"
EXECUTORS = ("default", "celery", "k8s")

# Op tags of the training step: its Celery queue, and on Kubernetes (k8s_job_executor) a pod of its own with
# one GPU. The other steps keep the defaults: the default queue, a plain pod.
TRAINING_OP_TAGS: dict[str, Any] = {
    "dagster-celery/queue": GPU_QUEUE,
    "dagster-k8s/config": {
        "container_config": {
            "resources": {
                "requests": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"},
                "limits": {"memory": "16Gi", "nvidia.com/gpu": "1"},
            }
        },
        "pod_spec_config": {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]},
    },
}

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


def _celery_executor():
    from dagster import executor, multiple_process_executor_requirements
    from dagster._core.execution.retries import RetryMode
    from dagster_celery.executor import CELERY_CONFIG, CeleryExecutor

    class CheckedCeleryExecutor(CeleryExecutor):
        """dagster-celery's executor, checking the broker and backend before submitting any step."""

        def execute(self, plan_context, execution_plan):
            check_broker(self.broker)
            check_backend(self.backend)
            return super().execute(plan_context, execution_plan)

    @executor(name="celery", config_schema=CELERY_CONFIG, requirements=multiple_process_executor_requirements())
    def checked_celery_executor(init_context):
        """Celery executor (dagster-celery) with a reachability check of its broker and result backend."""
        config = init_context.executor_config
        return CheckedCeleryExecutor(
            broker=config.get("broker"),
            backend=config.get("backend"),
            config_source={**CELERY_SETTINGS, **(config.get("config_source") or {})},
            include=config.get("include"),
            retries=RetryMode.from_config(config["retries"]),
        )

    # The URLs are read from the environment when a run starts, so the UI shows the variables' names only.
    def source(var: str, default: str) -> Any:
        return {"env": var} if os.environ.get(var, "").strip() else default

    return checked_celery_executor.configured(
        {
            "broker": source("FIN_PIPELINE_CELERY_BROKER", DEFAULT_BROKER),
            "backend": source("FIN_PIPELINE_CELERY_BACKEND", DEFAULT_BACKEND),
        }
    )


def executor_from_env():
    """The executor ``FIN_PIPELINE_EXECUTOR`` names: ``None`` (Dagster's default) or the Celery executor."""
    choice = os.environ.get("FIN_PIPELINE_EXECUTOR", "").strip().lower() or "default"
    if choice not in EXECUTORS:
        raise SettingsError(f"FIN_PIPELINE_EXECUTOR={choice!r} is not one of {list(EXECUTORS)}")
    if choice == "k8s":  # a pod per step (dagster-k8s); configured by the Helm chart's run launcher
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    return _celery_executor() if choice == "celery" else None
