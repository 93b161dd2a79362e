"""Benchmark of the whole chain at universe scale: N synthetic tickers x Y years, each stage against its floor.

    python benchmarks/scale.py                        # 50 and 500 tickers x 20 years, one fold (7-13 min here)
    python benchmarks/scale.py --quick                # 3 and 6 tickers x 3 years: a smoke run (~1-2 min here)
    python benchmarks/scale.py --tickers 3 --quick    # one size: no growth column (~30 s here)

Each size runs in its own child process (the settings, the universe among them, are read once per process, at the
first import of ``fin_pipeline``; a fresh process also gives each size its own memory high-water mark), with
``OMP_NUM_THREADS=1`` and one torch thread. The universe is ``T0000``, ``T0001``, ... of the synthetic market
(seed 7), which simulates any symbol; the calendar years ``end - years + 1`` through ``--end``; one quarterly
fold (``--folds``), the last one ``--end``'s quarter.

The chain is ``pipeline_runs.run_direct``, what ``benchmarks/pipeline.py`` times as (B): per ticker the candles
(update + checks) and the features (``build_feature_frame`` + the store's write + the feature checks), the window set
loaded once, the folds, the normalization, ``train_fold``, scoring with the baselines and the fold's backtest, the
report. The training configuration is a small one, so that 500 tickers x 20 years trains in minutes on one core:
a CNN with 16 channels per block (``SMALL_CNN``, 5,002 parameters), 1 epoch, batches of 256, on a rolling
training block of ``--train-days`` (252, the folds' least) sessions per ticker; its cost still grows with the
tickers (steps = the fold's training windows / 256).

Memory: each stage's peak resident set size (the kernel's ``VmHWM``, reset to the current RSS by writing 5 to
``/proc/self/clear_refs`` when a stage starts) and its rise over the RSS at the stage's start; the whole chain's
peak is the largest of its stages' peaks (every part of ``run_direct`` runs inside one). Floors, measured after the
chain in the same process, the same way:

- features: the bare TA-Lib calls of the feature set (``talib_outputs``) + a plain ``pyarrow.parquet.write_table``
  of the stored feature frame, per ticker (reading the candles and the frame back is not timed);
- windows: the float32 feature matrix (rows x 40) alone: every feature file's 40 columns read with pyarrow into
  one preallocated array;
- training: ``benchmarks/training.py``'s floor: forward, backward and Adam step on ONE fixed batch of the fold's
  normalized training windows, as many times as the chain's epoch had batches, on the same model (same seed);
- report: reading the fold's predictions Parquet file.

The table compares times (and memory rises) with the floors, and the last size with the first (the ``growth``
column: the 50 -> 500 ratio at the default sizes). Goals at full size: the whole chain's peak under 8 GiB at the
largest size; every stage's growth <= 1.1 x the tickers' ratio (11 x for 50 -> 500); every stage with a floor
within 2 x of it. The script exits 1 when one is missed (not with ``--quick``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GIB = 2**30
SMALL_CNN = {"channels": [16, 16, 16, 16], "head_hidden": 16}
SCALE_BATCH = 256
RESULT = "SCALE-RESULT "
SMALL_RISE = 16 * 2**20  # a floor that grows the RSS less than this (it reuses freed memory): no memory ratio
# The plausibility check refuses a one-day move beyond 20 recent sigmas (the default): the synthetic market's own
# Merton jumps cross that line for one of the first 500 names (T0429 on 2009-04-30, a -42% day at 20.2 sigmas).
JUMP_SIGMAS = 25.0
# (row label, run_direct's stage(s), memory phase(s), floor): the table's rows, in the chain's order.
ROWS = (
    ("candles (update + checks)", ("candles",), ("candles",), None),
    ("features (+ write + checks)", ("features",), ("features",), "features"),
    ("windows (the window set, once)", ("window set (once)",), ("window set (once)",), "windows"),
    ("folds + normalization", ("folds", "normalization"), ("folds", "normalization"), None),
    ("training (train_fold)", ("train_fold",), ("training",), "training"),
    ("scoring + backtest", ("metrics",), ("metrics",), None),
    ("report", ("report",), ("report",), "report"),
)


class Meter:
    """Per phase: the largest peak RSS and the largest rise over the RSS at its start, over every time it ran."""

    def __init__(self) -> None:
        self.peak: dict[str, int] = {}
        self.rise: dict[str, int] = {}

    @staticmethod
    def status(field: str) -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError(f"/proc/self/status has no {field}")

    @contextlib.contextmanager
    def phase(self, name: str):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # the high-water mark restarts from the current RSS
        start = self.status("VmRSS")
        yield
        peak = self.status("VmHWM")
        self.peak[name] = max(self.peak.get(name, 0), peak)
        self.rise[name] = max(self.rise.get(name, 0), peak - start)


# --------------------------------------------------------------------------------------------------------------
# the child: one size


def child(n: int, years: int, end: str, folds: int, train_days: int) -> dict:
    from pipeline import set_environment

    names = tuple(f"T{i:04d}" for i in range(n))
    set_environment(n, folds, end, universe=names)
    os.environ["FIN_PIPELINE_JUMP_SIGMAS"] = str(JUMP_SIGMAS)
    import torch

    torch.set_num_threads(1)
    from pipeline_runs import Work, run_direct

    from fin_pipeline.defs.partitions import fold_partitions

    work = Work(
        tickers=names,
        folds=tuple(fold_partitions.get_partition_keys()),
        start=dt.date(dt.date.fromisoformat(end).year - years + 1, 1, 1).isoformat(),
        end=end,
        model="cnn",
        epochs=1,
        batch=SCALE_BATCH,
        model_config=SMALL_CNN,
        fold_options={"mode": "rolling", "train_days": train_days},
    )
    scratch = Path(tempfile.mkdtemp(prefix="fin_pipeline_scale_"))
    try:
        t0 = time.perf_counter()
        # Imports, the exchange calendar, TA-Lib's and torch's first calls: out of the measurement.
        warm = Work(
            names[: min(n, 2)], work.folds, f"{int(end[:4]) - 2}-01-01", end, "cnn", 1, SCALE_BATCH, SMALL_CNN,
            {"mode": "rolling", "train_days": 252, "min_tickers": 2},
        )  # fmt: skip
        run_direct(warm, scratch / "warm", first_fold_only=True)
        warm_seconds = time.perf_counter() - t0
        meter = Meter()
        seconds, stages = run_direct(work, scratch / "chain", phase=meter.phase)
        chain_peak = max(meter.peak.values())
        floors = measure_floors(work, scratch / "chain", scratch / "floor", meter)
        return {
            "tickers": n,
            "start": work.start,
            "end": end,
            "warm_seconds": warm_seconds,
            "seconds": seconds,
            "stages": stages,
            "peak": meter.peak,
            "rise": meter.rise,
            "chain_peak": chain_peak,
            **floors,
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def measure_floors(work, root: Path, folder: Path, meter: Meter) -> dict:
    """Each floor's seconds (and its phase's memory, in ``meter``) on the chain's own outputs in ``root``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch
    from training import floor as training_floor

    from fin_pipeline.defs.assets.folds import FoldConfig
    from fin_pipeline.defs.resources import DataStore
    from fin_pipeline.evaluation.scoring import fold_files
    from fin_pipeline.features.assemble import load_window_set
    from fin_pipeline.features.columns import candle_arrays, talib_outputs
    from fin_pipeline.features.indicators import FEATURE_COLUMNS
    from fin_pipeline.models import create_model
    from fin_pipeline.training.fold_training import scaled_targets
    from fin_pipeline.training.folds import fold_positions
    from fin_pipeline.training.random_state import seed_everything
    from fin_pipeline.training.spec import TrainSpec
    from fin_pipeline.training.walkforward import compute_folds, fit_fold_normalization

    store = DataStore(root=str(root))
    folder.mkdir(parents=True)
    clock = time.perf_counter
    seconds = dict.fromkeys(("features", "windows", "training", "report"), 0.0)

    for ticker in work.tickers:
        candles, frame = store.read_candles(ticker, pull=False), store.read_features(ticker, pull=False)
        t0 = clock()
        with meter.phase("features floor"):
            talib_outputs(*candle_arrays(candles)[:5])
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / f"{ticker}.parquet")
        seconds["features"] += clock() - t0
        del candles, frame

    paths = store.feature_paths(list(work.tickers))
    t0 = clock()
    with meter.phase("windows floor"):
        sizes = [pq.read_metadata(p).num_rows for p in paths.values()]
        matrix = np.empty((sum(sizes), len(FEATURE_COLUMNS)), dtype=np.float32)
        start = 0
        for path, rows in zip(paths.values(), sizes, strict=True):
            table = pq.read_table(path, columns=list(FEATURE_COLUMNS))
            for j, column in enumerate(table.columns):
                matrix[start : start + rows, j] = column.to_numpy()
            start += rows
            del table
    seconds["windows"] = clock() - t0
    del matrix

    # The training floor: the chain's model and first training batch (normalized as the loader does).
    ws = load_window_set(paths)
    fold = compute_folds(ws, FoldConfig(**work.fold_options).spec(), 1)[-1]
    stats = fit_fold_normalization(ws, fold)
    spec = TrainSpec(**work.train_config())
    train = fold_positions(ws, fold).train
    steps = math.ceil(len(train) / spec.batch_size) * spec.epochs  # 1 epoch: no early stop before its end
    first = np.sort(train[: spec.batch_size])
    X = ((ws.windows[first] - stats.mean) / stats.std).astype(np.float32)
    y = scaled_targets(ws, stats)[first]
    seed_everything(spec.seed)
    template = create_model(spec.model, **spec.model_config)
    with meter.phase("training floor"):
        seconds["training"] = training_floor(template, X, y, len(first), steps, torch.device("cpu"), False)
    del ws

    t0 = clock()
    with meter.phase("report floor"):
        for key in work.folds:
            pq.read_table(fold_files(store.metrics_dir(key))["predictions"])
    seconds["report"] = clock() - t0
    return {"floor_seconds": seconds, "train_windows": len(train), "steps": steps}


