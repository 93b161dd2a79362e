"""What to train and how: :class:`TrainSpec`, validated without importing torch until the plain checks pass.

Kept apart from :mod:`fin_pipeline.training.fold_training` (which imports torch) so that ``fin-pipeline run``
refuses ``--epochs -1`` or ``--batch-size 0`` in about a second, before torch (several seconds) is imported.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

#: What a network may be fitted to (:mod:`fin_pipeline.training.targets` computes them).
TARGETS = ("raw", "zscore", "rank")


def described(default: Any, description: str, **checks: Any) -> Any:
    """A dataclass field whose metadata carries the text the Dagster launchpad shows and its range checks."""
    if isinstance(default, dict):
        return dataclasses.field(default_factory=dict, metadata={"description": description, **checks})
    return dataclasses.field(default=default, metadata={"description": description, **checks})


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """What to train and how; :meth:`validate` rejects unknown names and out-of-range values up front."""

    model: str = described("lstm", "Model: lstm, cnn, attention or ensemble.")
    model_config: dict[str, Any] = described(
        {}, "Model settings that differ from the defaults, e.g. {hidden_size: 64} or {output_size: 3} for quantiles."
    )
    target: str = described(
        "raw", "What the network fits: raw (the h-day return), zscore or rank (within each day's cross-section)."
    )
    loss: str = described("mse", "Loss (mse, mae, huber, sharpe, quantile, ...) or preset (robust, trading, ...).")
    optimizer: str = described("adam", "Optimizer: adam, adamw, sgd or rmsprop.")
    scheduler: str = described("plateau", "Learning-rate schedule: step, cosine, plateau (on the tuning loss) or none.")
    epochs: int = described(100, "Most epochs to train (early stopping on the tuning block may stop sooner).", ge=1)
    patience: int = described(15, "Epochs without improvement of the tuning loss before stopping.", ge=1)
    min_delta: float = described(1e-4, "Smallest decrease of the tuning loss that counts as an improvement.", ge=0)
    batch_size: int = described(32, "Training windows per batch.", ge=1)
    learning_rate: float = described(1e-3, "Initial learning rate.")
    weight_decay: float = described(0.0, "Optimizer weight decay (L2).", ge=0)
    max_grad_norm: float = described(1.0, "Clip the global gradient norm to this.")
    seed: int = described(0, "Seed of the model's initial weights and of the batch order.")
    device: str = described("auto", "auto (CUDA when present), cpu or cuda[:N].")

    def check_values(self) -> TrainSpec:
        """The plain checks (ranges, finite numbers, the device's form), without importing torch: fast."""
        for f in dataclasses.fields(self):
            low = f.metadata.get("ge")
            if low is not None and not getattr(self, f.name) >= low:
                raise ValueError(f"{f.name} must be >= {low}, got {getattr(self, f.name)}")
        for name in ("learning_rate", "max_grad_norm"):
            if not math.isfinite(getattr(self, name)) or getattr(self, name) <= 0:
                raise ValueError(f"{name} must be a positive number, got {getattr(self, name)}")
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {list(TARGETS)}, got {self.target!r}")
        if self.device not in ("auto", "cpu") and not self.device.startswith("cuda"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")
        return self

    def validate(self) -> TrainSpec:
        """Raise ``ValueError`` naming the field for anything that would fail later, before any training."""
        self.check_values()  # first, and before torch is imported: `--epochs -1` fails in a second
        import torch

        from fin_pipeline.features.indicators import FEATURE_COLUMNS, WINDOW
        from fin_pipeline.models import create_model
        from fin_pipeline.training.losses import create_loss_function
        from fin_pipeline.training.optim import OPTIMIZERS, SCHEDULERS

        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device {self.device!r} asked for, but this machine has no CUDA device; use 'auto'")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; valid: {sorted(OPTIMIZERS)}")
        if self.scheduler not in (*SCHEDULERS, "none"):
            raise ValueError(f"unknown scheduler {self.scheduler!r}; valid: {[*SCHEDULERS, 'none']}")
        loss = create_loss_function(self.loss)  # raises, listing the valid names
        model = create_model(self.model, **self.model_config)  # raises for an unknown name, key or value
        # A dry run on two windows: a loss that wants another output size (quantiles) fails here, not at epoch 1.
        with torch.no_grad():
            out = model.eval()(torch.zeros(2, WINDOW, len(FEATURE_COLUMNS)))
            try:
                loss(out, torch.zeros(2))
            except (ValueError, RuntimeError) as exc:
                raise ValueError(
                    f"loss {self.loss!r} does not fit model {self.model!r}, whose output is {tuple(out.shape[1:])} "
                    f"per window (set model_config output_size): {exc}"
                ) from None
        return self
