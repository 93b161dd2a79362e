"""How the jobs' steps run: Dagster's default executor on one machine, or Celery workers when configured.

``FIN_PIPELINE_EXECUTOR`` picks the executor of every job of the code location:

* ``default`` (or unset): Dagster's default (``multi_or_in_process_executor``), each run's steps in subprocesses of
  one machine. The CLI's in-process runs (``fin-pipeline run``) ignore the executor and stay in process.
* ``k8s``: each step is a Kubernetes job (``k8s_job_executor``, see ``deploy/helm/values.yaml``); the
  ``dagster-k8s/config`` tag of :data:`TRAINING_OP_TAGS` gives the training steps one GPU and, with
  ``FIN_PIPELINE_GPU_IMAGE``, the image with torch's CUDA build (the Dockerfile's ``gpu`` target).
* ``celery``: steps are Celery tasks (``dagster-celery``). ``trained_model`` and ``live_model`` steps go to the
  ``gpu`` queue (:data:`TRAINING_OP_TAGS`), every other step to Dagster's default queue ``dagster``; workers started
  with ``fin-pipeline-worker`` (:mod:`fin_pipeline.runtime.workers`) consume them. Broker ``FIN_PIPELINE_CELERY_BROKER``
  (RabbitMQ or Redis), result backend ``FIN_PIPELINE_CELERY_BACKEND`` (Redis).

Tasks are acknowledged *late* (after the step returns): a worker that dies mid-step (SIGKILL, lost machine)
never acknowledges its task, so RabbitMQ hands it to another worker of the queue at once, where ``trained_model``
resumes from the run's ``last.pt``; a step whose queue has no worker for ``FIN_PIPELINE_WORKER_WAIT`` seconds is
given up and fails, naming the queue (:mod:`fin_pipeline.runtime.celery_watch`). A Redis broker is refused, saying
why (:func:`fin_pipeline.runtime.services.refuse_redis_broker`). Before the first step is submitted, the broker and
the backend are checked: an unreachable one fails the run at once with its URL (password masked) instead of
leaving it hanging.

The default and Celery executors are wrapped by :func:`fin_pipeline.runtime.watch.watched`: the run is tagged with
its process, pool slots of dead runs are freed before a step waits for them, and a blocked step says what holds
its pool. Then the run is tagged with the candle source this process resolves
(:mod:`fin_pipeline.defs.run_source`), which the workers serve or refuse by name.
"""

from __future__ import annotations

import os
from typing import Any

from dagster._core.executor.base import Executor

from fin_pipeline.core.settings import load_settings
from fin_pipeline.defs.run_source import carry_source
from fin_pipeline.runtime.celery_watch import watched_submit
from fin_pipeline.runtime.services import (
    CELERY_SETTINGS,
    DEFAULT_BACKEND,
    DEFAULT_BROKER,
    GPU_QUEUE,
    check_backend,
    check_broker,
    worker_wait,
)
from fin_pipeline.runtime.watch import watched

# The steps that train a model: on Celery the gpu queue, on Kubernetes (k8s_job_executor) a pod of its own with
# one GPU, in the CUDA image when FIN_PIPELINE_GPU_IMAGE names one (the Dockerfile's gpu target; the run's image
# has torch's CPU build). The other steps keep the defaults: the default queue, a plain pod in the run's image.
GPU_STEPS = ("trained_model", "live_model", "board_predictions")


def training_op_tags(gpu_image: str | None = None) -> dict[str, Any]:
    """The op tags of a GPU step; ``gpu_image`` (FIN_PIPELINE_GPU_IMAGE) is its pod's image on Kubernetes."""
    container: dict[str, Any] = {
        "resources": {
            "requests": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"},
            "limits": {"memory": "16Gi", "nvidia.com/gpu": "1"},
        }
    }
    if gpu_image:
        container["image"] = gpu_image
    return {
        "dagster-celery/queue": GPU_QUEUE,
        "dagster-k8s/config": {
            "container_config": container,
            "pod_spec_config": {
                "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
            },
        },
    }


TRAINING_OP_TAGS = training_op_tags(load_settings().deployment.gpu_image)


class WatchedExecutor(Executor):
    """An executor (Dagster's default one) whose events pass through :func:`~fin_pipeline.runtime.watch.watched`;
    everything else is the wrapped executor's."""

    def __init__(self, inner: Executor) -> None:
        self._inner = inner

    def execute(self, plan_context, execution_plan):
        return watched(plan_context, self._inner.execute(plan_context, execution_plan))

    @property
    def retries(self):
        return self._inner.retries

    @property
    def step_dependency_config(self):
        return self._inner.step_dependency_config

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


def _default_executor():
    from dagster import executor, multi_or_in_process_executor
    from dagster._core.definitions.executor_definition import _get_default_executor_requirements

    @executor(
        name="multi_or_in_process_executor",  # the name, config and behaviour of Dagster's default
        config_schema=multi_or_in_process_executor.config_schema,
        requirements=_get_default_executor_requirements,
    )
    def watched_default_executor(init_context):
        """Dagster's default executor (multiprocess, or in process), watched: see fin_pipeline/defs/executors.py."""
        return WatchedExecutor(multi_or_in_process_executor.executor_creation_fn(init_context))

    return watched_default_executor


def _celery_executor():
    from dagster import executor, multiple_process_executor_requirements
    from dagster._core.execution.retries import RetryMode
    from dagster_celery.core_execution_loop import core_celery_execution_loop
    from dagster_celery.executor import CELERY_CONFIG, CeleryExecutor

    class CheckedCeleryExecutor(CeleryExecutor):
        """dagster-celery's executor, checking the broker and backend before submitting any step, watching the
        run (:func:`~fin_pipeline.runtime.watch.watched`) and each task's queue (``watched_submit``)."""

        def execute(self, plan_context, execution_plan):
            check_broker(self.broker)
            check_backend(self.backend)
            # Before any step reaches a worker: the source this process resolves goes with the run (a run tag),
            # so a worker that cannot serve it fails naming the setting instead of fetching from another one.
            carry_source(plan_context.instance, plan_context.dagster_run)
            worker_wait()  # a bad FIN_PIPELINE_WORKER_WAIT fails here, before any step
            loop = core_celery_execution_loop(plan_context, execution_plan, step_execution_fn=watched_submit)
            return watched(plan_context, loop, thread=True)  # its loop emits no event while a step is blocked

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
    """The executor ``FIN_PIPELINE_EXECUTOR`` names: Dagster's default or the Celery executor (both watched), or
    dagster-k8s's (a pod per step; the run launcher's run monitoring watches its pods)."""
    choice = load_settings().deployment.executor  # one of core.deployment.EXECUTORS, checked at start
    if choice == "k8s":  # a pod per step (dagster-k8s); configured by the Helm chart's run launcher
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    return _celery_executor() if choice == "celery" else _default_executor()
