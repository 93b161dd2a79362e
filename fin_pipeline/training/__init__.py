"""Training library (the seed's Stage 4 API, kept by name): losses, the Trainer, data loaders, walk-forward splits.

No dagster here: a notebook can ``from fin_pipeline.training import Trainer, create_data_loaders``.
"""

from fin_pipeline.training.checkpoint import (
    ModelCheckpoint,
    TrainingError,
    load_checkpoint,
    save_checkpoint,
    seed_everything,
)
from fin_pipeline.training.data import (
    NormalizationStats,
    TensorBatchLoader,
    assert_finite,
    compute_normalization_stats,
    resolve_device,
)
from fin_pipeline.training.losses import (
    LOSS_NAMES,
    LOSS_PRESETS,
    CombinedLoss,
    DirectionalAccuracyLoss,
    HuberLoss,
    MAELoss,
    MSELoss,
    QuantileLoss,
    ReturnVolatilityLoss,
    SharpeRatioLoss,
    create_loss_function,
)
from fin_pipeline.training.seed_api import (
    FoldLoaders,
    TimeSeriesDataset,
    create_data_loaders,
    create_walk_forward_loaders,
    prepare_data,
)
from fin_pipeline.training.splits import (
    DateWalkForwardSplitter,
    FoldBoundaries,
    WalkForwardValidator,
    date_walk_forward_splits,
    fold_key,
)
from fin_pipeline.training.trainer import (
    EarlyStopping,
    Trainer,
    TrainerConfig,
    create_optimizer,
    create_scheduler,
)

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
