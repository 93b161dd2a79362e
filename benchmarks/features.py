"""Benchmark of the feature stage on the synthetic market: time against its floor, window memory against 1×.

    python benchmarks/features.py                 # 500 tickers x 5,000 days (about 2-3 minutes)
    python benchmarks/features.py --quick         # 40 tickers x 1,500 days

1. Time. The feature step per ticker is what the ``feature_windows`` asset does minus Dagster: the 40
   features, the target, ``window_ok`` and the atomic Parquet write (``build_feature_frame`` +
   ``write_parquet``). Its floor is the bare TA-Lib calls of the feature set (``talib_outputs``) plus a plain
   ``pyarrow.parquet.write_table`` of the same output. Both run per ticker, alternating, on candles already
   in memory (generating them is not timed). Goal: step <= 2 x floor.
2. Memory. ``build_windows`` over every ticker's feature frame, then the index is used (a date selection, a
   batch gathered); the peak of new allocations during that (``tracemalloc``: numpy reports its buffers to it)
   against the float32 feature matrix T x 40 x 4 B. Goal: <= 1.5 x. A naive materialization of every window
   (N x 30 x 40 x 4 B, about 30 x) is computed, not allocated.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fin_pipeline.features.assemble import build_windows
from fin_pipeline.features.columns import candle_arrays, talib_outputs
from fin_pipeline.features.frame import build_feature_frame
from fin_pipeline.features.indicators import FEATURE_COLUMNS, FEATURE_VERSION, WINDOW
from fin_pipeline.sources.simulation import ORIGIN
from fin_pipeline.sources.synthetic import SyntheticMarket
from fin_pipeline.store.parquet import write_parquet

MB = 1e6


def make_candles(tickers: int, days: int, seed: int = 7) -> dict:
    """``days`` sessions per ticker: fetch enough years from the market's origin, keep the last ``days``."""
    end = dt.date(ORIGIN.year + int(days / 250) + 1, 12, 31)
    market = SyntheticMarket(seed=seed, as_of=end)
    out = {}
    for i in range(tickers):
        ticker = f"T{i:04d}"
        candles = market.fetch(ticker, ORIGIN, end)
        if len(candles) < days:
            sys.exit(f"{ticker}: only {len(candles)} sessions, need {days}")
        out[ticker] = candles.iloc[-days:].reset_index(drop=True)
    return out


def time_step_and_floor(candles: dict, folder: Path) -> tuple[dict[str, float], dict]:
    """Seconds spent per part, summed over tickers: ``step``/``floor`` and their compute-only parts."""
    t = dict.fromkeys(("step", "floor", "features", "talib"), 0.0)
    frames = {}
    for ticker, bars in candles.items():
        t0 = time.perf_counter()
        frame = build_feature_frame(bars, ticker)
        t1 = time.perf_counter()
        meta = {
            "ticker": ticker,
            "horizon": 1,
            "execution": frame.attrs["execution"],
            "window": WINDOW,
            "feature_version": FEATURE_VERSION,
        }
        write_parquet(frame, folder / f"{ticker}.parquet", meta)
        t2 = time.perf_counter()
        o, h, lo, c, v, _ = candle_arrays(bars)
        talib_outputs(o, h, lo, c, v)
        t3 = time.perf_counter()
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / f"{ticker}.floor.parquet")
        t4 = time.perf_counter()
        t["step"] += t2 - t0
        t["features"] += t1 - t0
        t["floor"] += t4 - t2
        t["talib"] += t3 - t2
        frames[ticker] = frame
    return t, frames


def window_memory(frames: dict) -> tuple[int, int, int]:
    """Peak bytes allocated while building the windows and using the index; matrix bytes; usable windows."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    ws = build_windows(frames)
    dates = ws.index["date"]
    mid = dates.iloc[len(dates) // 2]
    train = ws.select(end=mid)
    valid = ws.select(start=mid + np.timedelta64(1, "D"))
    assert len(train) + len(valid) == len(ws)
    batch = np.sort(np.random.default_rng(0).choice(train, size=min(256, len(train)), replace=False))
    x, y = ws.X(batch), ws.y(batch)
    assert x.shape == (len(batch), WINDOW, len(FEATURE_COLUMNS)) and np.isfinite(x).all() and np.isfinite(y).all()
    assert np.shares_memory(ws.windows, ws.values)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak - base, ws.values.nbytes, len(ws)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=500)
    parser.add_argument("--days", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="40 tickers x 1,500 days")
    args = parser.parse_args(argv)
    tickers, days = (40, 1500) if args.quick else (args.tickers, args.days)

    t0 = time.perf_counter()
    candles = make_candles(tickers, days)
    print(
        f"universe: {tickers} tickers x {days} days of synthetic candles (generated in "
        f"{time.perf_counter() - t0:.1f} s, not timed below)"
    )

    warm = dict(list(candles.items())[:3])
    with tempfile.TemporaryDirectory() as tmp:
        time_step_and_floor(warm, Path(tmp))  # import/first-call costs out of the measurement
    with tempfile.TemporaryDirectory() as tmp:
        t, frames = time_step_and_floor(candles, Path(tmp))
    step, floor = t["step"], t["floor"]

    def line(label: str, seconds: float) -> str:
        return f"{label:<72} {seconds:7.2f} s = {seconds / tickers * 1e3:6.2f} ms/ticker"

    print(line("feature step (40 features + target + window_ok + atomic Parquet write):", step))
    print(line("  of which features + target + window_ok (build_feature_frame):", t["features"]))
    print(line("floor (bare TA-Lib calls + plain Parquet write of the same output):", floor))
    print(line("  of which bare TA-Lib calls (talib_outputs):", t["talib"]))
    print(
        f"time ratio step/floor: {step / floor:.2f}x (goal <= 2x); "
        f"compute-only ratio build_feature_frame/talib_outputs: {t['features'] / t['talib']:.2f}x"
    )

    peak, matrix, usable = window_memory(frames)
    naive = usable * WINDOW * len(FEATURE_COLUMNS) * 4
    print(f"float32 feature matrix ({tickers * days:,} rows x {len(FEATURE_COLUMNS)}): {matrix / MB:9.1f} MB")
    print(f"peak allocated while building windows + using the index:  {peak / MB:9.1f} MB")
    print(f"memory ratio peak/matrix: {peak / matrix:.2f}x (goal <= 1.5x)")
    print(
        f"naive materialization of the {usable:,} usable windows ({WINDOW} x {len(FEATURE_COLUMNS)} float32 each): "
        f"{naive / MB:,.0f} MB = {naive / matrix:.1f}x (computed, not allocated)"
    )
    return 0 if step <= 2 * floor and peak <= 1.5 * matrix else 1


if __name__ == "__main__":
    sys.exit(main())
