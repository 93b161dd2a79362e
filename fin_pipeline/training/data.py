"""Data for training: windows ``X`` of shape ``(N, T, F)`` (default ``(N, 30, 40)``) and targets ``y`` ``(N,)``.

The fast path is :class:`TensorBatchLoader`; the original data API (``TimeSeriesDataset``, ``create_data_loaders``,
``create_walk_forward_loaders``, ``prepare_data``) lives in :mod:`fin_pipeline.training.original_api` on top of it.
The loader holds ``X`` and ``y`` as tensors (on the GPU when training there)
and yields ``(xb, yb)`` batches of shapes ``(B, T, F)`` and ``(B, 1)`` by gathering rows with ``index_select``:
no per-sample ``__getitem__`` and no collate on the hot path.

Zero-copy contract with the feature stage: ``X`` may be a read-only, non-contiguous view made by
``numpy.lib.stride_tricks.sliding_window_view`` over one ``(rows, F)`` float32 array, whose windows overlap in
memory. Nothing here materializes all of ``X``: it is wrapped with ``torch.from_numpy`` (sharing memory; we never
write to it), each batch gathers only its own windows, and statistics and NaN checks run over the selected windows
chunk by chunk. ``indices`` select the windows a loader uses (a fold picks its windows by date) without a copy.

Normalization is per feature: ``(x - mean) / std`` with ``mean`` and ``std`` of shape ``(F,)``, broadcast over
``(B, T, F)`` and applied per batch. The statistics are the mean and population standard deviation over every row
of every selected *training* window (a row that several windows share counts once per window, as
``X[train_idx].mean(axis=(0, 1))`` would). A feature whose std is below ``1e-8`` (constant) gets std 1: it is
only centred, never divided by zero.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)

STD_FLOOR = 1e-8  # a per-feature std below this is a constant feature: its std is taken as 1
CHUNK = 2048  # windows per chunk when scanning X for statistics and NaN: ~10 MB at (30, 40) float32


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``'auto'`` -> CUDA when available, else CPU; anything else as ``torch.device``."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def as_tensor(a: Any) -> torch.Tensor:
    """A tensor sharing memory with the numpy array ``a`` (strides kept), or ``a`` itself if it is a tensor.

    ``torch.from_numpy`` warns that a read-only array gives a writable tensor; nothing here writes to ``X`` or
    ``y`` (batches are gathered copies), so the warning is silenced.
    """
    if isinstance(a, torch.Tensor):
        return a
    a = np.asarray(a)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(a)


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``t`` on ``device``, keeping a strided view a view: only the memory span it covers is copied.

    For sliding windows that span is the ``(rows, F)`` base array, not the ``T`` times larger windows.
    """
    if t.device == device:
        return t
    if t.is_contiguous() or t.numel() == 0:
        return t.to(device)
    span = 1 + sum((size - 1) * stride for size, stride in zip(t.shape, t.stride(), strict=True))
    flat = t.as_strided((span,), (1,))  # the covered memory, from t's storage offset
    return flat.to(device).as_strided(t.shape, t.stride(), 0)


def check_windows(X: Any, y: Any, n_features: int | None = None) -> None:
    """Shape checks shared by every entry point: ``X`` ``(N, T, F)``, ``y`` ``(N,)`` or ``(N, 1)``."""
    if X.ndim != 3:
        raise ValueError(f"X must be windows of shape (N, seq_len, n_features), got shape {tuple(X.shape)}")
    if n_features is not None and X.shape[2] != n_features:
        raise ValueError(f"X has {X.shape[2]} features per row, expected {n_features} (shape {tuple(X.shape)})")
    if not (y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)):
        raise ValueError(f"y must be targets of shape (N,) or (N, 1), got shape {tuple(y.shape)}")
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} windows but y has {len(y)} targets; they must match")


