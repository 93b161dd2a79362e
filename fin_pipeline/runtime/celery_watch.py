"""Celery steps that wait for a worker say so, and give up after a bound instead of holding the pool forever.

dagster-celery's executor polls each submitted task's result once a second and waits for it without limit. A
task's queue with no consumer (no ``fin-pipeline-worker --queue gpu`` started, or the only one killed mid-fold)
left the run ``STARTED``, holding its ``training`` pool slot, with nothing in its log. :class:`WatchedResult` wraps
the task's result: every few seconds it asks the broker how many workers consume the task's queue; while none does
it logs, once a minute, that the step waits and on which queue; after ``FIN_PIPELINE_WORKER_WAIT`` seconds (300)
without one it gives the step up: the task is revoked and the step fails with that reason (the run fails and its
slot is freed, :mod:`fin_pipeline.runtime.watch`). A worker that dies while another consumes the queue costs
nothing here: RabbitMQ hands its unacknowledged task to that worker at once, which resumes from the run's ``last.pt``.

:class:`RunCheckedTask` is the workers' side: a task whose run has already ended (given up as above, then handed
to a worker started later, which never heard of the revocation) is skipped instead of training for a dead run.
"""

from __future__ import annotations

import time

from fin_pipeline.runtime.services import queue_consumers, worker_wait

CHECK_SECONDS = 5.0  # how often the broker is asked for the queue's consumers
SAY_SECONDS = 60.0  # how often a waiting step says so again


class WorkerLost(RuntimeError):
    """A step given up: no worker consumed its queue for the whole wait."""


class WatchedResult:
    """A Celery ``AsyncResult`` whose :meth:`ready` also watches the consumers of the task's queue."""

    def __init__(self, result, plan_context, step_key: str, queue: str, broker: str, wait: float) -> None:
        self._result, self._context, self._step, self._queue, self._broker = (
            result,
            plan_context,
            step_key,
            queue,
            broker,
        )
        self._wait = wait
        self._next_check = 0.0
        self._alone_since: float | None = None  # when the queue was first seen without a consumer
        self._said = 0.0
        self._error: str | None = None

    def ready(self) -> bool:
        if self._error is not None or self._result.ready():
            return True
        now = time.monotonic()
        if now < self._next_check:
            return False
        self._next_check = now + CHECK_SECONDS
        consumers = queue_consumers(self._broker, self._queue)
        if consumers is None or consumers > 0:
            if self._alone_since is not None and consumers:
                self._context.log.info(f"{self._step}: a worker consumes Celery queue '{self._queue}' again")
            self._alone_since = None if consumers else self._alone_since
            return False
        self._alone_since = self._alone_since or now
        waited = now - self._alone_since
        if waited >= self._wait:
            self._error = (
                f"{self._step} was given up: no worker consumed Celery queue '{self._queue}' for {waited:.0f} s "
                f"(FIN_PIPELINE_WORKER_WAIT={self._wait:.0f}); its worker died, or none was started: "
                f"start one with `fin-pipeline-worker --queue {self._queue}` and run the step again (a fold "
                "resumes from its last complete epoch)"
            )
            self._result.revoke()
            self._context.log.error(self._error)
            return True
        if now - self._said >= SAY_SECONDS:
            self._said = now
            self._context.log.warning(
                f"{self._step} waits for a worker on Celery queue '{self._queue}': none consumes it "
                f"(for {waited:.0f} s; given up after {self._wait:.0f} s); start one with "
                f"`fin-pipeline-worker --queue {self._queue}`"
            )
        return False

    def get(self, *args, **kwargs):
        if self._error is not None:
            raise WorkerLost(self._error)
        return self._result.get(*args, **kwargs)

    def revoke(self, *args, **kwargs):
        return self._result.revoke(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._result, name)


def watched_submit(app, plan_context, step, queue, priority, known_state):
    """dagster-celery's task submission, its result wrapped in a :class:`WatchedResult`."""
    from dagster_celery.executor import _submit_task

    result = _submit_task(app, plan_context, step, queue, priority, known_state)
    broker = plan_context.executor.broker
    return WatchedResult(result, plan_context, step.key, queue, broker, worker_wait())


def run_checked_task_class():
    """The base class of the workers' step task: skips a task whose run has already ended."""
    from celery import Task

    class RunCheckedTask(Task):
        def __call__(self, *args, **kwargs):
            from dagster import DagsterInstance
            from dagster._grpc.types import ExecuteStepArgs
            from dagster._serdes import unpack_value

            packed = kwargs["execute_step_args_packed"] if "execute_step_args_packed" in kwargs else args[0]
            step_args = unpack_value(packed, as_type=ExecuteStepArgs)
            with DagsterInstance.from_ref(step_args.instance_ref) as instance:
                run = instance.get_run_by_id(step_args.run_id)
                if run is not None and run.is_finished:
                    print(
                        f"fin-pipeline-worker: skipped {', '.join(step_args.step_keys_to_execute or [])} of run "
                        f"{run.run_id}: the run already ended {run.status.value}",
                        flush=True,
                    )
                    return []
            return super().__call__(*args, **kwargs)

    return RunCheckedTask
