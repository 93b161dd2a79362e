"""The Trainer: a plain epoch loop over (B, T, F) windows, with early stopping, checkpoints and exact resume.

In the spirit of minGPT's trainer: an object an asset or a notebook builds and calls ``fit`` on. The hot loop does
forward, backward, clip, step and nothing else: per-batch losses stay on the device and are read once per epoch
(plus a cheap NaN check, see :class:`TrainerConfig`), so the loop runs at the speed of bare PyTorch.

The loop is here; what it calls after each epoch is in :mod:`~fin_pipeline.training.callbacks` (early stopping,
the best checkpoint), what it writes and resumes from in :mod:`~fin_pipeline.training.resume`, and the optimizers
and schedules by name in :mod:`~fin_pipeline.training.optim`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fin_pipeline.training.callbacks import EarlyStopping, ModelCheckpoint
from fin_pipeline.training.checkpoint import TrainingError, TrainingInterrupted, save_checkpoint
from fin_pipeline.training.data import resolve_device
from fin_pipeline.training.random_state import seed_everything
from fin_pipeline.training.resume import resume_from_last, trainer_state

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class TrainerConfig:
    """The trainer's plain settings (stored in every checkpoint under ``config``)."""

    device: str = "auto"  # 'auto': CUDA when available, else CPU
    max_grad_norm: float | None = 1.0  # clip the global gradient L2 norm; None or 0: no clipping
    seed: int | None = None  # seeds torch/numpy/random when a fresh fit starts (not on resume)
    amp_bf16: bool = False  # bf16 autocast, CUDA only (ignored on CPU, where it would only be slower)
    # Batches between NaN/inf checks of the training loss. Each check reads the loss on the host: free on CPU,
    # a pipeline stall on CUDA. None: every batch on CPU, every 50 on CUDA; the epoch's end always checks.
    nan_check_interval: int | None = None


# Set by a signal handler (``fin-pipeline run``) to stop every trainer of the process at its next batch boundary.
STOP = threading.Event()


