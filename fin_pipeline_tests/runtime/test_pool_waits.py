"""A step blocked by the training pool says what blocks it, and a holder that cannot give its slot back is freed."""

import socket
import subprocess

from dagster import DagsterRunStatus
from dagster._core.launcher import WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.test_utils import create_run_for_test, instance_for_test

from fin_pipeline.runtime.doctor import HOST_TAG, PID_TAG, START_TAG, doctor, pool_waits, process_tags
from fin_pipeline.runtime.launcher import ProcessCheckedRunLauncher
from fin_pipeline.runtime.pools import free_dead_holders
from fin_pipeline.runtime.watch import PoolWatcher, wait_for_slot


def gone_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def dead_tags() -> dict[str, str]:
    return {**process_tags(), PID_TAG: str(gone_pid()), START_TAG: ""}


def started(instance, partition: str, tags: dict[str, str]) -> DagsterRun:
    return instance.add_run(
        DagsterRun(
            job_name="walk_forward_job",
            status=DagsterRunStatus.STARTED,
            tags={"dagster/partition": partition, **tags},
        )
    )


class Log:
    def __init__(self):
        self.lines = []

    def warning(self, msg):
        self.lines.append(msg)


class Context:
    """The two things wait_for_slot reads of an executor's plan context."""

    def __init__(self, instance, run):
        self.instance, self.dagster_run, self.log = instance, run, Log()


def test_a_blocked_step_names_the_run_that_holds_the_pool(tmp_path):
    with instance_for_test(temp_dir=str(tmp_path)) as instance:
        storage = instance.event_log_storage
        storage.set_concurrency_slots("training", 1)
        holder = create_run_for_test(
            instance,
            job_name="walk_forward_job",
            tags={"dagster/partition": "fold_03", PID_TAG: "4242", HOST_TAG: "box"},
        )
        waiter = create_run_for_test(instance, job_name="walk_forward_job", tags={"dagster/partition": "fold_04"})
        assert storage.claim_concurrency_slot("training", holder.run_id, "trained_model").is_claimed
        assert not storage.claim_concurrency_slot("training", waiter.run_id, "trained_model").is_claimed
        (line,) = pool_waits(instance)
        assert line.startswith(f"trained_model of run {waiter.run_id} has waited ")
        assert "for the 'training' pool (limit 1)" in line
        assert f"trained_model of run {holder.run_id} (walk_forward_job fold_03" in line
        assert "pid 4242 on box: process on another host" in line  # its liveness cannot be seen from here
        assert pool_waits(instance, min_wait=3600) == []  # not yet an hour
        storage.free_concurrency_slots_for_run(holder.run_id)
        assert storage.claim_concurrency_slot("training", waiter.run_id, "trained_model").is_claimed
        assert pool_waits(instance) == []


def test_only_holders_that_cannot_give_their_slot_back_are_freed(tmp_path):
    with instance_for_test(temp_dir=str(tmp_path)) as instance:
        storage = instance.event_log_storage
        storage.set_concurrency_slots("training", 4)
        dead = started(instance, "a", dead_tags())
        alive = started(instance, "b", process_tags())
        elsewhere = started(instance, "c", {**dead_tags(), HOST_TAG: "not-" + socket.gethostname()})
        ended = instance.add_run(DagsterRun(job_name="walk_forward_job", status=DagsterRunStatus.CANCELED))
        for run in (dead, alive, elsewhere, ended):
            assert storage.claim_concurrency_slot("training", run.run_id, "trained_model").is_claimed

        lines = free_dead_holders(instance)

        assert len(lines) == 2, lines
        (dead_line,) = [line for line in lines if dead.run_id in line]
        assert "process gone" in dead_line and "marked failed" in dead_line
        (ended_line,) = [line for line in lines if ended.run_id in line]
        assert "ended CANCELED" in ended_line
        assert instance.get_run_by_id(dead.run_id).status == DagsterRunStatus.FAILURE
        holders = {s.run_id for s in storage.get_concurrency_info("training").claimed_slots}
        assert holders == {alive.run_id, elsewhere.run_id}
        assert instance.get_run_by_id(elsewhere.run_id).status == DagsterRunStatus.STARTED
        assert free_dead_holders(instance) == []


def test_a_waiting_step_frees_a_dead_holder_and_gets_the_slot(tmp_path):
    with instance_for_test(temp_dir=str(tmp_path)) as instance:
        storage = instance.event_log_storage
        storage.set_concurrency_slots("training", 1)
        holder = started(instance, "a", dead_tags())
        waiter = started(instance, "b", process_tags())
        assert storage.claim_concurrency_slot("training", holder.run_id, "trained_model").is_claimed
        assert not storage.claim_concurrency_slot("training", waiter.run_id, "trained_model").is_claimed
        context = Context(instance, waiter)

        wait_for_slot(context, "training", "trained_model", quiet=True, poll=0.01)  # returns: the slot is its own

        (line,) = context.log.lines
        assert f"freed the slots of trained_model of run {holder.run_id}" in line and "process gone" in line
        assert storage.claim_concurrency_slot("training", waiter.run_id, "trained_model").is_claimed


