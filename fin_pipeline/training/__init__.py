"""Training library (the original Stage 4 API, kept by name): losses, the Trainer, data loaders, walk-forward splits.

No dagster here: a notebook can ``from fin_pipeline.training import Trainer, create_data_loaders``.
"""

# The names are imported on first use (PEP 562), not here: importing the package, or a torch-free module of it
# such as fin_pipeline.training.spec (what `fin-pipeline run` validates its config with), does not import torch.
import importlib
from typing import Any

_SOURCES = {
    "ModelCheckpoint": "fin_pipeline.training.checkpoint",
    "TrainingError": "fin_pipeline.training.checkpoint",
    "load_checkpoint": "fin_pipeline.training.checkpoint",
    "save_checkpoint": "fin_pipeline.training.checkpoint",
    "seed_everything": "fin_pipeline.training.checkpoint",
    "NormalizationStats": "fin_pipeline.training.data",
    "TensorBatchLoader": "fin_pipeline.training.data",
    "assert_finite": "fin_pipeline.training.data",
    "compute_normalization_stats": "fin_pipeline.training.data",
    "resolve_device": "fin_pipeline.training.data",
    "LOSS_NAMES": "fin_pipeline.training.losses",
    "LOSS_PRESETS": "fin_pipeline.training.losses",
    "CombinedLoss": "fin_pipeline.training.losses",
    "DirectionalAccuracyLoss": "fin_pipeline.training.losses",
    "HuberLoss": "fin_pipeline.training.losses",
    "MAELoss": "fin_pipeline.training.losses",
    "MSELoss": "fin_pipeline.training.losses",
    "QuantileLoss": "fin_pipeline.training.losses",
    "ReturnVolatilityLoss": "fin_pipeline.training.losses",
    "SharpeRatioLoss": "fin_pipeline.training.losses",
    "create_loss_function": "fin_pipeline.training.losses",
    "FoldLoaders": "fin_pipeline.training.seed_api",
    "TimeSeriesDataset": "fin_pipeline.training.seed_api",
    "create_data_loaders": "fin_pipeline.training.seed_api",
    "create_walk_forward_loaders": "fin_pipeline.training.seed_api",
    "prepare_data": "fin_pipeline.training.seed_api",
    "DateWalkForwardSplitter": "fin_pipeline.training.splits",
    "FoldBoundaries": "fin_pipeline.training.splits",
    "WalkForwardValidator": "fin_pipeline.training.splits",
    "calendar_walk_forward_splits": "fin_pipeline.training.splits",
    "date_walk_forward_splits": "fin_pipeline.training.splits",
    "fold_key": "fin_pipeline.training.splits",
    "EarlyStopping": "fin_pipeline.training.trainer",
    "Trainer": "fin_pipeline.training.trainer",
    "TrainerConfig": "fin_pipeline.training.trainer",
    "create_optimizer": "fin_pipeline.training.trainer",
    "create_scheduler": "fin_pipeline.training.trainer",
}


def __getattr__(name: str) -> Any:
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_SOURCES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_SOURCES})


__all__ = [
    "LOSS_NAMES",
    "LOSS_PRESETS",
    "CombinedLoss",
    "DateWalkForwardSplitter",
    "DirectionalAccuracyLoss",
    "EarlyStopping",
    "FoldBoundaries",
    "FoldLoaders",
    "HuberLoss",
    "MAELoss",
    "MSELoss",
    "ModelCheckpoint",
    "NormalizationStats",
    "QuantileLoss",
    "ReturnVolatilityLoss",
    "SharpeRatioLoss",
    "TensorBatchLoader",
    "TimeSeriesDataset",
    "Trainer",
    "TrainerConfig",
    "TrainingError",
    "WalkForwardValidator",
    "assert_finite",
    "calendar_walk_forward_splits",
    "compute_normalization_stats",
    "create_data_loaders",
    "create_loss_function",
    "create_optimizer",
    "create_scheduler",
    "create_walk_forward_loaders",
    "date_walk_forward_splits",
    "fold_key",
    "load_checkpoint",
    "prepare_data",
    "resolve_device",
    "save_checkpoint",
    "seed_everything",
]
