"""Training progress: what the trainer callback reads, the CLI's plain lines, and the live bar on a terminal."""

from __future__ import annotations

import io
import re

import pexpect
import torch
from torch import nn

from fin_pipeline.runtime import progress as display_module
from fin_pipeline.runtime.progress import ProgressDisplay, duration
from fin_pipeline.training import trainer as trainer_module
from fin_pipeline.training.optim import create_optimizer
from fin_pipeline.training.progress import EpochProgress, epoch_progress
from fin_pipeline.training.trainer import Trainer
from fin_pipeline_tests.runtime.test_tracking import assert_every_training_is_an_mlflow_run
from fin_pipeline_tests.subprocess_runs import BIN, FOLD_A, FOLD_B, env_for, make_home

EPOCHS, PATIENCE = 12, 2
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


# A fake clock for the trainer: epoch k takes 2k seconds. The pace after epoch k is the mean of 2, 4, …, 2k, that
# is k + 1 s/epoch, and the time to go is the 12 - k epochs left at that pace; written out:
SECONDS = [2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0, 20.0, 22.0, 24.0]
PACE = [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0]
ETA = [22.0, 30.0, 36.0, 40.0, 42.0, 42.0, 40.0, 36.0, 30.0, 22.0, 12.0, 0.0]


class EpochClock:
    """``perf_counter`` as the trainer reads it: three readings an epoch (its start, its training done, its end)."""

    def __init__(self) -> None:
        self.now, self.readings = 0.0, 0

    def perf_counter(self) -> float:
        epoch, reading = divmod(self.readings, 3)
        self.readings += 1
        if reading == 2:  # the epoch's end
            self.now += SECONDS[epoch]
        elif reading == 1:
            return self.now + SECONDS[epoch] / 2
        return self.now


def batches(n: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, 3, generator=g)
    y = x[:, -1, :1] * 0.5 + 0.3 * torch.randn(n, 1, generator=g)
    return [(x[i : i + 16], y[i : i + 16]) for i in range(0, n, 16)]


def train_small(tmp_path) -> list[EpochProgress]:
    """A linear model whose tuning loss wanders (noisy targets, a large learning rate), so early stopping fires."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 1))
    trainer = Trainer(model, batches(96, 1), batches(32, 2), nn.MSELoss(), create_optimizer(model, "sgd", 0.3))
    trainer.set_early_stopping(PATIENCE, min_delta=0.0)
    trainer.set_checkpoint(tmp_path)
    seen: list[EpochProgress] = []
    trainer.fit(EPOCHS, log_interval=0, callbacks=[lambda t, r: seen.append(epoch_progress(t, r, "fold x", EPOCHS))])
    return seen


def test_progress_follows_the_trainer_epoch_by_epoch(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer_module, "time", EpochClock())
    seen = train_small(tmp_path)
    history = torch.load(tmp_path / "last.pt", weights_only=True)["history"]
    assert [p.epoch for p in seen] == [h["epoch"] for h in history] == list(range(1, len(history) + 1))
    assert [h["seconds"] for h in history] == SECONDS[: len(history)]  # the fake clock reached the trainer
    best, best_epoch = float("inf"), None
    for k, (p, h) in enumerate(zip(seen, history, strict=True), 1):
        if h["val_loss"] < best:  # the best checkpoint by hand: strictly lower tuning loss
            best, best_epoch = h["val_loss"], k
        assert (p.train_loss, p.tune_loss) == (h["train_loss"], h["val_loss"])
        assert (p.best_score, p.best_epoch) == (best, best_epoch)
        assert p.patience == PATIENCE and p.patience_left == PATIENCE - (k - best_epoch)
        assert p.stopping == (p.patience_left == 0)
        assert p.seconds_per_epoch == PACE[k - 1]
        assert p.eta_seconds == (0.0 if p.stopping else ETA[k - 1])  # early stopping: nothing left to go
    assert seen[-1].stopping and 2 < len(seen) < EPOCHS, "the tuning loss never stalled: pick another seed"


def test_durations_read_as_people_write_them():
    assert [duration(s) for s in (0.4, 42, 59.6, 187, 3723)] == ["0s", "42s", "1:00", "3:07", "1:02:03"]
    assert duration(float("nan")) == "?"


class Monotonic:
    """``time.monotonic`` as the display reads it, set by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now


def progress(label: str, epoch: int, epochs: int, pace: float, stopping: bool = False) -> EpochProgress:
    return EpochProgress(label, epoch, epochs, 1.0, 0.9, 0.9, 1, 2, 2, pace, stopping)