def test_a_step_behind_a_live_holder_says_so(tmp_path):
    with instance_for_test(temp_dir=str(tmp_path)) as instance:
        storage = instance.event_log_storage
        storage.set_concurrency_slots("training", 1)
        holder = started(instance, "a", process_tags())
        waiter = started(instance, "b", process_tags())
        assert storage.claim_concurrency_slot("training", holder.run_id, "trained_model").is_claimed
        assert not storage.claim_concurrency_slot("training", waiter.run_id, "trained_model").is_claimed
        context = Context(instance, waiter)

        wait_for_slot(context, "training", "trained_model", quiet=False)  # another step in flight: no waiting here

        (line,) = context.log.lines
        assert line.startswith("trained_model waits for the 'training' pool (limit 1), held by: ")
        assert f"trained_model of run {holder.run_id} (walk_forward_job a, STARTED" in line
        assert line.endswith("process alive)")
        assert not storage.claim_concurrency_slot("training", waiter.run_id, "trained_model").is_claimed


def test_run_monitoring_sees_a_dead_run_worker_through_the_launcher(tmp_path):
    with instance_for_test(temp_dir=str(tmp_path)) as instance:
        launcher = ProcessCheckedRunLauncher()
        assert launcher.supports_check_run_worker_health
        dead = started(instance, "a", dead_tags())
        health = launcher.check_run_worker_health(dead)
        assert health.status == WorkerStatus.FAILED and f"process {dead.tags[PID_TAG]}" in health.msg
        assert launcher.check_run_worker_health(started(instance, "b", process_tags())).status == WorkerStatus.RUNNING
        unseen = started(instance, "c", {})
        assert launcher.check_run_worker_health(unseen).status == WorkerStatus.RUNNING  # cannot tell: left alone


def test_doctor_lists_held_slots_and_repairs_the_stuck_ones(tmp_path):
    with instance_for_test(temp_dir=str(tmp_path)) as instance:
        storage = instance.event_log_storage
        storage.set_concurrency_slots("training", 2)
        dead = started(instance, "a", dead_tags())
        alive = started(instance, "b", process_tags())
        for run in (dead, alive):
            assert storage.claim_concurrency_slot("training", run.run_id, "trained_model").is_claimed

        listed = doctor(instance, tmp_path, repair=False)

        assert f"dead run {dead.run_id} (walk_forward_job, pid {dead.tags[PID_TAG]}): process gone" in listed
        (stuck,) = [line for line in listed if dead.run_id in line and "slot held" in line]
        assert "process gone" in stuck and "`fin-pipeline doctor --repair` frees it" in stuck
        (live,) = [line for line in listed if alive.run_id in line]
        assert "process alive" in live and "--repair" not in live
        assert instance.get_run_by_id(dead.run_id).status == DagsterRunStatus.STARTED  # listing changes nothing

        repaired = doctor(instance, tmp_path, repair=True)

        assert any(dead.run_id in line and "pool slots freed" in line for line in repaired)
        assert [s.run_id for s in storage.get_concurrency_info("training").claimed_slots] == [alive.run_id]
        assert not any(dead.run_id in line for line in doctor(instance, tmp_path, repair=False))


def test_the_pool_watcher_frees_a_dead_holder_of_a_blocked_step_and_says_what_holds_the_pool(tmp_path):
    """For executors whose loop emits no blocked event (dagster-celery's)."""
    with instance_for_test(temp_dir=str(tmp_path)) as instance:
        storage = instance.event_log_storage
        storage.set_concurrency_slots("training", 2)
        dead = started(instance, "a", dead_tags())
        alive = started(instance, "b", process_tags())
        waiter = started(instance, "c", process_tags())
        for run in (dead, alive):
            assert storage.claim_concurrency_slot("training", run.run_id, "trained_model").is_claimed
        assert not storage.claim_concurrency_slot("training", waiter.run_id, "trained_model").is_claimed
        context = Context(instance, waiter)
        watcher = PoolWatcher(context)

        watcher.check()

        (freed,) = context.log.lines  # the freed slot went to the waiting step: nothing to wait for
        assert f"freed the slots of trained_model of run {dead.run_id}" in freed and "process gone" in freed
        assert storage.claim_concurrency_slot("training", waiter.run_id, "trained_model").is_claimed

        later = started(instance, "d", process_tags())  # a step blocked behind two live holders is told who
        assert not storage.claim_concurrency_slot("training", later.run_id, "trained_model").is_claimed
        context = Context(instance, later)
        PoolWatcher(context).check()
        (said,) = context.log.lines
        assert said.startswith("trained_model waits for the 'training' pool (limit 2), held by: ")
        assert f"run {alive.run_id} (walk_forward_job b, STARTED" in said and f"run {waiter.run_id}" in said
        assert dead.run_id not in said
        watcher = PoolWatcher(context)
        watcher.check()
        watcher.check()  # said once a minute, not at every look
        assert len(context.log.lines) == 2
