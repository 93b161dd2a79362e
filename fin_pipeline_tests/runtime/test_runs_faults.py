"""Dead runs release their pool slot, a stop request ends training at a batch boundary, dead runs resume."""

from __future__ import annotations

import subprocess
import threading

import pytest
import torch
from dagster import DagsterRunStatus, instance_for_test
from dagster._core.storage.dagster_run import DagsterRun

from fin_pipeline.runtime.doctor import HOST_TAG, PID_TAG, START_TAG, doctor, process_tags, repair_dead_runs
from fin_pipeline.training.checkpoint import TrainingInterrupted, read_checkpoint, save_checkpoint
from fin_pipeline.training.runs import find_resumable, remove_orphans
from fin_pipeline.training.trainer import Trainer


def gone_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_dead_in_process_run_is_marked_failed_and_its_slot_freed(tmp_path):
    with instance_for_test() as instance:
        storage = instance.event_log_storage
        if not storage.supports_global_concurrency_limits:
            pytest.skip("instance storage without pools")
        storage.set_concurrency_slots("training", 1)
        dead_tags = {**process_tags(), PID_TAG: str(gone_pid()), START_TAG: ""}
        dead = instance.add_run(
            DagsterRun(job_name="walk_forward_job", status=DagsterRunStatus.STARTED, tags=dead_tags)
        )
        alive = instance.add_run(
            DagsterRun(job_name="walk_forward_job", status=DagsterRunStatus.STARTED, tags=process_tags())
        )
        assert storage.claim_concurrency_slot("training", dead.run_id, "trained_model").is_claimed
        assert not storage.claim_concurrency_slot("training", alive.run_id, "trained_model").is_claimed  # blocked

        lines = repair_dead_runs(instance)

        assert len(lines) == 1 and dead.run_id in lines[0] and "pool slots freed" in lines[0]
        assert instance.get_run_by_id(dead.run_id).status == DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(alive.run_id).status == DagsterRunStatus.STARTED  # this process lives
        assert storage.claim_concurrency_slot("training", alive.run_id, "trained_model").is_claimed  # unblocked
        storage.free_concurrency_slots_for_run(alive.run_id)
        assert doctor(instance, tmp_path, repair=True) == [
            "nothing to repair: no dead runs, no held pool slots, no orphaned run folders, no corrupt file"
        ]


def tiny_trainer(workdir, stop):
    torch.manual_seed(0)
    x, y = torch.randn(64, 5), torch.randn(64, 1)
    batches = [(x[i : i + 8], y[i : i + 8]) for i in range(0, 64, 8)]
    model = torch.nn.Linear(5, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    trainer = Trainer(model, batches, batches[:2], torch.nn.MSELoss(), opt, device="cpu", seed=0, stop=stop)
    trainer.set_checkpoint(workdir, filename="best.pt")
    return trainer


def test_stop_request_ends_training_at_the_next_batch_with_last_epoch_kept(tmp_path):
    stop = threading.Event()
    trainer = tiny_trainer(tmp_path, stop)
    trainer.fit(2, log_interval=0)
    stop.set()
    with pytest.raises(TrainingInterrupted, match=r"stopped at epoch 3, batch 1; .*last.pt holds epoch 2") as e:
        trainer.fit(5, log_interval=0)
    assert e.value.epoch == 2 and read_checkpoint(tmp_path / "last.pt")["epoch"] == 2
    stop.clear()
    again = tiny_trainer(tmp_path, stop)
    assert [h["epoch"] for h in again.fit(4, log_interval=0, resume=True)] == [1, 2, 3, 4]


def test_a_dead_runs_last_epoch_is_found_only_when_versions_match(tmp_path):
    model_dir = tmp_path / "models" / "fold_00"
    extra = {
        "data_version": "d1",
        "code_version": "c1",
        "train_spec": {"epochs": 4},
        "fold": {"fold": "fold_00"},
        "normalization": {"mean": [0.0]},
    }
    save_checkpoint(model_dir / "runs" / "dead1" / "last.pt", {"epoch": 2, "extra": extra})
    (model_dir / "runs" / "dead0").mkdir()  # died before its first epoch
    inactive = lambda run_id: False  # noqa: E731

    last, notes = find_resumable(model_dir, "new", extra, inactive)
    assert last == model_dir / "runs" / "dead1" / "last.pt"

    last, notes = find_resumable(model_dir, "new", {**extra, "data_version": "d2"}, inactive)
    assert last is None and any("starting fresh: data_version changed" in n for n in notes)
    assert any("dead0: no last.pt" in n for n in notes)

    assert sorted(p.name for p in remove_orphans(model_dir, inactive, keep="new")) == ["dead0", "dead1"]
    assert not list((model_dir / "runs").iterdir())


def test_tags_name_this_process():
    tags = process_tags()
    assert tags[PID_TAG].isdigit() and tags[HOST_TAG] and tags[START_TAG]


@pytest.mark.parametrize(
    ("status", "after"),
    [
        (DagsterRunStatus.SUCCESS, DagsterRunStatus.SUCCESS),  # it had finished: the signal stopped nothing of it
        (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED),  # the stop surfaced as a step failure
        (DagsterRunStatus.STARTED, DagsterRunStatus.CANCELED),
    ],
)
def test_a_signal_after_a_run_finished_leaves_it_a_success(status, after):
    import signal

    from fin_pipeline.cli.run import _after_run
    from fin_pipeline.runtime.signals import Stopped, Stopper, resume_hint

    with instance_for_test() as instance:
        ran = instance.add_run(DagsterRun(job_name="candles_job", status=status))
        stopper = Stopper(threading.Event())
        stopper.signum = signal.SIGTERM  # what the handler records when SIGTERM comes
        with pytest.raises(Stopped) as stopped:
            _after_run(stopper, instance, ran.run_id)
        assert instance.get_run_by_id(ran.run_id).status == after
        hint = resume_hint(stopped.value.signum, stopped.value.run_id)
        assert (f"run {ran.run_id} marked canceled" in hint) == (after == DagsterRunStatus.CANCELED)


def test_doctor_lists_corrupt_stored_files_by_name_and_leaves_them(tmp_path):
    import pandas as pd

    from fin_pipeline.store.parquet import write_json, write_parquet

    scored = tmp_path / "metrics" / "2020-07-01" / "metrics.parquet"
    write_parquet(pd.DataFrame({"ic": [0.1]}), scored, meta={"dm_p": 0.988})
    scored.write_bytes(scored.read_bytes().replace(b'"dm_p": 0.988', b'"dm_p": 0.088'))
    checkpoint = tmp_path / "models" / "2020-07-01" / "best.pt"
    save_checkpoint(checkpoint, {"epoch": 2, "model": {"w": torch.ones(4)}})
    data = bytearray(checkpoint.read_bytes())
    data[bytes(data).find(torch.ones(4).numpy().tobytes()) + 1] ^= 0x01
    checkpoint.write_bytes(bytes(data))
    write_json({"fine": True}, tmp_path / "folds" / "2020-07-01.json")
    with instance_for_test() as instance:
        lines = doctor(instance, tmp_path, repair=True)
    assert [line.split(": ")[0] for line in lines] == ["corrupt file", "corrupt file"]
    assert f"checkpoint {checkpoint}: content hash mismatch (stored hash " in lines[0]
    assert f"{scored}: metadata hash mismatch (stored hash " in lines[1] and "fold_metrics[2020-07-01]" in lines[1]
    assert scored.is_file() and checkpoint.is_file()  # listed, never removed
