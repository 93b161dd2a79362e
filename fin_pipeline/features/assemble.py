"""A :class:`~fin_pipeline.features.windows.WindowSet` assembled from feature frames in memory or from the
``feature_windows`` Parquet files: every ticker's rows copied once into the one ``values`` array, and the index of
its usable windows. Files are read as Arrow tables and their columns copied straight into place: converting each
file to pandas first, then gathering the 40 feature columns into a frame, would be two more copies of every row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.lib.stride_tricks import sliding_window_view

from fin_pipeline.features.cost_inputs import COST_INPUTS
from fin_pipeline.features.frame import FeatureError
from fin_pipeline.features.indicators import FEATURE_COLUMNS, FEATURE_VERSION, WINDOW
from fin_pipeline.features.windows import WindowSet
from fin_pipeline.sources.base import NEW_YORK
from fin_pipeline.sources.execution import check_execution, resolve_execution
from fin_pipeline.store.parquet import StorageError, read_parquet_meta, read_parquet_table


def session_days(timestamps: pd.Series) -> np.ndarray:
    """UTC session timestamps (midnight New York) → naive datetime64[ns] session dates."""
    ts = pd.Series(timestamps)
    if ts.dt.tz is not None:
        ts = ts.dt.tz_convert(NEW_YORK).dt.tz_localize(None)
    return ts.dt.normalize().dt.as_unit("ns").to_numpy()


class _Columns:
    """A ticker's feature rows, a pandas frame or an Arrow table alike, as numpy columns."""

    def __init__(self, frame: pd.DataFrame | pa.Table) -> None:
        self.frame = frame
        self.arrow = isinstance(frame, pa.Table)
        self.names = set(frame.column_names if self.arrow else frame.columns)

    def column(self, name: str, dtype) -> np.ndarray:
        if self.arrow:  # a null (pandas' NaN, written) comes back NaN
            return self.frame.column(name).to_numpy().astype(dtype, copy=False)
        return self.frame[name].to_numpy(dtype=dtype)

    def fill(self, out: np.ndarray, names: tuple[str, ...]) -> None:
        """``out[:, j]`` = column ``names[j]``: straight into place (a table), or via one (rows, k) copy (a frame)."""
        if self.arrow:
            for j, name in enumerate(names):
                out[:, j] = self.frame.column(name).to_numpy()
        else:
            out[:] = self.frame[list(names)].to_numpy(dtype=out.dtype)

    def timestamps(self) -> pd.Series:
        return self.frame.column("timestamp").to_pandas() if self.arrow else self.frame["timestamp"]


def assemble(
    sizes: Mapping[str, int],
    load: Callable[[str], pd.DataFrame | pa.Table],
    window: int,
    feature_columns: tuple[str, ...],
    execution: str,
) -> WindowSet:
    """Two passes: sizes first (to allocate ``values`` once), then each ticker's rows copied into place."""
    if not sizes:
        raise ValueError("no tickers to build windows from")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    total = sum(sizes.values())
    values = np.empty((total, len(feature_columns)), dtype=np.float32)  # (T, F): the one copy
    targets = np.empty(total, dtype=np.float32)
    next_returns = np.empty(total, dtype=np.float32)
    spans: dict[str, tuple[int, int]] = {}
    # The index's columns are allocated once, at their largest possible length (every window that fits in a
    # ticker), filled in place and trimmed by slicing: no per-ticker parts to concatenate, no second copy.
    most = sum(max(rows - window + 1, 0) for rows in sizes.values())
    positions = np.empty(most, dtype=np.int64)
    days = np.empty(most, dtype="datetime64[ns]")
    codes = np.empty(most, dtype=np.int16 if len(sizes) < 2**15 else np.int32)
    row_dates = np.empty(total, dtype="datetime64[ns]")
    costs = np.full((total, len(COST_INPUTS)), np.nan)  # NaN stays where a file has no cost inputs
    start = used = 0
    for code, (ticker, rows) in enumerate(sizes.items()):
        frame = _Columns(load(ticker))
        if len(frame.frame) != rows:
            raise FeatureError(f"{ticker}: {len(frame.frame)} feature rows, expected {rows}")
        missing = [
            c for c in (*feature_columns, "timestamp", "target", "next_return", "window_ok") if c not in frame.names
        ]
        if missing:
            raise FeatureError(f"{ticker}: feature frame lacks column(s) {missing}")
        end = start + rows
        frame.fill(values[start:end], tuple(feature_columns))
        targets[start:end] = frame.column("target", np.float32)
        next_returns[start:end] = frame.column("next_return", np.float32)
        if all(c in frame.names for c in COST_INPUTS):
            frame.fill(costs[start:end], tuple(COST_INPUTS))
        # Usable: flagged ok, and the window starts inside this ticker (never across a boundary).
        ends = np.flatnonzero(frame.column("window_ok", bool))
        ends = ends[ends >= window - 1]
        found = slice(used, used + len(ends))
        positions[found] = start + ends - (window - 1)
        row_dates[start:end] = session_days(frame.timestamps())
        days[found] = row_dates[start:end][ends]
        codes[found] = code
        spans[ticker] = (start, end)
        start, used = end, used + len(ends)
        del frame

    values.flags.writeable = False
    targets.flags.writeable = False
    next_returns.flags.writeable = False
    if total >= window:
        windows = sliding_window_view(values, window, axis=0).transpose(0, 2, 1)  # (T-W+1, W, F), a view
    else:
        windows = np.empty((0, window, len(feature_columns)), dtype=np.float32)
    positions = positions[:used]
    index = pd.DataFrame(
        {
            "ticker": pd.Categorical.from_codes(codes[:used], categories=list(sizes)),
            "date": days[:used],
            "window": positions,
            "target": targets[positions + (window - 1)],
        },
        copy=False,
    )
    row_dates.flags.writeable = False
    costs.flags.writeable = False
    return WindowSet(
        values,
        targets,
        windows,
        index,
        spans,
        window,
        tuple(feature_columns),
        row_dates,
        next_returns=next_returns,
        execution=execution,
        costs=costs,
    )