def test_the_run_eta_counts_the_trainings_to_come_at_the_measured_duration(monkeypatch):
    clock = Monotonic(1000.0)
    monkeypatch.setattr(display_module, "time", clock)
    display = ProgressDisplay(io.StringIO(), trainings=3, terminal=False)
    # First of three trainings, at most 4 epochs of 10 s: 3 epochs to go (30 s), and before any has finished the
    # two after it are counted at this one's maximum, 4 x 10 s each: 30 + 80.
    first = progress("fold x", 1, 4, 10.0)
    display.epoch(first)  # the display takes this training to have begun one epoch (10 s) ago: at 990
    assert display.run_eta(first) == 110.0
    clock.now = 1010.0
    assert display.run_eta(progress("fold x", 3, 4, 10.0)) == 10.0 + 80.0
    clock.now = 1030.0
    display.end()
    assert display.finished == [40.0]  # 990 to 1030
    # The second: 1 epoch done at 2 s, 3 to go (6 s); one training after it, at the first one's 40 s.
    second = progress("fold y", 1, 4, 2.0)
    display.epoch(second)
    assert display.run_eta(second) == 46.0
    clock.now = 1034.0
    display.end()
    assert display.finished == [40.0, 6.0]  # begun at 1028 (an epoch before 1030)
    # The last: early stopping ends it after this epoch, and none comes after it.
    last = progress("live 2021-07-01", 2, 4, 5.0, stopping=True)
    display.epoch(last)
    assert display.run_eta(last) == 0.0


def test_plain_display_prints_one_line_per_epoch_without_control_characters(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer_module, "time", EpochClock())
    monkeypatch.setattr(display_module, "time", Monotonic(100.0))  # the first training is timed 98 to 100: 2 s
    seen = train_small(tmp_path)
    out = io.StringIO()
    display = ProgressDisplay(out, trainings=3, terminal=False)
    for p in seen:
        display.epoch(p)
    display.end()
    display.epoch(progress("fold y", 1, 4, 2.0))
    lines = out.getvalue().splitlines()
    assert len(lines) == len(seen) + 1
    assert [int(re.search(r"epoch (\d+)/", line).group(1)) for line in lines] == [*range(1, len(seen) + 1), 1]
    assert all(line.startswith("fold x epoch") for line in lines[:-1])
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", out.getvalue())  # newlines only
    # epoch 1 of 12 at 2 s: 22 s to go; the two trainings after it at 12 x 2 s each: 70 s in all
    assert (
        lines[0].startswith("fold x epoch 1/12 · ETA 22s · run 1:10 · ")
        and f"train {seen[0].train_loss:.4g}" in lines[0]
    )
    # 3 epochs to go at 2 s; one training after it, at the first one's 2 s
    said = "fold y epoch 1/4 · ETA 6s · run 8s · train 1 · tune 0.9 · best 0.9 @1 · patience 2/2 · 2.0 s/epoch"
    assert lines[-1] == said


def epochs_shown(text: str) -> dict[str, list[int]]:
    """Per training label, the epoch numbers its progress showed, in order, a redraw of the same epoch once."""
    shown: dict[str, list[int]] = {}
    for segment in re.split(r"[\r\n]", ANSI.sub("", text)):
        m = re.search(r"((?:fold|live) \d{4}-\d\d-\d\d) epoch (\d+)/(\d+)", segment)
        if m:
            epochs = shown.setdefault(m.group(1), [])
            if not epochs or epochs[-1] != int(m.group(2)):
                epochs.append(int(m.group(2)))
    return shown


def test_the_cli_draws_a_bar_per_training_on_a_narrow_terminal_and_tracks_them(tmp_path):
    """A pseudo-terminal 64 columns wide: every epoch of both folds and the live model is drawn, and no progress
    line is wider than the terminal (a wider one would wrap into garbage). Tracking is on (a local MLflow store):
    each training is an MLflow run holding its checkpoint's history."""
    home = make_home(tmp_path / "home")
    cols = 64
    child = pexpect.spawn(
        str(BIN / "fin-pipeline"),
        ["run", "--model", "cnn", "--epochs", "3", "--batch-size", "64"],
        cwd=str(home),
        env=env_for(home, FIN_PIPELINE_MLFLOW="1"),
        dimensions=(30, cols),
        encoding="utf-8",
        timeout=400,
    )
    child.expect(pexpect.EOF)
    child.close()
    out = child.before
    assert child.exitstatus == 0, out[-3000:]
    assert epochs_shown(out) == {f"fold {FOLD_A}": [1, 2, 3], f"fold {FOLD_B}": [1, 2, 3], "live 2021-07-01": [1, 2, 3]}
    bars = [s for s in re.split(r"[\r\n]", ANSI.sub("", out)) if " epoch " in s and "█" in s]
    assert bars and max(len(s) for s in bars) <= cols
    assert all(s.index("ETA") < cols for s in bars if "ETA" in s) and sum("ETA" in s for s in bars) >= 9
    assert_every_training_is_an_mlflow_run(home, tmp_path)
