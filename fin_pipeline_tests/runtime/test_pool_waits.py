"""A step blocked by the training pool says what blocks it and how long it has waited."""

from dagster._core.test_utils import create_run_for_test, instance_for_test

from fin_pipeline.runtime.doctor import HOST_TAG, PID_TAG, pool_waits


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
        assert f"trained_model of run {holder.run_id} (walk_forward_job fold_03" in line and "pid 4242 on box" in line
        assert pool_waits(instance, min_wait=3600) == []  # not yet an hour
        storage.free_concurrency_slots_for_run(holder.run_id)
        assert storage.claim_concurrency_slot("training", waiter.run_id, "trained_model").is_claimed
        assert pool_waits(instance) == []