class Trainer:
    """Train ``model`` on ``train_dataloader``, validate on ``val_dataloader`` after every epoch.

    Loaders yield ``(xb (B, T, F), yb (B, 1))``; a :class:`~fin_pipeline.training.data.TensorBatchLoader` or any
    iterable of batches (a torch ``DataLoader`` too). ``loss_fn(pred, yb)`` returns a scalar mean over the batch.
    ``val_dataloader`` may be ``None``: early stopping and the plateau scheduler then watch the training loss.
    """

    def __init__(
        self,
        model: nn.Module,
        train_dataloader: Iterable,
        val_dataloader: Iterable | None,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        optimizer: torch.optim.Optimizer,
        device: str | torch.device = "auto",
        scheduler: Any = None,
        max_grad_norm: float | None = 1.0,
        *,
        seed: int | None = None,
        amp_bf16: bool = False,
        nan_check_interval: int | None = None,
        extra: Mapping[str, Any] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.stop = STOP if stop is None else stop  # checked before every batch
        self.config = TrainerConfig(str(device), max_grad_norm, seed, amp_bf16, nan_check_interval)
        self.device = resolve_device(device)
        self.model = model.to(self.device)
        self.loss_fn = loss_fn.to(self.device) if isinstance(loss_fn, nn.Module) else loss_fn
        self.train_loader, self.val_loader = train_dataloader, val_dataloader
        self.optimizer, self.scheduler = optimizer, scheduler
        self.extra: dict[str, Any] = dict(extra or {})  # stored in checkpoints: normalization, folds, versions
        self.early_stopping: EarlyStopping | None = None
        self.checkpoint: ModelCheckpoint | None = None
        self.epoch = 0  # epochs completed
        self.history: list[dict[str, Any]] = []
        cuda = self.device.type == "cuda"
        self._non_blocking = cuda  # host->device copies overlap compute (they are synchronous on CPU anyway)
        self._autocast = (
            functools.partial(torch.autocast, "cuda", dtype=torch.bfloat16)
            if amp_bf16 and cuda
            else contextlib.nullcontext
        )
        self._nan_every = nan_check_interval or (50 if cuda else 1)
        self._params = [p for p in self.model.parameters() if p.requires_grad]

    def set_early_stopping(self, patience: int = 15, min_delta: float = 1e-4) -> EarlyStopping:
        self.early_stopping = EarlyStopping(patience=patience, min_delta=min_delta)
        return self.early_stopping

    def set_checkpoint(
        self, dirpath: str | Path, filename: str = "best_model.pt", monitor: str = "val_loss", mode: str = "min"
    ) -> ModelCheckpoint:
        """Keep ``dirpath/filename`` (the best epoch by ``monitor``) and ``dirpath/last.pt`` (every epoch)."""
        if self.val_loader is None and monitor == "val_loss":
            raise ValueError("there is no validation loader to give 'val_loss'; monitor 'train_loss' instead")
        self.checkpoint = ModelCheckpoint(dirpath, filename, monitor, mode)
        return self.checkpoint

    def fit(
        self,
        epochs: int,
        log_interval: int = 1,
        early_stopping_patience: int | None = None,
        resume: bool = False,
        callbacks: Iterable[Callable[[Trainer, dict[str, Any]], None]] = (),
    ) -> list[dict[str, Any]]:
        """Train until ``epochs`` epochs are done in total (resumed or earlier epochs count) or early stopping.

        Returns the history, one dict per epoch: ``epoch`` (1-based), ``train_loss`` (batch-size weighted mean of
        the batch losses), ``val_loss`` (``loss_fn`` over the whole validation set at once; ``None`` without a
        validation loader), ``lr`` (the learning rate used during the epoch), ``train_seconds`` and ``seconds``
        (wall clock of the training pass, and of training plus validation).

        ``log_interval``: log a line every so many epochs (0: never); per-batch logging would force a host sync.
        ``resume=True`` continues from ``last.pt`` in the checkpoint directory (``set_checkpoint`` first); when
        it does not exist yet, training starts fresh. ``callbacks`` are called as ``cb(trainer, record)`` after
        each epoch's checkpoints are written.
        """
        if early_stopping_patience is not None:
            min_delta = self.early_stopping.min_delta if self.early_stopping else 1e-4
            self.set_early_stopping(early_stopping_patience, min_delta)
        resumed = resume and self._resume()
        if not resumed and self.epoch == 0 and self.config.seed is not None:
            seed_everything(self.config.seed)
        if self.early_stopping is not None and self.early_stopping.should_stop:
            return self.history
        for epoch in range(self.epoch + 1, epochs + 1):
            t0 = time.perf_counter()
            lr = self.optimizer.param_groups[0]["lr"]
            train_loss = self._train_epoch(epoch)
            t1 = time.perf_counter()
            val_loss = self.evaluate(self.val_loader, epoch) if self.val_loader is not None else None
            record = {
                "epoch": epoch,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "lr": lr,
                "train_seconds": t1 - t0,
                "seconds": time.perf_counter() - t0,
            }
            watched = train_loss if val_loss is None else val_loss
            if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                self.scheduler.step(watched)
            elif self.scheduler is not None:
                self.scheduler.step()
            self.history.append(record)
            self.epoch = epoch
            stop = self.early_stopping.step(watched, epoch) if self.early_stopping is not None else False
            if self.checkpoint is not None:
                improved = self.checkpoint.update(record)
                state = self.state_dict()
                if improved:
                    save_checkpoint(self.checkpoint.path, state)
                save_checkpoint(self.checkpoint.last_path, state)
            for callback in callbacks:
                callback(self, record)
            if log_interval and (epoch % log_interval == 0 or stop or epoch == epochs):
                logger.info(
                    "epoch %d/%d: train %.6g, val %s, lr %.3g, %.1f s",
                    epoch,
                    epochs,
                    train_loss,
                    "-" if val_loss is None else f"{val_loss:.6g}",
                    lr,
                    record["seconds"],
                )
            if stop:
                logger.info(
                    "early stopping at epoch %d (best %s at epoch %s)",
                    epoch,
                    self.early_stopping.best_score,
                    self.early_stopping.best_epoch,
                )
                break
        return self.history

    def _train_epoch(self, epoch: int) -> float:
        self.model.train()
        losses: list[torch.Tensor] = []  # per-batch mean losses, left on the device: no sync per batch
        sizes: list[int] = []
        checked = 0
        for i, (xb, yb) in enumerate(self.train_loader):
            if self.stop.is_set():
                where = f"{self.checkpoint.last_path} holds epoch {self.epoch}" if self.checkpoint else "no checkpoint"
                raise TrainingInterrupted(
                    f"stop requested: stopped at epoch {epoch}, batch {i + 1}; {where}", self.epoch
                )
            xb = xb.to(self.device, non_blocking=self._non_blocking)  # (B, T, F); a no-op when already there
            yb = yb.to(self.device, non_blocking=self._non_blocking)  # (B, 1)
            with self._autocast():
                loss = self.loss_fn(self.model(xb), yb)
            losses.append(loss.detach())
            sizes.append(len(xb))
            if len(losses) - checked >= self._nan_every:  # before backward: a bad batch never reaches the weights
                self._check_losses(losses, checked, epoch)
                checked = len(losses)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.config.max_grad_norm:
                self._clip_gradients(epoch, i)
            self.optimizer.step()
        if not losses:
            raise TrainingError(f"epoch {epoch}: the training loader yielded no batches")
        self._check_losses(losses, checked, epoch)
        weights = torch.tensor(sizes, dtype=torch.float32, device=losses[0].device)
        return float((torch.stack(losses).float() * weights).sum() / weights.sum())  # the epoch's one host sync

    def _clip_gradients(self, epoch: int, i: int) -> None:
        """``clip_grad_norm_``, the same numbers; on CPU it also skips the no-op rescale and catches NaN gradients.

        ``clip_grad_norm_`` always multiplies every gradient by ``min(1, max_norm / (norm + 1e-6))`` so that it
        never reads the norm on the host (a sync on CUDA). On CPU reading it is free, and the multiply by 1.0 of
        the steps within bounds (most of them) is a full pass over the gradients: about 2% of an LSTM step.
        """
        max_norm = self.config.max_grad_norm
        if self.device.type != "cpu":
            torch.nn.utils.clip_grad_norm_(self._params, max_norm)
            return
        norm = torch.nn.utils.get_total_norm([p.grad for p in self._params if p.grad is not None])
        if not torch.isfinite(norm):
            raise TrainingError(f"epoch {epoch}, batch {i + 1}: gradient norm is {float(norm)}; stopping")
        if max_norm / (norm + 1e-6) < 1.0:  # the coefficient clip_grad_norm_ would clamp to 1
            torch.nn.utils.clip_grads_with_norm_(self._params, max_norm, norm)

    def _check_losses(self, losses: list[torch.Tensor], start: int, epoch: int) -> None:
        if start >= len(losses):
            return
        bad = ~torch.isfinite(torch.stack(losses[start:]))
        if bool(bad.any()):
            i = start + int(bad.nonzero()[0])
            raise TrainingError(f"epoch {epoch}, batch {i + 1}: training loss is {float(losses[i])}; stopping")

    @torch.no_grad()
    def predict(self, loader: Iterable) -> tuple[torch.Tensor, torch.Tensor]:
        """``(predictions (N, out), targets (N, 1))`` over ``loader``, in its order, on the trainer's device."""
        self.model.eval()
        preds, targets = [], []
        for xb, yb in loader:
            xb = xb.to(self.device, non_blocking=self._non_blocking)
            with self._autocast():
                preds.append(self.model(xb).float())
            targets.append(yb.to(self.device, non_blocking=self._non_blocking))
        if not preds:
            raise TrainingError("the validation loader yielded no batches")
        return torch.cat(preds), torch.cat(targets)

    @torch.no_grad()
    def evaluate(self, loader: Iterable | None = None, epoch: int | None = None) -> float:
        """``loss_fn`` over all of ``loader`` (default: the validation loader) at once; exact for losses that do
        not average over samples (Sharpe, volatility)."""
        preds, targets = self.predict(self.val_loader if loader is None else loader)
        loss = float(self.loss_fn(preds, targets))
        if not math.isfinite(loss):
            raise TrainingError(f"epoch {epoch}: validation loss is {loss}; stopping")
        return loss

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint dict (keys in :mod:`fin_pipeline.training.checkpoint`)."""
        return trainer_state(self)

    def _resume(self) -> bool:
        """Load ``last.pt`` (see :func:`~fin_pipeline.training.resume.resume_from_last`); ``False`` if absent."""
        return resume_from_last(self)