# --------------------------------------------------------------------------------------------------------------
# the parent: every size, the table


def run_size(n: int, args) -> dict:
    command = [sys.executable, __file__, "--child", str(n), "--years", str(args.years), "--end", args.end]
    command += ["--folds", str(args.folds), "--train-days", str(args.train_days)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH"))))
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    if done.returncode or not lines:
        sys.exit(f"the {n}-ticker run failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}")
    return json.loads(lines[-1][len(RESULT) :])


def mb(n: float) -> str:
    return f"{n / 2**20:,.0f} MB"


def size_table(r: dict) -> list[str]:
    """Print one size's table; the stages that are more than 2 x their floor."""
    slow = []
    print(
        f"\n{r['tickers']} tickers x {r['start']}..{r['end']}: chain {r['seconds']:.1f} s (warm-up before it "
        f"{r['warm_seconds']:.1f} s, not timed), peak RSS {mb(r['chain_peak'])}; training {r['train_windows']:,} "
        f"windows = {r['steps']:,} steps of {SCALE_BATCH}"
    )
    print(
        f"  {'stage':34}{'wall':>10}{'floor':>10}{'ratio':>10}{'peak RSS':>11}{'rise':>10}"
        f"{'floor rise':>12}{'ratio':>8}"
    )
    for label, stage_keys, phases, floor in ROWS:
        wall = sum(r["stages"].get(k, 0.0) for k in stage_keys)
        peak = max(r["peak"].get(p, 0) for p in phases)
        rise = max(r["rise"].get(p, 0) for p in phases)
        line = f"  {label:34}{wall:9.2f}s"
        if floor:
            f_wall, f_rise = r["floor_seconds"][floor], r["rise"][f"{floor} floor"]
            line += f"{f_wall:9.2f}s{wall / f_wall:9.2f}x{mb(peak):>11}{mb(rise):>10}{mb(f_rise):>12}"
            line += f"{rise / f_rise:7.2f}x" if f_rise >= SMALL_RISE else "       -"
            if wall > 2 * f_wall:
                slow.append(f"{label}: {wall / f_wall:.2f} x its floor at {r['tickers']} tickers")
        else:
            line += f"{'':10}{'':10}{mb(peak):>11}{mb(rise):>10}"
        print(line, flush=True)
    return slow


def report(results: list[dict], slow: list[str], quick: bool) -> int:
    first, last = results[0], results[-1]
    grow = last["tickers"] / first["tickers"]
    misses = list(slow)
    if len(results) > 1:
        print(f"\ngrowth {first['tickers']} -> {last['tickers']} tickers ({grow:g} x), wall and peak RSS:")
        for label, stage_keys, phases, floor in ROWS:
            a = sum(first["stages"].get(k, 0.0) for k in stage_keys)
            b = sum(last["stages"].get(k, 0.0) for k in stage_keys)
            pa_, pb = (max(r["peak"].get(p, 0) for p in phases) for r in (first, last))
            extra = ""
            if floor:
                fa, fb = first["floor_seconds"][floor], last["floor_seconds"][floor]
                extra = f"   (its floor {fb / fa:6.2f} x)"
            print(f"  {label:34}{b / a:7.2f} x wall{pb / pa_:7.2f} x peak{extra}")
            if b / a > 1.1 * grow:
                misses.append(f"{label}: grows {b / a:.1f} x for {grow:g} x the tickers")
        print(f"  {'whole chain':34}{last['seconds'] / first['seconds']:7.2f} x wall")
    peak = last["chain_peak"]
    print(f"\nwhole chain's peak RSS at {last['tickers']} tickers: {peak / GIB:.2f} GiB (goal < 8 GiB)")
    if peak >= 8 * GIB:
        misses.append(f"peak RSS {peak / GIB:.2f} GiB")
    print("goals: " + ("met" if not misses else "missed: " + "; ".join(misses)))
    return 1 if misses and not quick else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickers", default=None, help="comma-separated sizes (default 50,500; quick 3,6)")
    parser.add_argument("--years", type=int, default=None, help="calendar years up to --end (default 20; quick 3)")
    parser.add_argument("--end", default="2021-12-31", help="last session (default 2021-12-31)")
    parser.add_argument("--folds", type=int, default=1, help="quarterly folds up to --end's quarter (default 1)")
    parser.add_argument(
        "--train-days", type=int, default=252, help="rolling training block in sessions (default 252, a fold's least)"
    )
    parser.add_argument("--quick", action="store_true", help="3 and 6 tickers x 3 years: a smoke run")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.years = args.years or (3 if args.quick else 20)
    if args.child is not None:
        print(RESULT + json.dumps(child(args.child, args.years, args.end, args.folds, args.train_days)))
        return 0
    sizes = [int(s) for s in (args.tickers or ("3,6" if args.quick else "50,500")).split(",")]
    if not sizes or min(sizes) < 2:
        parser.error("--tickers: sizes of at least 2 tickers")
    print(
        f"scale benchmark: {','.join(map(str, sizes))} synthetic tickers (seed 7) x {args.years} years to {args.end}, "
        f"{args.folds} fold(s); cnn {SMALL_CNN}, 1 epoch, batch {SCALE_BATCH}, rolling training block of "
        f"{args.train_days} sessions; one child process per size, OMP_NUM_THREADS=1, 1 torch thread; "
        f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    results = []
    for n in sizes:
        results.append(run_size(n, args))
        slow = size_table(results[-1])
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    return report(results, slow, args.quick)


if __name__ == "__main__":
    sys.exit(main())
