"""A fold's normalization: per-feature centre and scale of the rows its training and tuning windows cover.

The statistics never see a test row: :func:`fit_normalization` is given the training and tuning windows'
positions only, and the rows it averages are exactly those windows' rows. They travel inside the checkpoint.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from fin_pipeline.features.windows import WindowSet
from fin_pipeline.training.data import compute_normalization_stats
from fin_pipeline.training.fold_boundaries import FoldBoundaries
from fin_pipeline.training.folds import fold_positions


@dataclasses.dataclass(frozen=True)
class FoldStats:
    """Per-feature centre and scale of the fold's fitting rows, and the scale of its fitting targets."""

    mean: np.ndarray  # (F,) float32
    std: np.ndarray  # (F,) float32, floored: a constant feature gets 1
    rows: int  # distinct feature rows the statistics come from
    target_scale: float  # std of the fitting targets: the model learns y / target_scale, losses are O(1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "rows": self.rows,
            "target_scale": self.target_scale,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FoldStats:
        return cls(
            np.asarray(d["mean"], np.float32),
            np.asarray(d["std"], np.float32),
            int(d["rows"]),
            float(d["target_scale"]),
        )

    def normalize(self, rows: np.ndarray) -> np.ndarray:
        """(rows − mean) / std in float64: the features a model or a baseline sees."""
        return (np.asarray(rows, np.float64) - self.mean) / self.std


def covered_rows(ws: WindowSet, positions: np.ndarray) -> np.ndarray:
    """Boolean mask over ``ws.values``: the rows that at least one window at ``positions`` covers."""
    edges = np.zeros(len(ws.values) + 1, dtype=np.int64)
    np.add.at(edges, positions, 1)  # window k covers rows k .. k + W - 1
    np.add.at(edges, positions + ws.window, -1)
    return np.cumsum(edges[:-1]) > 0


def fit_normalization(ws: WindowSet, positions: np.ndarray) -> FoldStats:
    """Mean and population std per feature over the distinct rows the windows at ``positions`` cover (float64),
    and the std of those windows' targets. Give it the fold's training and tuning windows, never a test window.

    The features' statistics are :func:`~fin_pipeline.training.data.compute_normalization_stats` over the covered
    rows seen as windows of one row each, so that a row that several windows share counts once (and a constant
    feature gets std 1 by the same floor).
    """
    positions = np.asarray(positions)
    if len(positions) == 0:
        raise ValueError("no training windows to fit the normalization on")
    rows = np.flatnonzero(covered_rows(ws, positions))
    stats = compute_normalization_stats(ws.values[:, None, :], rows)  # (rows, 1, F): a view, no copy
    target_scale = float(np.std(ws.y(positions).astype(np.float64)))
    return FoldStats(stats.mean, stats.std, stats.count, target_scale or 1.0)


def fit_fold_normalization(ws: WindowSet, fold: FoldBoundaries) -> FoldStats:
    """:func:`fit_normalization` on the fold's training and tuning windows: never a test row."""
    pos = fold_positions(ws, fold)
    return fit_normalization(ws, np.concatenate([pos.train, pos.tune]))
