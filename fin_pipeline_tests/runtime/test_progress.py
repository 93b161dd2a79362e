"""Training progress: what the trainer callback reads, the CLI's plain lines, and the live bar on a terminal."""

from __future__ import annotations

import io
import re

import numpy as np
import pexpect
import pytest
import torch
from torch import nn

from fin_pipeline.runtime.progress import ProgressDisplay
from fin_pipeline.training.optim import create_optimizer
from fin_pipeline.training.progress import EpochProgress, duration, epoch_progress
from fin_pipeline.training.trainer import Trainer
from fin_pipeline_tests.runtime.test_tracking import assert_every_training_is_an_mlflow_run
from fin_pipeline_tests.subprocess_runs import BIN, FOLD_A, FOLD_B, env_for, make_home

EPOCHS, PATIENCE = 12, 2
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


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


def test_progress_follows_the_trainer_epoch_by_epoch(tmp_path):
    seen = train_small(tmp_path)
    history = torch.load(tmp_path / "last.pt", weights_only=True)["history"]
    assert [p.epoch for p in seen] == [h["epoch"] for h in history] == list(range(1, len(history) + 1))
    best, best_epoch = float("inf"), None
    for k, (p, h) in enumerate(zip(seen, history, strict=True), 1):
        if h["val_loss"] < best:  # the best checkpoint by hand: strictly lower tuning loss
            best, best_epoch = h["val_loss"], k
        assert (p.train_loss, p.tune_loss) == (h["train_loss"], h["val_loss"])
        assert (p.best_score, p.best_epoch) == (best, best_epoch)
        assert p.patience == PATIENCE and p.patience_left == PATIENCE - (k - best_epoch)
        assert p.seconds_per_epoch == pytest.approx(np.mean([r["seconds"] for r in history[:k]]))
        assert p.stopping == (p.patience_left == 0)
        expected_eta = 0.0 if p.stopping else (EPOCHS - k) * p.seconds_per_epoch
        assert p.eta_seconds == pytest.approx(expected_eta)
    assert seen[-1].stopping and len(seen) < EPOCHS, "the tuning loss never stalled: pick another seed"


def test_durations_read_as_people_write_them():
    assert [duration(s) for s in (0.4, 42, 59.6, 187, 3723)] == ["0s", "42s", "1:00", "3:07", "1:02:03"]
    assert duration(float("nan")) == "?"


def test_plain_display_prints_one_line_per_epoch_without_control_characters(tmp_path):
    seen = train_small(tmp_path)
    out = io.StringIO()
    display = ProgressDisplay(out, trainings=3, terminal=False)
    for p in seen:
        display.epoch(p)
        spe = p.seconds_per_epoch
        # nothing finished yet: two more trainings after this one, each as long as this one's maximum
        assert display.run_eta(p) == pytest.approx(p.eta_seconds + 2 * EPOCHS * spe)
    display.end()
    second = [EpochProgress("fold y", 1, 4, 1.0, 0.9, 0.9, 1, None, None, 2.0, False)]
    display.epoch(second[0])
    # one training finished: one more after this one, at that training's measured duration
    assert display.run_eta(second[0]) == pytest.approx(3 * 2.0 + 1 * display.finished[0])
    lines = out.getvalue().splitlines()
    assert len(lines) == len(seen) + 1
    assert [int(re.search(r"epoch (\d+)/", line).group(1)) for line in lines] == [*range(1, len(seen) + 1), 1]
    assert all(line.startswith("fold x epoch") for line in lines[:-1]) and "patience" not in lines[-1]
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", out.getvalue())  # newlines only
    first = seen[0]
    assert lines[0].startswith(f"fold x epoch 1/{EPOCHS} · ETA ") and f"train {first.train_loss:.4g}" in lines[0]


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
