"""The Trainer: learns, stops early, checkpoints, resumes bit-identically, refuses NaN."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from fin_pipeline.models import create_model, model_spec
from fin_pipeline.training import (
    EarlyStopping,
    FoldBoundaries,
    ModelCheckpoint,
    MSELoss,
    TimeSeriesDataset,
    Trainer,
    TrainingError,
    create_data_loaders,
    create_optimizer,
    create_scheduler,
    load_checkpoint,
    save_checkpoint,
)

T, F = 5, 4


class Tiny(nn.Module):
    """Flattened window -> linear; the dropout makes training draw from the torch RNG."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Dropout(0.1), nn.Linear(T * F, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, F) -> (B, 1)
        return self.net(x)


def small_lstm(**overrides) -> nn.Module:
    config = {"n_features": F, "seq_len": T, "hidden_size": 8, "num_layers": 2, "head_hidden": 8, "dropout": 0.2}
    return create_model("lstm", **{**config, **overrides})


def planted(rows: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Zero-copy windows over a (rows, F) array; y = 0.8 * (last day's feature 0) + small noise."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((rows, F)).astype(np.float32)
    X = np.lib.stride_tricks.sliding_window_view(base, T, axis=0).transpose(0, 2, 1)
    y = (0.8 * X[:, -1, 0] + 0.05 * rng.standard_normal(len(X))).astype(np.float32)
    return X, y


def make_trainer(model=None, *, loss=None, scheduler=None, optimizer="adam", lr=1e-2, batch_size=32, **kw):
    X, y = planted()
    train, val = create_data_loaders(X, y, batch_size=batch_size, seed=5)
    model = model if model is not None else Tiny()
    opt = create_optimizer(model, optimizer, lr)
    sched = create_scheduler(opt, scheduler) if isinstance(scheduler, str) else scheduler
    return Trainer(model, train, val, loss or MSELoss(), opt, "cpu", sched, seed=0, **kw)


class ScriptedValLoss(nn.Module):
    """MSE while training; during validation (no grad) the next value of ``script`` instead."""

    def __init__(self, script: list[float]) -> None:
        super().__init__()
        self.script, self.calls = script, 0

    def forward(self, p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        mse = ((p - y) ** 2).mean()
        if torch.is_grad_enabled():
            return mse
        self.calls += 1
        return mse * 0 + self.script[self.calls - 1]


@pytest.mark.parametrize("kind", ["tiny", "lstm"])
def test_learns_a_planted_signal(kind):
    trainer = make_trainer(Tiny() if kind == "tiny" else small_lstm(dropout=0.0))
    history = trainer.fit(15, log_interval=0)
    _, val_targets = trainer.predict(trainer.val_loader)
    predict_zero = float((val_targets**2).mean())
    assert history[-1]["val_loss"] < 0.5 * predict_zero
    assert [r["epoch"] for r in history] == list(range(1, 16))
    assert set(history[0]) == {"epoch", "train_loss", "val_loss", "lr", "train_seconds", "seconds"}
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_validation_covers_every_window_and_device_auto_is_cpu_here():
    trainer = make_trainer(batch_size=7, amp_bf16=True)  # bf16 autocast is CUDA-only: ignored on CPU
    preds, targets = trainer.predict(trainer.val_loader)
    assert preds.shape == targets.shape == (trainer.val_loader.num_samples, 1)
    assert trainer.val_loader.num_samples % 7 != 0  # a last partial batch exists and was included
    auto = Trainer(Tiny(), trainer.train_loader, None, MSELoss(), create_optimizer(Tiny(), "sgd", 0.1))
    assert auto.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert auto.fit(1)[0]["val_loss"] is None  # no validation loader: training loss is watched instead
    with pytest.raises(ValueError, match="no validation loader"):
        auto.set_checkpoint("unused")
    auto.set_checkpoint("unused", monitor="train_loss")


def test_early_stopping_on_its_own():
    es = EarlyStopping(patience=3, min_delta=0.01)
    scores = [1.0, 0.9, 0.895, 0.85, 0.86, 0.849, 0.9]
    assert [es.step(s, epoch=i + 1) for i, s in enumerate(scores)] == [False] * 6 + [True]
    assert (es.best_score, es.best_epoch, es.counter) == (0.85, 4, 3)
    clone = EarlyStopping()
    clone.load_state_dict(es.state_dict())
    assert clone.state_dict() == es.state_dict()
    assert EarlyStopping(patience=1).step(math.nan) is True  # NaN never improves
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)


def test_trainer_stops_early_at_the_right_epoch(tmp_path):
    script = [1.0, 0.8, 0.81, 0.79, 0.80, 0.82, 0.5, 0.4]
    trainer = make_trainer(loss=ScriptedValLoss(script))
    trainer.set_early_stopping(patience=3, min_delta=0.015)  # 0.79 is not 0.015 better than 0.8
    trainer.set_checkpoint(tmp_path)
    history = trainer.fit(20, log_interval=0)
    assert [r["val_loss"] for r in history] == pytest.approx(script[:5])
    assert trainer.early_stopping.should_stop and trainer.epoch == 5
    _, best = load_checkpoint(tmp_path / "best_model.pt", Tiny())
    assert (best["epoch"], best["best_score"]) == (4, pytest.approx(0.79))  # the checkpoint has no min_delta
    # fit's early_stopping_patience overrides the patience, keeping min_delta
    trainer = make_trainer(loss=ScriptedValLoss(script))
    trainer.set_early_stopping(patience=10, min_delta=0.015)
    assert len(trainer.fit(20, early_stopping_patience=2, log_interval=0)) == 4


@pytest.mark.parametrize(
    ("mode", "scores", "saved"),
    [
        ("min", [0.5, 0.3, 0.4, 0.1, math.nan], [True, True, False, True, False]),
        ("max", [0.1, 0.3, 0.2, 0.5, math.nan], [True, True, False, True, False]),
    ],
)
def test_model_checkpoint_min_and_max(tmp_path, mode, scores, saved):
    mc = ModelCheckpoint(tmp_path, "best.pt", monitor="score", mode=mode)
    model = nn.Linear(2, 1)
    got = [
        mc.step({"epoch": i + 1, "score": s}, lambda i=i: {"model": model.state_dict(), "epoch": i + 1})
        for i, s in enumerate(scores)
    ]
    assert got == saved
    assert torch.load(mc.path, weights_only=True)["epoch"] == 4 and mc.best_epoch == 4
    restored = ModelCheckpoint(tmp_path, "best.pt", monitor="score", mode=mode)
    restored.load_state_dict(mc.state_dict())
    assert restored.best_score == mc.best_score
    with pytest.raises(ValueError, match=r"monitor 'val_loss' is not among the epoch's metrics \['epoch', 'score'\]"):
        ModelCheckpoint(tmp_path).step({"epoch": 1, "score": 1.0}, {})
    with pytest.raises(ValueError, match="mode must be one of"):
        ModelCheckpoint(tmp_path, mode="best")


def assert_same(a, b, where="checkpoint"):
    """Bit-identical, recursively; wall-clock fields (and the content hash, which covers them) excepted."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        keys = set(a) - {"seconds", "train_seconds", "content_hash"}
        assert keys == set(b) - {"seconds", "train_seconds", "content_hash"}, where
        for k in keys:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, z) in enumerate(zip(a, b, strict=True)):
            assert_same(x, z, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    else:
        assert a == b, where


class Interrupt(Exception):
    pass


@pytest.mark.parametrize(("scheduler", "how"), [("cosine", "fit_k"), ("plateau", "raise"), ("step", "raise")])
def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, scheduler, how):
    def build(init_seed):
        torch.manual_seed(init_seed)  # a resumed run starts from other weights: the checkpoint must overwrite them
        trainer = make_trainer(small_lstm(), scheduler=scheduler, batch_size=16)
        trainer.set_early_stopping(patience=50)
        return trainer

    full = build(0)
    full.set_checkpoint(tmp_path / "full")
    full.fit(6, log_interval=0)

    first = build(0)
    first.set_checkpoint(tmp_path / "cut")
    if how == "fit_k":
        first.fit(3, log_interval=0)
    else:

        def crash(trainer, record):
            if record["epoch"] == 3:
                raise Interrupt

        with pytest.raises(Interrupt):
            first.fit(6, log_interval=0, callbacks=[crash])
        # a crash mid-epoch 4 must not matter either: consume RNG and move weights, then throw it all away
        torch.rand(100)
        with torch.no_grad():
            next(first.model.parameters()).add_(1.0)
    resumed = build(1)
    resumed.set_checkpoint(tmp_path / "cut")
    history = resumed.fit(6, log_interval=0, resume=True)

    assert [r["epoch"] for r in history] == list(range(1, 7))
    assert_same(resumed.model.state_dict(), full.model.state_dict(), "model")
    assert_same(resumed.optimizer.state_dict(), full.optimizer.state_dict(), "optimizer")
    assert_same(resumed.scheduler.state_dict(), full.scheduler.state_dict(), "scheduler")
    for name in ("last.pt", "best_model.pt"):
        a = torch.load(tmp_path / "full" / name, weights_only=True)
        b = torch.load(tmp_path / "cut" / name, weights_only=True)
        assert_same(a, b, name)  # history, early stopping, best score, every RNG state


def test_resume_needs_a_checkpoint_dir_and_starts_fresh_without_last(tmp_path):
    with pytest.raises(ValueError, match="set_checkpoint"):
        make_trainer().fit(2, resume=True)
    trainer = make_trainer()
    trainer.set_checkpoint(tmp_path)
    assert len(trainer.fit(2, resume=True, log_interval=0)) == 2
    again = make_trainer()
    again.set_checkpoint(tmp_path)
    assert len(again.fit(2, resume=True)) == 2 and again.epoch == 2  # already done: nothing to train


def test_schedulers_build_and_step():
    model = nn.Linear(2, 1)
    opt = create_optimizer(model, "sgd", 1.0)
    step = create_scheduler(opt, "step", step_size=2, gamma=0.5)
    lrs = []
    for _ in range(4):
        opt.step()
        step.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == [1.0, 0.5, 0.5, 0.25]
    opt = create_optimizer(model, "sgd", 1.0)
    cosine = create_scheduler(opt, "cosine", T_max=4)
    for _ in range(4):
        opt.step()
        cosine.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match=r"unknown scheduler 'linear'; valid names: \['step', 'cosine', 'plateau'\]"):
        create_scheduler(opt, "linear")


def test_plateau_scheduler_is_stepped_with_the_validation_loss():
    # Training loss falls every epoch; the scripted validation loss is flat: only a scheduler stepped with the
    # validation metric reduces the learning rate.
    trainer = make_trainer(loss=ScriptedValLoss([1.0] * 6), lr=0.01)
    trainer.scheduler = create_scheduler(trainer.optimizer, "plateau", patience=1)
    lrs = [r["lr"] for r in trainer.fit(6, log_interval=0)]
    assert lrs[:3] == [0.01] * 3 and lrs[3] == pytest.approx(0.005) and lrs[-1] < 0.005


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "rmsprop"])
def test_each_optimizer_builds_and_trains(name):
    trainer = make_trainer(optimizer=name, lr=1e-2)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.fit(1, log_interval=0)
    assert all(not torch.equal(b, p) for b, p in zip(before, trainer.model.parameters(), strict=True))


def test_unknown_optimizer_lists_valid_names():
    with pytest.raises(
        ValueError, match=r"unknown optimizer 'lbfgs'; valid names: \['adam', 'adamw', 'sgd', 'rmsprop'\]"
    ):
        create_optimizer(nn.Linear(2, 1), "lbfgs")


class NaNAt(nn.Module):
    """MSE, but ``value`` (NaN or inf) on training batch ``batch`` (1-based) of epoch ``epoch``."""

    def __init__(self, epoch: int, batch: int, batches_per_epoch: int, value: float) -> None:
        super().__init__()
        self.at, self.calls, self.value = (epoch - 1) * batches_per_epoch + batch, 0, value

    def forward(self, p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = ((p - y) ** 2).mean()
        if torch.is_grad_enabled():
            self.calls += 1
            if self.calls == self.at:
                return loss * self.value
        return loss


@pytest.mark.parametrize(
    ("value", "interval", "clip", "message"),
    [
        (math.nan, None, 1.0, "training loss"),  # checked every batch on CPU, before backward
        (math.inf, None, 1.0, "training loss"),
        (math.nan, 4, 1.0, "gradient norm"),  # loss read every 4th batch: the CPU gradient-norm check fires first
        (math.nan, 4, None, "training loss"),  # no clipping, no norm: the delayed loss check finds batch 3
    ],
)
def test_nan_loss_names_epoch_and_batch_and_writes_no_bad_checkpoint(tmp_path, value, interval, clip, message):
    trainer = make_trainer(nan_check_interval=interval, max_grad_norm=clip)
    trainer.loss_fn = NaNAt(epoch=2, batch=3, batches_per_epoch=len(trainer.train_loader), value=value)
    trainer.set_checkpoint(tmp_path)
    with pytest.raises(TrainingError, match=rf"epoch 2, batch 3: {message} is (nan|inf)"):
        trainer.fit(5, log_interval=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best_model.pt", "last.pt"]  # no temp files either
    for path in tmp_path.iterdir():
        ckpt = torch.load(path, weights_only=True)
        assert ckpt["epoch"] == 1
        assert all(torch.isfinite(t).all() for t in ckpt["model"].values())
    weights_finite = all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert weights_finite == (interval is None or clip is not None)  # caught before the bad step, or after it


class NaNGradAt(nn.Module):
    """MSE plus sqrt(|0 * p|): zero in value, but its gradient is 0 * inf = NaN, from training batch ``batch``."""

    def __init__(self, batch: int) -> None:
        super().__init__()
        self.batch, self.calls = batch, 0

    def forward(self, p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = ((p - y) ** 2).mean()
        self.calls += torch.is_grad_enabled()
        return loss + torch.sqrt((p * 0).abs()).sum() if self.calls == self.batch else loss


def test_nan_gradient_with_a_finite_loss_stops_before_the_step(tmp_path):
    trainer = make_trainer()
    trainer.loss_fn = NaNGradAt(batch=2)
    trainer.set_checkpoint(tmp_path)
    with pytest.raises(TrainingError, match="epoch 1, batch 2: gradient norm is nan"):
        trainer.fit(2, log_interval=0)
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("max_norm", [1e-3, 1e3])
def test_clipping_matches_clip_grad_norm(max_norm):
    trainer = make_trainer(max_grad_norm=max_norm)
    reference = [p.detach().clone().requires_grad_() for p in trainer.model.parameters()]
    for p, r in zip(trainer.model.parameters(), reference, strict=True):
        p.grad = torch.randn_like(p) * 10
        r.grad = p.grad.clone()
    trainer._clip_gradients(epoch=1, i=0)
    torch.nn.utils.clip_grad_norm_(reference, max_norm)
    for p, r in zip(trainer.model.parameters(), reference, strict=True):
        assert torch.equal(p.grad, r.grad)


def test_non_finite_weights_are_never_saved(tmp_path):
    model = nn.Linear(2, 1)
    with torch.no_grad():
        model.bias.fill_(math.nan)
    with pytest.raises(TrainingError, match="NaN/inf in 'bias'"):
        save_checkpoint(tmp_path / "x.pt", {"model": model.state_dict()})
    mc = ModelCheckpoint(tmp_path)
    with pytest.raises(TrainingError):
        mc.step({"val_loss": 1.0}, {"model": model.state_dict()})
    assert mc.best_score is None and list(tmp_path.iterdir()) == []


def test_checkpoint_rebuilds_the_model_and_rejects_another_config(tmp_path):
    trainer = make_trainer(small_lstm())
    trainer.extra = {
        "normalization": trainer.train_loader.stats,
        "array": np.arange(3),
        "sharpe": np.float64(1.5),
        "code_version": "abc",
        "fold": FoldBoundaries.from_dict(
            {
                "fold": "fold_00",
                "index": 0,
                "train_start": "2020-01-02",
                "train_end": "2020-03-30",
                "tune_start": "2020-04-02",
                "tune_end": "2020-06-30",
                "test_start": "2020-07-02",
                "test_end": "2020-09-30",
                "horizon": 1,
                "purge_days": 1,
                "embargo_days": 0,
                "min_tickers": 2,
                "train_days": 61,
                "tune_days": 61,
                "test_days": 63,
            }
        ),
    }
    trainer.set_checkpoint(tmp_path)
    trainer.fit(1, log_interval=0)
    raw = torch.load(tmp_path / "best_model.pt", weights_only=True)  # plain data only
    assert raw["model_spec"] == model_spec(trainer.model) and raw["config"]["seed"] == 0
    assert raw["extra"]["fold"]["test_start"] == "2020-07-02" and raw["extra"]["code_version"] == "abc"
    assert raw["extra"]["sharpe"] == 1.5 and type(raw["extra"]["sharpe"]) is float
    assert torch.equal(raw["extra"]["array"], torch.arange(3)) and len(raw["extra"]["normalization"]["mean"]) == F
    model, ckpt = load_checkpoint(tmp_path / "best_model.pt")  # rebuilt from model_spec alone
    assert_same(model.state_dict(), trainer.model.state_dict())
    with pytest.raises(
        ValueError, match=r"written for model spec \{'name': 'lstm'.*'hidden_size': 8.*'hidden_size': 9"
    ):
        load_checkpoint(tmp_path / "best_model.pt", small_lstm(hidden_size=9))
    with pytest.raises(ValueError, match="but the model's spec is None"):
        load_checkpoint(tmp_path / "best_model.pt", Tiny())
    tiny = make_trainer()
    tiny.set_checkpoint(tmp_path / "tiny")
    tiny.fit(1, log_interval=0)
    with pytest.raises(ValueError, match="has no model_spec"):
        load_checkpoint(tmp_path / "tiny" / "best_model.pt")
    with pytest.raises(ValueError, match="does not fit the model Linear"):
        load_checkpoint(tmp_path / "tiny" / "best_model.pt", nn.Linear(3, 1))


def test_seed_style_dataloader_works_and_its_generator_is_checkpointed(tmp_path):
    X, y = planted(200)
    ds = TimeSeriesDataset(X, y)
    loader = DataLoader(ds, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(0))
    model = Tiny()
    trainer = Trainer(model, loader, DataLoader(ds, batch_size=64), MSELoss(), create_optimizer(model), "cpu")
    trainer.set_checkpoint(tmp_path)
    trainer.fit(2, log_interval=0)
    ckpt = torch.load(tmp_path / "last.pt", weights_only=True)
    assert torch.equal(ckpt["rng"]["train_loader"]["generator"], loader.generator.get_state())
