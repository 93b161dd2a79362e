"""What a network is fitted to: the raw h-day return, or that return standardized within its day's cross-section.

The metric we judge by, the IC, is a correlation across tickers on one day: the part of a return that all
tickers share that day (the market's move, its volatility of the day) is noise to it, and with raw targets a
squared loss spends its capacity on that part (a few volatile days dominate the gradient). A cross-sectional
target takes it out, as Qlib's ``CSZScoreNorm``/``CSRankNorm`` processors do for the labels:

* ``raw``: ``y / s`` with ``s`` the fold's target scale (the std of its fitting targets), as before;
* ``zscore``: ``(y_i − mean_d(y)) / std_d(y)`` over the tickers ``i`` with a target on day ``d`` (population std;
  0 where the day has fewer than two tickers or no spread);
* ``rank``: the centred rank ``(rank_i − (n + 1) / 2) / sqrt((n**2 − 1) / 12)`` of ``y_i`` among the day's ``n``
  targets (ranks 1..n, ties averaged): mean 0 and variance 1 for distinct values, insensitive to outliers.

Each day's values use that day's targets only: the day's cross-section, which lies in the same fold block (folds
are cut by date), so nothing of another day (a later one included) enters. A cross-sectional model's outputs
are standardized scores, not returns: :func:`fin_pipeline.training.fold_training.return_units` maps them to
return units by the least-squares line fitted on the fold's tuning block, so that the forecast's errors and
predicted returns mean what a raw model's do.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fin_pipeline.features.windows import WindowSet
from fin_pipeline.training.normalization import FoldStats
from fin_pipeline.training.spec import TARGETS


def check_target(name: str) -> str:
    """``name`` if it is one of :data:`TARGETS`, else ValueError naming the field and the valid names."""
    if name not in TARGETS:
        raise ValueError(f"target must be one of {list(TARGETS)}, got {name!r}")
    return name


def cross_sectional(values: np.ndarray, days: np.ndarray, kind: str) -> np.ndarray:
    """``values`` (float) standardized within each day of ``days`` (same length) by ``kind`` (``zscore`` or
    ``rank``, see the module docstring); float64, in the input's order."""
    check_target(kind)
    frame = pd.DataFrame({"y": np.asarray(values, np.float64), "day": np.asarray(days)})
    by_day = frame.groupby("day", sort=False)["y"]
    n = by_day.transform("size").to_numpy(np.float64)
    if kind == "zscore":
        centred = frame["y"].to_numpy() - by_day.transform("mean").to_numpy()
        spread = by_day.transform(lambda y: y.std(ddof=0)).to_numpy()
    elif kind == "rank":
        centred = by_day.rank(method="average").to_numpy() - (n + 1) / 2
        spread = np.sqrt((n * n - 1) / 12)
    else:
        raise ValueError(f"cross_sectional: kind must be 'zscore' or 'rank', got {kind!r}")
    ok = (n >= 2) & (spread > 0)
    return np.where(ok, centred / np.where(ok, spread, 1.0), 0.0)


def fitting_targets(ws: WindowSet, stats: FoldStats, kind: str = "raw") -> np.ndarray:
    """The fitted target of every window position, (T − W + 1,) float32: window k's is row k + W − 1's target,
    transformed by ``kind``; positions that are not usable windows keep their raw value (NaN or never read)."""
    raw = (ws.targets[ws.window - 1 :] / np.float32(stats.target_scale)).astype(np.float32)
    if check_target(kind) == "raw":
        return raw
    index = ws.index
    positions = index["window"].to_numpy()
    out = raw.copy()
    out[positions] = cross_sectional(index["target"].to_numpy(np.float64), index["date"].to_numpy(), kind)
    return out
