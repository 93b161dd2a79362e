"""Training library (the original Stage 4 API, kept by name): losses, the Trainer, data loaders, walk-forward splits.

No dagster here: a notebook can ``from fin_pipeline.training import Trainer, create_data_loaders``.
"""

# The names are imported on first use (PEP 562), not here: importing the package, or a torch-free module of it
# such as fin_pipeline.training.spec (what `fin-pipeline run` validates its config with), does not import torch.
import importlib
from typing import Any

# Each public name once, under the module that defines it.
_NAMES_BY_MODULE = {
    "callbacks": ("EarlyStopping", "ModelCheckpoint"),
    "checkpoint": ("TrainingError", "load_checkpoint", "save_checkpoint"),
    "data": (
        "NormalizationStats",
        "TensorBatchLoader",
        "assert_finite",
        "compute_normalization_stats",
        "resolve_device",
    ),
    "fold_boundaries": ("FoldBoundaries", "fold_key"),
    "index_splits": ("WalkForwardValidator",),
    "losses": (
        "LOSS_NAMES",
        "LOSS_PRESETS",
        "CombinedLoss",
        "DirectionalAccuracyLoss",
        "HuberLoss",
        "MAELoss",
        "MSELoss",
        "QuantileLoss",
        "ReturnVolatilityLoss",
        "SharpeRatioLoss",
        "create_loss_function",
    ),
    "optim": ("create_optimizer", "create_scheduler"),
    "random_state": ("seed_everything",),
    "original_api": (
        "FoldLoaders",
        "TimeSeriesDataset",
        "create_data_loaders",
        "create_walk_forward_loaders",
        "prepare_data",
    ),
    "splits": ("DateWalkForwardSplitter", "calendar_walk_forward_splits", "date_walk_forward_splits"),
    "trainer": ("Trainer", "TrainerConfig"),
}
_SOURCES = {name: f"{__name__}.{module}" for module, names in _NAMES_BY_MODULE.items() for name in names}

__all__ = sorted(_SOURCES)


def __getattr__(name: str) -> Any:
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_SOURCES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_SOURCES})