def build_windows(
    frames: Mapping[str, pd.DataFrame],
    window: int = WINDOW,
    feature_columns: tuple[str, ...] = FEATURE_COLUMNS,
    execution: str | None = None,
) -> WindowSet:
    """Windows over in-memory feature frames (``build_feature_frame`` output), one per ticker, in that order.

    ``execution``: the one the frames' targets were built under; None reads it from the frames (their
    ``attrs["execution"]``, which ``build_feature_frame`` sets), and ``FeatureError`` if they disagree.
    """
    stamped = {f.attrs.get("execution") for f in frames.values()} - {None}
    if len(stamped) > 1:
        raise FeatureError(f"feature frames built under different executions: {sorted(stamped)}")
    if execution is None:
        execution = next(iter(stamped)) if stamped else resolve_execution(None)
    elif stamped and stamped != {execution}:
        raise FeatureError(f"feature frames built under execution {stamped.pop()!r}, not {execution!r}")
    sizes = {t: len(f) for t, f in frames.items()}
    return assemble(sizes, frames.__getitem__, window, feature_columns, check_execution(execution))


def load_window_set(paths_by_ticker: Mapping[str, Path | str], window: int = WINDOW) -> WindowSet:
    """Windows over the ``feature_windows`` Parquet files, read one at a time (peak ≈ 1× the matrix + 1 file).

    Refuses (``FeatureError`` naming the ticker and file) a missing file, or one written by another feature
    version or window length: rematerialize ``feature_windows`` for that ticker.
    """
    sizes: dict[str, int] = {}
    executions: dict[str, str] = {}
    for ticker, path in paths_by_ticker.items():
        try:
            meta = read_parquet_meta(path)  # checked against the file's hash: a corrupt footer is refused by name
            sizes[ticker] = pq.read_metadata(path).num_rows
        except (OSError, pa.ArrowException, StorageError) as exc:  # missing, or corrupt (its hashes said)
            raise FeatureError(
                f"{ticker}: cannot read feature file {path} ({exc}); materialize feature_windows"
            ) from exc
        if meta.get("feature_version") != FEATURE_VERSION or meta.get("window", window) != window:
            raise FeatureError(
                f"{ticker}: {path} holds feature version {meta.get('feature_version')} / window "
                f"{meta.get('window')}, the code is {FEATURE_VERSION} / {window}: rematerialize feature_windows"
            )
        executions[ticker] = meta.get("execution")
    if len(set(executions.values())) > 1:
        raise FeatureError(
            f"feature files built under different executions {executions}: rematerialize feature_windows of every "
            "ticker with one execution (FIN_PIPELINE_EXECUTION)"
        )
    if not sizes:
        raise ValueError("no tickers to build windows from")
    execution = check_execution(next(iter(executions.values())), "feature files' execution")
    return assemble(
        sizes, lambda t: read_parquet_table(Path(paths_by_ticker[t]))[0], window, FEATURE_COLUMNS, execution
    )
