"""A trainer's whole state as a checkpoint dict, and exact resume from ``last.pt``.

:func:`trainer_state` is what every epoch writes (keys in :mod:`fin_pipeline.training.checkpoint`);
:func:`resume_from_last` puts it back: weights, optimizer, scheduler, the callbacks' counters, the history and
every RNG, so that the resumed epochs are those an uninterrupted run would have trained.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from fin_pipeline.training.checkpoint import load_checkpoint, spec_of, to_plain
from fin_pipeline.training.random_state import rng_state, set_rng_state

if TYPE_CHECKING:
    from fin_pipeline.training.trainer import Trainer

logger = logging.getLogger(__name__)


def trainer_state(trainer: Trainer) -> dict[str, Any]:
    """The checkpoint dict of ``trainer`` after its last completed epoch."""
    ckpt = trainer.checkpoint
    return {
        "format": 1,
        "model": trainer.model.state_dict(),
        "model_spec": spec_of(trainer.model),
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict() if trainer.scheduler is not None else None,
        "epoch": trainer.epoch,
        "best_score": ckpt.best_score if ckpt else None,
        "best_epoch": ckpt.best_epoch if ckpt else None,
        "monitor": ckpt.monitor if ckpt else None,
        "mode": ckpt.mode if ckpt else None,
        "early_stopping": trainer.early_stopping.state_dict() if trainer.early_stopping else None,
        "checkpoint": ckpt.state_dict() if ckpt else None,
        "history": [dict(r) for r in trainer.history],
        "rng": rng_state(trainer.train_loader),
        "config": dataclasses.asdict(trainer.config),
        "extra": to_plain(trainer.extra),
    }


def resume_from_last(trainer: Trainer) -> bool:
    """Load ``last.pt`` into ``trainer``: weights, optimizer, scheduler, counters, history and RNG states.

    ``False`` (nothing loaded) when it does not exist yet; ``ValueError`` without a checkpoint directory, or when
    ``last.pt`` was written for another model or without the trainer's scheduler.
    """
    if trainer.checkpoint is None:
        raise ValueError("fit(resume=True) needs set_checkpoint(dirpath) first: last.pt is kept there")
    path = trainer.checkpoint.last_path
    if not path.exists():
        logger.info("no %s to resume from; starting at epoch 1", path)
        return False
    _, ckpt = load_checkpoint(path, trainer.model)  # raises if the checkpoint is another model's
    trainer.optimizer.load_state_dict(ckpt["optimizer"])
    if trainer.scheduler is not None:
        if ckpt["scheduler"] is None:
            raise ValueError(f"{path} was written without a scheduler; resume with the same setup")
        trainer.scheduler.load_state_dict(ckpt["scheduler"])
    if trainer.early_stopping is not None and ckpt["early_stopping"] is not None:
        trainer.early_stopping.load_state_dict(ckpt["early_stopping"])
    if ckpt["checkpoint"] is not None:
        trainer.checkpoint.load_state_dict(ckpt["checkpoint"])
    trainer.epoch, trainer.history = ckpt["epoch"], list(ckpt["history"])
    set_rng_state(ckpt["rng"], trainer.train_loader)
    logger.info("resumed from %s after epoch %d", path, trainer.epoch)
    return True
