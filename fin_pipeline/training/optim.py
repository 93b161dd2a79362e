"""Optimizers and learning-rate schedules by name: what ``TrainSpec.optimizer`` and ``TrainSpec.scheduler`` accept."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

OPTIMIZERS: dict[str, tuple[type[torch.optim.Optimizer], dict[str, Any]]] = {
    "adam": (torch.optim.Adam, {}),
    "adamw": (torch.optim.AdamW, {}),
    "sgd": (torch.optim.SGD, {"momentum": 0.9}),
    "rmsprop": (torch.optim.RMSprop, {}),
}
SCHEDULERS: dict[str, tuple[type, dict[str, Any]]] = {
    "step": (torch.optim.lr_scheduler.StepLR, {"step_size": 10, "gamma": 0.5}),
    "cosine": (torch.optim.lr_scheduler.CosineAnnealingLR, {"T_max": 100, "eta_min": 0.0}),
    "plateau": (torch.optim.lr_scheduler.ReduceLROnPlateau, {"mode": "min", "factor": 0.5, "patience": 5}),
}


def create_optimizer(
    model: nn.Module | Iterable[torch.nn.Parameter], name: str = "adam", lr: float = 1e-3, **kwargs: Any
) -> torch.optim.Optimizer:
    """``adam``, ``adamw``, ``sgd`` (momentum 0.9 by default) or ``rmsprop`` over the trainable parameters.

    ``kwargs`` (``weight_decay=...``, ``momentum=...``) go to the torch optimizer.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid names: {list(OPTIMIZERS)}")
    cls, defaults = OPTIMIZERS[name]
    params = model.parameters() if isinstance(model, nn.Module) else model
    return cls([p for p in params if p.requires_grad], lr=lr, **{**defaults, **kwargs})


def create_scheduler(optimizer: torch.optim.Optimizer, name: str = "cosine", **kwargs: Any) -> Any:
    """``step`` (StepLR, 10 epochs, x0.5), ``cosine`` (CosineAnnealingLR, ``T_max=100``) or ``plateau``
    (ReduceLROnPlateau on a minimized metric, x0.5 after 5 flat epochs). ``kwargs`` override those defaults.

    The Trainer steps ``plateau`` with the validation loss after every epoch and the others once per epoch.
    """
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}; valid names: {list(SCHEDULERS)}")
    cls, defaults = SCHEDULERS[name]
    return cls(optimizer, **{**defaults, **kwargs})