def _check_batch_size(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    return int(batch_size)


def _as_indices(indices: Any, n: int, what: str = "indices") -> torch.Tensor:
    """Window indices as an int64 tensor, checked to lie in ``[0, n)``."""
    if indices is None:
        return torch.arange(n)
    idx = torch.as_tensor(np.asarray(indices) if not isinstance(indices, torch.Tensor) else indices)
    if idx.dtype == torch.bool:
        if idx.shape != (n,):
            raise ValueError(f"a boolean {what} mask must have shape ({n},), got {tuple(idx.shape)}")
        return torch.nonzero(idx).reshape(-1)
    if idx.ndim == 1 and idx.numel() == 0:
        return idx.to(torch.int64)  # np.asarray([]) is float64
    if idx.ndim != 1 or idx.is_floating_point():
        raise ValueError(f"{what} must be a 1-D integer array, got dtype {idx.dtype} and shape {tuple(idx.shape)}")
    idx = idx.to(torch.int64)
    if len(idx) and (int(idx.min()) < 0 or int(idx.max()) >= n):
        raise ValueError(f"{what} must lie in [0, {n}), got values in [{int(idx.min())}, {int(idx.max())}]")
    return idx


def _chunks(idx: torch.Tensor) -> Iterator[torch.Tensor]:
    for start in range(0, len(idx), CHUNK):
        yield idx[start : start + CHUNK]


def _check_targets(y: torch.Tensor, idx: torch.Tensor, what: str) -> None:
    bad = ~torch.isfinite(y.index_select(0, idx).reshape(len(idx), -1)).all(dim=1)
    if bad.any():
        raise ValueError(f"{what}: target y is NaN or infinite at window {int(idx[bad][0])}")


def _first_bad_window(chunk_values: torch.Tensor, chunk: torch.Tensor) -> int:
    ok = torch.isfinite(chunk_values.reshape(len(chunk), -1)).all(dim=1)  # (chunk,)
    return int(chunk[~ok][0])


def assert_finite(X: Any, y: Any, indices: Any = None, what: str = "data") -> None:
    """Raise ``ValueError`` naming the first selected window whose features or target are NaN/inf.

    Scans only the selected windows, a chunk at a time (never all of a huge ``X`` at once).
    """
    X, y = as_tensor(X), as_tensor(y)
    idx = _as_indices(indices, len(X))
    _check_targets(y, idx, what)
    for chunk in _chunks(idx):
        c = X.index_select(0, chunk)  # (chunk, T, F)
        if not torch.isfinite(c).all():
            raise ValueError(
                f"{what}: features X contain NaN or infinite values in window {_first_bad_window(c, chunk)}"
            )


@dataclasses.dataclass(frozen=True)
class NormalizationStats:
    """Per-feature centre and scale, fitted on training windows only; ``std`` is already floored (see module)."""

    mean: np.ndarray  # (F,) float32
    std: np.ndarray  # (F,) float32
    count: int  # rows the statistics were computed from (window rows, counted per window)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists: JSON, Dagster metadata, or a checkpoint's ``extra``."""
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "count": self.count}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NormalizationStats:
        mean = np.asarray(data["mean"].cpu() if isinstance(data["mean"], torch.Tensor) else data["mean"], np.float32)
        std = np.asarray(data["std"].cpu() if isinstance(data["std"], torch.Tensor) else data["std"], np.float32)
        return cls(mean=mean, std=std, count=int(data.get("count", 0)))


def compute_normalization_stats(X: Any, indices: Any = None, y: Any = None) -> NormalizationStats:
    """Mean and population std per feature over every row of the windows ``X[indices]``, without copying ``X``.

    Runs in chunks of windows, combining them in float64 with Chan's parallel variance update (stable when a
    feature's mean is large against its spread, e.g. volume). Raises ``ValueError`` on NaN/inf in the selected
    windows (and in ``y`` when given).
    """
    Xt = as_tensor(X)
    if Xt.ndim != 3:
        raise ValueError(f"X must be windows of shape (N, seq_len, n_features), got shape {tuple(Xt.shape)}")
    idx = _as_indices(indices, len(Xt))
    if len(idx) == 0:
        raise ValueError("cannot compute normalization statistics from zero training windows")
    if y is not None:
        _check_targets(as_tensor(y), idx, "training data")
    n_features = Xt.shape[2]
    count, mean, m2 = 0, torch.zeros(n_features, dtype=torch.float64), torch.zeros(n_features, dtype=torch.float64)
    for chunk in _chunks(idx):
        c = Xt.index_select(0, chunk).to(torch.float64).reshape(-1, n_features)  # (chunk * T, F)
        if not torch.isfinite(c).all():
            bad = _first_bad_window(c, chunk)
            raise ValueError(f"training data: features X contain NaN or infinite values in window {bad}")
        n_b = c.shape[0]
        mean_b = c.mean(dim=0)
        m2_b = ((c - mean_b) ** 2).sum(dim=0)
        delta = mean_b - mean
        total = count + n_b
        mean = mean + delta * (n_b / total)
        m2 = m2 + m2_b + delta**2 * (count * n_b / total)
        count = total
    std = (m2 / count).sqrt()
    std = torch.where(std < STD_FLOOR, torch.ones_like(std), std)
    return NormalizationStats(mean=mean.to(torch.float32).numpy(), std=std.to(torch.float32).numpy(), count=count)


