"""What the project's executors add around Dagster's: the run's process in its tags, no wait behind a dead holder.

Every run the code location's executors execute (``dagster asset materialize``, ``dagster job execute``, the UI,
schedules and sensors through the daemon; ``fin-pipeline run`` tags its in-process runs itself):

* is tagged with the process executing it (:func:`fin_pipeline.runtime.processes.process_tags`), so that its death
  can be seen by run monitoring (:mod:`fin_pipeline.runtime.launcher`), ``fin-pipeline doctor`` and the runs that
  wait behind it;
* frees, before its first step, the pool slots of runs that cannot give them back (ended, or their process gone:
  :func:`fin_pipeline.runtime.pools.free_dead_holders`);
* when a step is blocked by a pool, logs who holds it and whether that process lives, frees dead holders, and
  waits by polling every few seconds (Dagster's executor loop re-checks a blocked claim without sleeping, which
  kept a core busy for as long as the wait lasted);
* frees its own slots when its executor returns: a step given up without a success or failure event (a Celery task
  whose worker died, :mod:`fin_pipeline.runtime.celery_watch`) would otherwise keep its slot after the run ended.

dagster-celery's executor loop emits no event while a step is blocked by a pool, so for it a thread
(:class:`PoolWatcher`) looks every few seconds for the run's blocked steps, frees dead holders and says what holds
the pool.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from dagster import DagsterEventType

from fin_pipeline.runtime.pools import free_dead_holders, holder_lines
from fin_pipeline.runtime.processes import process_tags

BLOCKED = ("Step blocked by limit for pool ", "Step still blocked by limit for pool ")
ENDED = {
    DagsterEventType.STEP_SUCCESS,
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.STEP_SKIPPED,
    DagsterEventType.STEP_UP_FOR_RETRY,
}
POLL_SECONDS = 2.0  # how often a blocked step looks at its pool
SAY_SECONDS = 60.0  # how often it says again what it waits for


def watched(plan_context, events: Iterator, poll: float = POLL_SECONDS, thread: bool = False) -> Iterator:
    """``events`` (an executor's), with the run tagged, dead holders freed and blocked steps waiting quietly; with
    ``thread``, blocked steps are also looked for by a :class:`PoolWatcher` (for loops that emit no blocked event)."""
    instance, run_id = plan_context.instance, plan_context.dagster_run.run_id
    instance.add_run_tags(run_id, process_tags())
    for line in free_dead_holders(instance):
        plan_context.log.warning(line)
    in_flight: set[str] = set()
    watcher = PoolWatcher(plan_context).start() if thread else None
    try:
        for event in events:
            yield event
            if event.event_type in (DagsterEventType.STEP_WORKER_STARTING, DagsterEventType.STEP_START):
                in_flight.add(event.step_key)
            elif event.event_type in ENDED:
                in_flight.discard(event.step_key)
            elif event.event_type == DagsterEventType.ENGINE_EVENT and (event.message or "").startswith(BLOCKED):
                pool = event.message.split(" pool ", 1)[1]
                wait_for_slot(plan_context, pool, event.step_key, quiet=not in_flight, poll=poll)
    finally:
        if watcher is not None:
            watcher.stop()
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)


def wait_for_slot(plan_context, pool: str, step_key: str, quiet: bool, poll: float = POLL_SECONDS) -> None:
    """Say what holds ``pool`` and free dead holders; with ``quiet`` (no other step of the run in flight, whose
    events would wait meanwhile), also wait here, polling, until the step's claim is granted."""
    from dagster._utils.interrupts import check_captured_interrupt

    instance, run_id = plan_context.instance, plan_context.dagster_run.run_id
    storage = instance.event_log_storage
    said = 0.0
    while True:
        for line in free_dead_holders(instance, {pool}):
            plan_context.log.warning(line)
        info = storage.get_concurrency_info(pool)
        mine = [s for s in info.pending_steps if s.run_id == run_id and s.step_key == step_key]
        if not mine or mine[0].assigned_timestamp is not None or info.active_slot_count < info.slot_count:
            return
        if time.monotonic() - said >= SAY_SECONDS:
            said = time.monotonic()
            holders = "; ".join(holder_lines(instance, pool)) or "no run"
            plan_context.log.warning(
                f"{step_key} waits for the '{pool}' pool (limit {info.slot_count}), held by: {holders}"
            )
        if not quiet or check_captured_interrupt():
            return
        time.sleep(poll)


class PoolWatcher:
    """A thread that, every ``every`` seconds, finds the run's steps blocked by a pool, frees dead holders of that
    pool and says (once a minute) what holds it."""

    def __init__(self, plan_context, every: float = 5.0) -> None:
        self._context, self._every = plan_context, every
        self._stop = threading.Event()
        self._said: dict[str, float] = {}
        self._thread = threading.Thread(target=self._loop, name="fin-pipeline-pool-watch", daemon=True)

    def start(self) -> PoolWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self.check()
            except Exception as exc:  # a watcher never breaks the run it watches
                self._context.log.debug(f"pool watch: {exc!r}")

    def check(self) -> None:
        instance, run_id = self._context.instance, self._context.dagster_run.run_id
        storage = instance.event_log_storage
        for pool in sorted(storage.get_concurrency_keys()):
            info = storage.get_concurrency_info(pool)
            waiting = [s for s in info.pending_steps if s.run_id == run_id and s.assigned_timestamp is None]
            if not waiting:
                continue
            freed = free_dead_holders(instance, {pool})
            for line in freed:
                self._context.log.warning(line)
            if freed:  # a freed slot goes to the first waiting step: look again
                info = storage.get_concurrency_info(pool)
                waiting = [s for s in info.pending_steps if s.run_id == run_id and s.assigned_timestamp is None]
            holders = "; ".join(holder_lines(instance, pool)) or "no run"
            for step in waiting:
                if time.monotonic() - self._said.get(step.step_key, -SAY_SECONDS) >= SAY_SECONDS:
                    self._said[step.step_key] = time.monotonic()
                    self._context.log.warning(
                        f"{step.step_key} waits for the '{pool}' pool (limit {info.slot_count}), held by: {holders}"
                    )
