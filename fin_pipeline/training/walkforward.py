"""Walk-forward over a universe's windows, in one import: the fold layout, normalization, training and
prediction, baselines and versions, each in a module of its own job:

* :mod:`~fin_pipeline.training.folds`: :class:`FoldSpec`, :func:`compute_folds`, :func:`fold_positions`;
* :mod:`~fin_pipeline.training.normalization`: :class:`FoldStats`, :func:`fit_normalization`;
* :mod:`~fin_pipeline.training.fold_training`: :class:`TrainSpec`, :func:`train_fold`, :func:`predict_fold`,
  :func:`publish_checkpoints`;
* :mod:`~fin_pipeline.training.baselines`: :func:`add_baselines`;
* :mod:`~fin_pipeline.training.versions`: :func:`code_version`, :func:`data_version`.

The Dagster fold assets are thin wrappers around these functions, and ``benchmarks/pipeline.py`` calls them
directly. Every fold trains a fresh, seeded model on its training windows, early-stopped on its tuning block; the
normalization comes from the rows those windows cover; the test block is predicted once, after training.
"""

from fin_pipeline.training.baselines import BASELINES, RIDGE_ALPHAS, add_baselines, fit_ridge, past_return
from fin_pipeline.training.fold_training import (
    EVAL_BATCH,
    TrainOutcome,
    TrainSpec,
    predict_fold,
    publish_checkpoints,
    train_fold,
    window_rows,
)
from fin_pipeline.training.folds import FoldPositions, FoldSpec, compute_folds, fold_positions, fold_record
from fin_pipeline.training.normalization import FoldStats, covered_rows, fit_fold_normalization, fit_normalization
from fin_pipeline.training.versions import code_version, data_version, fold_version, rows_version, training_version

__all__ = [
    "BASELINES",
    "EVAL_BATCH",
    "RIDGE_ALPHAS",
    "FoldPositions",
    "FoldSpec",
    "FoldStats",
    "TrainOutcome",
    "TrainSpec",
    "add_baselines",
    "code_version",
    "compute_folds",
    "covered_rows",
    "data_version",
    "fold_version",
    "rows_version",
    "training_version",
    "fit_fold_normalization",
    "fit_normalization",
    "fit_ridge",
    "fold_positions",
    "fold_record",
    "past_return",
    "predict_fold",
    "publish_checkpoints",
    "train_fold",
    "window_rows",
]