def _stats_tensors(mean: Any, std: Any, n_features: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    mean = torch.as_tensor(np.asarray(mean, dtype=np.float32)).reshape(-1)
    std = torch.as_tensor(np.asarray(std, dtype=np.float32)).reshape(-1)
    if mean.shape != (n_features,) or std.shape != (n_features,):
        raise ValueError(f"mean and std must have {n_features} values, got {tuple(mean.shape)} and {tuple(std.shape)}")
    std = torch.where(std < STD_FLOOR, torch.ones_like(std), std)
    return mean.to(device), std.to(device)


class TensorBatchLoader:
    """Batches ``(xb (B, T, F) float32, yb (B, 1) float32)`` gathered from tensors by index.

    Args:
        X, y: windows and targets (numpy arrays are wrapped without a copy; see the module doc).
        batch_size: windows per batch. Every selected window is yielded exactly once per epoch; the last partial
            batch is kept unless ``drop_last`` (never drop it for validation).
        indices: which windows to use (int array or boolean mask over ``X``); default all, in order.
        shuffle: draw a new order each epoch from a ``torch.Generator`` seeded with ``seed``; its state is
            :meth:`state_dict`, so a resumed run draws the same orders.
        mean, std: per-feature statistics ``(F,)``; ``None``: no normalization.
        device: where the tensors live (``'auto'``: CUDA when available); on CUDA the memory span of ``X``
            (the base array, for sliding windows) is copied once and batches are gathered on the GPU.
        check_finite: scan the selected windows for NaN/inf once, at construction.
    """

    def __init__(
        self,
        X: Any,
        y: Any,
        batch_size: int = 32,
        *,
        indices: Any = None,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        mean: Any = None,
        std: Any = None,
        device: str | torch.device = "cpu",
        check_finite: bool = True,
        stats: NormalizationStats | None = None,
    ) -> None:
        X, y = as_tensor(X), as_tensor(y)
        check_windows(X, y)
        self.batch_size = _check_batch_size(batch_size)
        self.device = resolve_device(device)
        idx = _as_indices(indices, len(X))
        if check_finite:
            assert_finite(X, y, idx)
        self.X = to_device(X, self.device)  # (N, T, F), any dtype, maybe a strided view
        self.y = to_device(y.reshape(-1, 1), self.device)  # (N, 1)
        self.indices = idx.to(self.device)
        self.shuffle, self.drop_last, self.seed = shuffle, drop_last, seed
        self.generator = torch.Generator().manual_seed(seed)  # CPU generator: same orders on every device
        if stats is not None:
            mean, std = stats.mean, stats.std
        self.stats = stats
        self.mean = self.std = self.inv_std = None
        if mean is not None or std is not None:
            if mean is None or std is None:
                raise ValueError("pass both mean and std, or neither")
            self.mean, self.std = _stats_tensors(mean, std, X.shape[2], self.device)
            self.inv_std = 1.0 / self.std  # a multiply per batch instead of a divide

    @property
    def num_samples(self) -> int:
        return len(self.indices)

    def __len__(self) -> int:
        n, b = len(self.indices), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.indices
        if self.shuffle:
            perm = torch.randperm(len(order), generator=self.generator)
            order = order[perm.to(order.device)]
        n, b = len(order), self.batch_size
        stop = n - n % b if self.drop_last else n
        for start in range(0, stop, b):
            idx = order[start : start + b]
            xb = self.X.index_select(0, idx)  # (B, T, F): a copy of just this batch
            if xb.dtype != torch.float32:
                xb = xb.to(torch.float32)
            if self.mean is not None:
                xb.sub_(self.mean).mul_(self.inv_std)  # in place on our own copy; (F,) broadcasts over (B, T, F)
            yb = self.y.index_select(0, idx)  # (B, 1)
            yield xb, (yb if yb.dtype == torch.float32 else yb.to(torch.float32))

    def state_dict(self) -> dict[str, Any]:
        """The shuffle generator's state: saved in the resume checkpoint."""
        return {"generator": self.generator.get_state(), "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
