"""The original Stage 4 data API, kept by name, on top of :mod:`fin_pipeline.training.data`'s loader and normalization.

``TimeSeriesDataset`` (map-style, the slow general path), ``create_data_loaders`` (a temporal split by position),
``create_walk_forward_loaders`` (one fresh normalization per fold) and ``prepare_data`` (the Stage 2 -> Stage 4
hand-over). The pipeline itself cuts folds by date and trains with :class:`~fin_pipeline.training.data.
TensorBatchLoader` directly (:mod:`fin_pipeline.training.fold_training`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from fin_pipeline.training.data import (
    NormalizationStats,
    TensorBatchLoader,
    _as_indices,
    _check_batch_size,
    _stats_tensors,
    as_tensor,
    check_windows,
    compute_normalization_stats,
    resolve_device,
    to_device,
)
from fin_pipeline.training.index_splits import WalkForwardValidator

logger = logging.getLogger(__name__)


class TimeSeriesDataset(Dataset):
    """The original API's map-style dataset: ``ds[i]`` is ``(x (T, F) float32, y (1,) float32)``, normalized on the fly.

    ``X`` is wrapped, not copied (see the module doc). With ``normalize=True`` and no ``mean``/``std``, they are
    computed over all of ``X``; ``mean``/``std`` may be ``(F,)`` or the original API's ``(1, 1, F)``. This is the slow,
    general path (a ``DataLoader`` calls ``__getitem__`` per sample and collates); train with
    :class:`TensorBatchLoader`.
    """

    def __init__(self, X: Any, y: Any, normalize: bool = True, mean: Any = None, std: Any = None) -> None:
        self.X, self.y = as_tensor(X), as_tensor(y)
        check_windows(self.X, self.y)
        self.y = self.y.reshape(-1, 1)
        self.normalize = normalize
        self.mean = self.std = None
        if normalize:
            if mean is None or std is None:
                stats = compute_normalization_stats(self.X)
                mean = stats.mean if mean is None else mean
                std = stats.std if std is None else std
            self.mean, self.std = _stats_tensors(mean, std, self.X.shape[2], torch.device("cpu"))

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.X[i].to(torch.float32)  # (T, F)
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return x, self.y[i].to(torch.float32)


def _split_point(n: int, validation_split: float) -> int:
    """Number of training windows when the last ``validation_split`` of ``n`` windows validate."""
    if validation_split >= 1.0:
        raise ValueError(f"validation_split={validation_split!r} leaves no training data; it must be in [0, 1)")
    if not validation_split >= 0.0:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split!r}")
    n_val = int(n * validation_split)
    n_train = n - n_val
    if n_train < 1:
        raise ValueError(f"validation_split={validation_split} leaves no training data out of {n} windows")
    if validation_split > 0 and n_val < 1:
        raise ValueError(f"validation_split={validation_split} leaves no validation data out of {n} windows")
    return n_train


class FoldLoaders(NamedTuple):
    """One walk-forward fold: its loaders and the normalization fitted on its training windows."""

    train: TensorBatchLoader
    val: TensorBatchLoader | None  # None only from create_data_loaders with validation_split=0
    stats: NormalizationStats | None


def _split_loaders(
    Xt: torch.Tensor,
    yt: torch.Tensor,
    Xd: torch.Tensor,
    yd: torch.Tensor,
    train_idx: torch.Tensor,
    val_idx: torch.Tensor,
    *,
    normalize: bool,
    batch_size: int,
    device: torch.device,
    shuffle: bool,
    seed: int,
    drop_last: bool,
) -> FoldLoaders:
    """The loaders of one (training, validation) split, sharing the device tensors ``Xd``, ``yd``: one
    normalization fitted on the training windows of ``Xt`` only (NaN there is an error), on both loaders; the
    training loader shuffles with ``seed``, the validation loader (None without windows) serves every window in
    order."""
    stats = compute_normalization_stats(Xt, train_idx, yt) if normalize else None
    common = {"batch_size": batch_size, "stats": stats, "device": device}
    train = TensorBatchLoader(
        Xd, yd, indices=train_idx, shuffle=shuffle, seed=seed, drop_last=drop_last, check_finite=not normalize, **common
    )
    val = TensorBatchLoader(Xd, yd, indices=val_idx, **common) if len(val_idx) else None
    return FoldLoaders(train, val, stats)


def create_data_loaders(
    X: Any,
    y: Any,
    batch_size: int = 32,
    validation_split: float = 0.2,
    normalize: bool = True,
    shuffle: bool = True,
    seed: int = 0,
    device: str | torch.device = "cpu",
    indices: Any = None,
    drop_last: bool = False,
    n_features: int | None = None,
    shuffle_train: bool | None = None,
) -> tuple[TensorBatchLoader, TensorBatchLoader | None]:
    """``(train_loader, val_loader)`` over a temporal split: the first windows train, the last validate.

    ``indices`` (sorted, default all windows) are split in order: the first ``1 - validation_split`` train, the
    rest validate; nothing is shuffled across the split. Normalization statistics come from the training windows
    only and are on both loaders as ``loader.stats`` (a :class:`NormalizationStats`, ``None`` without
    normalization) and ``loader.mean`` / ``loader.std`` tensors. ``validation_split=0`` gives ``val_loader=None``.
    The training loader shuffles (``shuffle``, or its original name ``shuffle_train``) with ``seed``; the
    validation loader never shuffles nor drops its last partial batch.

    The split is by position, so it is temporal only when position is time (one ticker's windows). For several
    tickers laid back to back, cut by date: :func:`~fin_pipeline.training.splits.date_walk_forward_splits` and
    :func:`create_walk_forward_loaders` with the folds' ``(train_idx, val_idx)``.
    """
    Xt, yt = as_tensor(X), as_tensor(y)
    check_windows(Xt, yt, n_features)
    batch_size = _check_batch_size(batch_size)
    idx = _as_indices(indices, len(Xt))
    if len(idx) > 1 and not bool((idx[1:] > idx[:-1]).all()):
        raise ValueError("indices must be strictly increasing (time order) for a temporal train/validation split")
    n_train = _split_point(len(idx), validation_split)
    train_idx, val_idx = idx[:n_train], idx[n_train:]
    device = resolve_device(device)
    # Move once; both loaders then share the device tensors (to_device is a no-op for them).
    Xd, yd = to_device(Xt, device), to_device(yt, device)
    shuffle = shuffle if shuffle_train is None else shuffle_train
    options = {"batch_size": batch_size, "device": device, "shuffle": shuffle, "seed": seed, "drop_last": drop_last}
    train, val, _ = _split_loaders(Xt, yt, Xd, yd, train_idx, val_idx, normalize=normalize, **options)
    logger.info("train: %d windows, validation: %d windows", len(train_idx), len(val_idx))
    return train, val


def create_walk_forward_loaders(
    X: Any,
    y: Any,
    validator: WalkForwardValidator | Iterable[tuple[Any, Any]] | None = None,
    batch_size: int = 32,
    *,
    validation_fraction: float = 0.2,
    num_steps: int = 5,
    normalize: bool = True,
    shuffle: bool = True,
    seed: int = 0,
    device: str | torch.device = "cpu",
    drop_last: bool = False,
    n_features: int | None = None,
) -> list[FoldLoaders]:
    """One :class:`FoldLoaders` ``(train, val, stats)`` per fold, each with a FRESH normalization.

    ``validator``: a :class:`WalkForwardValidator`, any iterable of ``(train_idx, val_idx)`` (e.g. from
    :meth:`~fin_pipeline.training.fold_boundaries.FoldBoundaries.indices` for date folds), or ``None`` for the original
    behaviour: ``WalkForwardValidator(len(X), validation_fraction, num_steps)``. Indices refer to windows of ``X``.
    ``X`` moves to the device once; every fold's loaders share it.
    """
    Xt, yt = as_tensor(X), as_tensor(y)
    check_windows(Xt, yt, n_features)
    batch_size = _check_batch_size(batch_size)
    if validator is None:
        validator = WalkForwardValidator(len(Xt), validation_fraction, num_steps)
    splits = validator.get_splits() if isinstance(validator, WalkForwardValidator) else list(validator)
    device = resolve_device(device)
    Xd, yd = to_device(Xt, device), to_device(yt, device)
    options = {"batch_size": batch_size, "device": device, "shuffle": shuffle, "seed": seed, "drop_last": drop_last}
    folds = []
    for i, (train_idx, val_idx) in enumerate(splits):
        train_idx, val_idx = _as_indices(train_idx, len(Xt)), _as_indices(val_idx, len(Xt))
        if len(train_idx) == 0 or len(val_idx) == 0:
            raise ValueError(f"fold {i} is empty: {len(train_idx)} training and {len(val_idx)} validation windows")
        folds.append(_split_loaders(Xt, yt, Xd, yd, train_idx, val_idx, normalize=normalize, **options))
        logger.info("fold %d: train %d windows, validation %d windows", i, len(train_idx), len(val_idx))
    return folds


def prepare_data(
    X_windows: Any, y_targets: Any, window_size: int | None = None, n_features: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The original Stage 2 -> Stage 4 hand-over: ``(X (N, T, F), y (N,) float32)``, checked.

    ``X_windows`` may be:

    * a 3-D array of windows: returned as is (a strided view stays a view);
    * a list of 2-D windows ``(T, F)`` (stacked) or of 3-D arrays, e.g. one per ticker (concatenated; this
      copies, so prefer passing indices into one array);
    * with ``window_size``: a 2-D ``(rows, F)`` feature array, turned into zero-copy sliding windows
      ``X[i] = rows[i : i + window_size]``; ``y_targets`` is then per row and ``y[i]`` is the target of the
      window's last row, ``targets[i + window_size - 1]``.

    NaN is allowed here (indicator warm-up rows, unknown last targets); the loaders reject NaN in the windows
    they select.
    """
    if window_size is not None:
        rows = np.asarray(X_windows)
        if rows.ndim != 2:
            raise ValueError(f"with window_size, X_windows must be a (rows, n_features) array, got {rows.shape}")
        targets = np.asarray(y_targets).reshape(-1)
        if len(targets) != len(rows):
            raise ValueError(f"{len(rows)} feature rows but {len(targets)} targets; they must match")
        if not 1 <= window_size <= len(rows):
            raise ValueError(f"window_size must be in [1, {len(rows)}] for {len(rows)} rows, got {window_size}")
        # (N, F, T) view -> (N, T, F); consecutive windows overlap in memory.
        X = np.lib.stride_tricks.sliding_window_view(rows, window_size, axis=0).transpose(0, 2, 1)
        y = targets[window_size - 1 :]
    else:
        if isinstance(X_windows, Sequence) and not isinstance(X_windows, np.ndarray):
            parts = [np.asarray(w) for w in X_windows]
            if not parts:
                raise ValueError("X_windows is an empty list")
            X = np.stack(parts) if parts[0].ndim == 2 else np.concatenate(parts)
        else:
            X = np.asarray(X_windows)
        y = np.asarray(y_targets).reshape(-1)
    y = y if y.dtype == np.float32 else y.astype(np.float32)
    check_windows(X, y, n_features)
    logger.info("data prepared: X %s, y %s", X.shape, y.shape)
    return X, y
