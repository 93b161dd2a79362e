"""Walk-forward splitting by sample index (``WalkForwardValidator``, the original Stage 4 API).

Each fold has two blocks, train | gap | validation, over ``num_windows`` time-ordered samples. ``purge`` is read as
the samples dropped between the last training sample and the first validation sample (``>= h``, the target
horizon, for no overlap of targets), and ``embargo`` as extra samples after it. The pipeline cuts its folds by
calendar date instead (:mod:`fin_pipeline.training.splits`).
"""

from __future__ import annotations

import numpy as np

from fin_pipeline.training.fold_boundaries import check_count, check_mode


def _layout(
    n: int, val_size: int, num_folds: int, gap: int, mode: str, train_size: int | None
) -> list[tuple[int, int, int, int]]:
    """``[(train_start, train_stop, val_start, val_stop)]`` half-open positions; the last block ends at ``n``.

    Rolling training sets all have ``train_size`` samples (default: fold 0's expanding length) and start no
    earlier than 0. Blocks that come out empty are returned as such; the callers name them in their errors.
    """
    first_val = n - num_folds * val_size
    rolling_size = train_size if train_size is not None else max(first_val - gap, 0)
    out = []
    for i in range(num_folds):
        val_start = first_val + i * val_size
        train_stop = max(val_start - gap, 0)
        train_start = 0 if mode == "expanding" else max(train_stop - rolling_size, 0)
        out.append((train_start, train_stop, max(val_start, 0), val_start + val_size))
    return out


class WalkForwardValidator:
    """Walk-forward (train, validation) index splits over ``num_windows`` time-ordered samples.

    Args:
        num_windows: total number of samples, in time order (sample i precedes sample i + 1).
        validation_size: samples per validation block; a float in (0, 1) is read as the original API did, a fraction
            of ``num_windows`` (``int(num_windows * validation_size)``).
        num_steps: number of folds. The ``num_steps`` validation blocks are consecutive and the last one ends
            at the last sample: fold i validates on
            ``[N - (num_steps - i) * V, N - (num_steps - 1 - i) * V)``.
        purge: samples dropped between training and validation (``>=`` the target horizon; see the module doc).
        embargo: extra samples dropped after the purge.
        mode: ``'expanding'`` (training starts at sample 0) or ``'rolling'`` (training is the ``train_size``
            samples before the gap, fewer when the data does not reach back that far; default ``train_size``:
            fold 0's expanding length).

    ``get_splits()`` raises ``ValueError`` naming the fold and sizes when a fold's training or validation block is
    empty (too many folds or too large blocks for ``num_windows``).
    """

    def __init__(
        self,
        num_windows: int,
        validation_size: int | float = 0.2,
        num_steps: int = 5,
        purge: int = 0,
        embargo: int = 0,
        mode: str = "expanding",
        train_size: int | None = None,
    ) -> None:
        self.num_windows = check_count("num_windows", num_windows, 1)
        if isinstance(validation_size, float) and 0.0 < validation_size < 1.0:
            validation_size = int(num_windows * validation_size)
        self.validation_size = check_count("validation_size", validation_size, 1)
        self.num_steps = check_count("num_steps", num_steps, 1)
        self.purge = check_count("purge", purge, 0)
        self.embargo = check_count("embargo", embargo, 0)
        self.mode = check_mode(mode)
        self.train_size = None if train_size is None else check_count("train_size", train_size, 1)

    def get_splits(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(train_idx, val_idx)]``, one pair of sorted int64 arrays per fold, earliest fold first."""
        layout = _layout(
            self.num_windows,
            self.validation_size,
            self.num_steps,
            self.purge + self.embargo,
            self.mode,
            self.train_size,
        )
        splits = []
        for i, (t0, t1, v0, v1) in enumerate(layout):
            if t1 <= t0 or v1 - v0 < self.validation_size:
                raise ValueError(
                    f"fold {i} is empty or cut short: {max(t1 - t0, 0)} training and {max(v1 - v0, 0)} validation "
                    f"samples "
                    f"(num_windows={self.num_windows}, validation_size={self.validation_size}, "
                    f"num_steps={self.num_steps}, purge={self.purge}, embargo={self.embargo}, mode={self.mode!r})"
                )
            splits.append((np.arange(t0, t1, dtype=np.int64), np.arange(v0, v1, dtype=np.int64)))
        return splits

    def __len__(self) -> int:
        return self.num_steps
