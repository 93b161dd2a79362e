"""The fault list, injected on purpose and measured: what happens, and whether stored data is lost.

    .venv/bin/python benchmarks/faults.py        # ~2-3 minutes on 2 cores

Each row injects one fault into a small, temporary setup (nothing outside a temp folder is touched) and
prints what was observed. "data lost" is measured, not declared: for the input and corruption faults, whether
a stored file changed or appeared (a refusal must write nothing); for the process faults, whether the rerun
resumed from the last complete epoch on disk at the time of the fault (a completed epoch redone is lost work)
and whether the dead/stopped run's ``last.pt`` loaded intact.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fin_pipeline_tests.subprocess_runs import (  # noqa: E402
    BIN,
    FOLD_A,
    FOLD_B,
    env_for,
    make_home,
    run_status,
    start_run,
    wait_for_epoch,
)

ROWS: list[tuple[str, str, str, float]] = []
START, END = dt.date(2020, 1, 2), dt.date(2020, 6, 30)


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.blake2b(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def lost(before: dict[str, str], after: dict[str, str]) -> str:
    changed = [k for k in before if after.get(k) != before[k]]
    added = [k for k in after if k not in before]
    return "no" if not changed and not added else f"yes ({', '.join(changed + added)[:60]})"


def case(name: str, fn: Callable[[], tuple[str, str]]) -> None:
    t0 = time.monotonic()
    try:
        outcome, data_lost = fn()
    except Exception as exc:  # the benchmark reports a broken case instead of dying
        outcome, data_lost = f"BENCHMARK ERROR {type(exc).__name__}: {exc}", "?"
    ROWS.append((name, " ".join(outcome.split()), data_lost, time.monotonic() - t0))
    print(f"  {name}: {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)


def refusal(fn: Callable[[], object]) -> str:
    try:
        fn()
    except Exception as exc:
        text = str(exc).replace(str(Path(tempfile.gettempdir())) + "/", "$TMP/")
        return f"refused ({type(exc).__name__}): {text[:110]}"
    return "ACCEPTED"


# --- implausible CSV input: a good file stored first, then the bad file; the update must refuse it -----------
def csv_case(tmp: Path, mutate: Callable[[list[pd.Timestamp], np.ndarray], tuple], fmt: str = "%Y-%m-%d"):
    from fin_pipeline.core.calendar import nyse_sessions
    from fin_pipeline.sources.csv_dir import CsvDirectorySource
    from fin_pipeline.sources.update import update_candles

    sessions = list(nyse_sessions(START, END))
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(sessions))))
    src_dir, store = tmp / "csv", tmp / "data" / "raw_candles"
    src_dir.mkdir(parents=True)

    def write(dates, c, adj=None, fmt="%Y-%m-%d") -> None:
        lines = ["Date,Open,High,Low,Close,Volume" + (",Adj Close" if adj is not None else "")]
        for i, (d, x) in enumerate(zip(dates, c, strict=True)):
            x = float(x)
            row = f"{pd.Timestamp(d).strftime(fmt)},{x!r},{x * 1.01!r},{x * 0.99!r},{x!r},1000"
            lines.append(row + (f",{float(adj[i])!r}" if adj is not None else ""))
        (src_dir / "XYZ.csv").write_text("\n".join(lines) + "\n")

    write(sessions, close)
    update_candles(CsvDirectorySource(src_dir), "XYZ", store / "XYZ.parquet", START, sessions[80].date())
    before = snapshot(tmp / "data")
    dates, c, adj = mutate(sessions, close.copy())
    write(dates, c, adj, fmt)
    outcome = refusal(lambda: update_candles(CsvDirectorySource(src_dir), "XYZ", store / "XYZ.parquet", START, END))
    return outcome, lost(before, snapshot(tmp / "data"))


def price_1e308(s, c):
    c[100] = 1e308 / 1.02
    return s, c, None


def constant(s, c):
    return s, np.full(len(c), 42.0), None


def spike(s, c):
    c[100] *= 1000
    return s, c, None


def adj_1e298(s, c):
    adj = c.copy()
    adj[90:] *= 1e-300
    return s, c, adj


def weekend(s, c):
    i = next(i for i in range(100, len(s)) if s[i].dayofweek == 4)  # a Friday: the Saturday after it, in order
    return [*s[: i + 1], s[i] + pd.Timedelta(days=1), *s[i + 2 :]], c, None  # ... instead of the Monday


def ddmm(s, c):
    keep = [i for i, d in enumerate(s) if d.day <= 12]
    return [s[i] for i in keep], c[keep], None


# --- Polygon: a local server replying with bad data, or trickling ------------------------------------------
def polygon_case(tmp: Path, handler) -> tuple[str, str]:
    from pytest_httpserver import HTTPServer

    from fin_pipeline.sources.polygon import PolygonSource
    from fin_pipeline.sources.update import update_candles

    server = HTTPServer()
    server.start()
    try:
        server.expect_request(re.compile("/v2/aggs/ticker/AAPL/.*")).respond_with_handler(handler)
        src = PolygonSource(
            api_key="fault-suite-key",
            base_url=server.url_for("/").rstrip("/"),
            requests_per_minute=0,
            read_timeout=2.0,
            request_deadline=1.5,
            ticker_deadline=10,
            max_retries=2,
            backoff_factor=0,
        )
        before = snapshot(tmp)
        t0 = time.monotonic()
        outcome = refusal(lambda: update_candles(src, "AAPL", tmp / "AAPL.parquet", START, END))
        outcome += f" [{time.monotonic() - t0:.1f} s, {len(server.log)} request(s)]"
        return outcome, lost(before, snapshot(tmp))
    finally:
        server.clear()
        server.stop()


def json_reply(body: dict):
    import json

    from werkzeug import Response

    return lambda request: Response(json.dumps(body), content_type="application/json")


def bars(ms, close) -> dict:
    rows = [
        {"o": c, "h": c * 1.01, "l": c * 0.99, "c": c, "v": 1000, "vw": c, "n": 5, "t": int(t)}
        for t, c in zip(ms, close, strict=True)
    ]
    return {"status": "OK", "resultsCount": len(rows), "results": rows}


def intraday():
    from fin_pipeline.sources.base import session_timestamps

    day = session_timestamps([dt.date(2020, 1, 2)])[0].value // 10**6
    return json_reply(bars([day + (570 + m) * 60_000 for m in range(300)], list(100 + np.arange(300) * 0.01)))


def trickle(request):
    from werkzeug import Response

    def body():
        yield b'{"status": "OK", '
        for _ in range(40):
            time.sleep(0.5)  # one byte per half second: below the read timeout, only the deadline stops it
            yield b" "

    return Response(body(), content_type="application/json")


# --- corruption of stored files -----------------------------------------------------------------------------
def tamper_parquet(path: Path, column: str, row: int, value: float) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    df = table.to_pandas()
    df.loc[row, column] = value
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(table.schema.metadata), path)


def candle_flip(tmp: Path):
    from fin_pipeline.sources.synthetic import SyntheticMarket
    from fin_pipeline.sources.update import update_candles

    path = tmp / "raw_candles" / "AAPL.parquet"
    update_candles(SyntheticMarket(seed=7), "AAPL", path, START, END - dt.timedelta(days=30))
    tamper_parquet(path, "volume", 10, 1e-307)  # a flipped exponent that still decodes
    before = snapshot(tmp)
    outcome = refusal(lambda: update_candles(SyntheticMarket(seed=7), "AAPL", path, START, END))
    return outcome, lost(before, snapshot(tmp))


def feature_flip(tmp: Path):
    from fin_pipeline.store.parquet import read_parquet, write_parquet

    path = tmp / "feature_windows" / "MSFT.parquet"
    write_parquet(pd.DataFrame({"f0": np.linspace(0, 1, 50), "target": np.zeros(50)}), path, meta={"ticker": "MSFT"})
    tamper_parquet(path, "f0", 3, -1.6e38)
    before = snapshot(tmp)
    return refusal(lambda: read_parquet(path)), lost(before, snapshot(tmp))


def checkpoint_flip(tmp: Path, truncate: bool):
    import torch

    from fin_pipeline.training.checkpoint import read_checkpoint, save_checkpoint

    model = torch.nn.Linear(64, 64)
    path = tmp / "models" / "2021-04-01" / "best.pt"
    save_checkpoint(path, {"model": model.state_dict(), "epoch": 3, "model_spec": None})
    data = bytearray(path.read_bytes())
    if truncate:
        data = data[:500]
    else:
        data[bytes(data).find(model.weight.detach().numpy().tobytes()[:64]) + 100] ^= 0x01  # one bit of a weight
    path.write_bytes(bytes(data))
    before = snapshot(tmp)
    return refusal(lambda: read_checkpoint(path)), lost(before, snapshot(tmp))


# --- config and process faults on a real `fin-pipeline run` -------------------------------------------------
def bad_config(tmp: Path):
    import subprocess

    home = make_home(tmp)
    before = snapshot(home)
    t0 = time.monotonic()
    proc = subprocess.run(
        [str(BIN / "fin-pipeline"), "run", "--epochs", "-1"],
        cwd=home,
        env=env_for(home),
        capture_output=True,
        text=True,
    )
    seconds = time.monotonic() - t0
    return f"exit {proc.returncode} in {seconds:.2f} s: {proc.stdout.strip()[:100]}", lost(before, snapshot(home))


ARGS = ["--model", "cnn", "--epochs", "3", "--batch-size", "64"]


def process_faults(tmp: Path) -> None:
    """SIGKILL mid-fold A, rerun (SIGTERM mid-fold B), rerun to the end: one home, three runs."""
    from fin_pipeline.training.checkpoint import read_checkpoint

    home = make_home(tmp)
    t0 = time.monotonic()
    first = start_run(home, ARGS)
    killed, last = wait_for_epoch(home, first, FOLD_A, epoch=1)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    kill_epoch = read_checkpoint(last)["epoch"]  # complete: the hash checks

    second = start_run(home, ARGS, log="run2.log")
    stopped, last2 = wait_for_epoch(home, second, FOLD_B, epoch=1)
    t1 = time.monotonic()
    second.send_signal(signal.SIGTERM)
    rc2 = second.wait(60)
    exit_s = time.monotonic() - t1
    stop_epoch = read_checkpoint(last2)["epoch"]
    log2 = (home / "run2.log").read_text()
    hint = "resume hint printed" if "resume with: fin-pipeline run" in log2 else "NO resume hint"

    third = start_run(home, ARGS, log="run3.log")
    rc3 = third.wait(600)
    log3 = (home / "run3.log").read_text()

    resumed_k = f"resumed after epoch {kill_epoch} of run {killed}" in log2
    ROWS.append(
        (
            "SIGKILL mid-fold (fin-pipeline run)",
            f"dead run marked {run_status(home, killed).value}, slot freed "
            f"({'yes' if f'dead run {killed}' in log2 else 'NO'}); the next run's fold {FOLD_A} "
            f"{'resumed after epoch ' + str(kill_epoch) if resumed_k else 'DID NOT resume'}",
            "no" if resumed_k else f"yes ({kill_epoch} epoch(s) redone)",
            t1 - t0,
        )
    )
    resumed_s = f"resumed after epoch {stop_epoch} of run {stopped}" in log3
    ROWS.append(
        (
            "SIGTERM mid-fold (fin-pipeline run)",
            f"exit {rc2} in {exit_s:.1f} s, run {run_status(home, stopped).value}, "
            f"{hint}; "
            f"rerun exit {rc3}, fold {FOLD_B} "
            f"{'resumed after epoch ' + str(stop_epoch) if resumed_s else 'DID NOT resume'}",
            "no" if resumed_s and rc3 == 0 else "yes",
            time.monotonic() - t1,
        )
    )


def main() -> int:
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="faults-") as root:
        root = Path(root)
        n = iter(range(1000))

        def tmp() -> Path:
            path = root / f"case{next(n)}"
            path.mkdir()
            return path

        for name, mutate, fmt in [
            ("CSV: a price of 1e308", price_1e308, "%Y-%m-%d"),
            ("CSV: constant price over the history", constant, "%Y-%m-%d"),
            ("CSV: a one-day 1000x spike", spike, "%Y-%m-%d"),
            ("CSV: Adj Close scaling prices to 1e-298", adj_1e298, "%Y-%m-%d"),
            ("CSV: a bar on a Saturday", weekend, "%Y-%m-%d"),
            ("CSV: DD/MM dates, all days <= 12", ddmm, "%d/%m/%Y"),
        ]:
            case(name, lambda m=mutate, f=fmt: csv_case(tmp(), m, f))
        case("Polygon: 300 intraday bars as daily", lambda: polygon_case(tmp(), intraday()))
        case("Polygon: out-of-range timestamp", lambda: polygon_case(tmp(), json_reply(bars([10**17], [100.0]))))
        case("Polygon: reply trickling a byte per 0.5 s", lambda: polygon_case(tmp(), trickle))
        case("flipped bits: stored candle volume", lambda: candle_flip(tmp()))
        case("flipped bits: stored feature value", lambda: feature_flip(tmp()))
        case("flipped bit: checkpoint weight", lambda: checkpoint_flip(tmp(), truncate=False))
        case("truncated checkpoint", lambda: checkpoint_flip(tmp(), truncate=True))
        case("fin-pipeline run --epochs -1", lambda: bad_config(tmp()))
        t = time.monotonic()
        try:
            process_faults(tmp())
        except Exception as exc:
            ROWS.append(("SIGKILL / SIGTERM", f"BENCHMARK ERROR {type(exc).__name__}: {exc}"[:300], "?", 0.0))
        print(f"  process faults: {time.monotonic() - t:.1f} s", file=sys.stderr)

    width = max(len(r[0]) for r in ROWS)
    print(f"\n{'fault':<{width}} | data lost | outcome")
    print(f"{'-' * width}-|-----------|{'-' * 60}")
    for name, outcome, data_lost, _ in ROWS:
        print(f"{name:<{width}} | {data_lost:<9} | {outcome}")
    print(f"\n{len(ROWS)} faults in {time.monotonic() - t0:.0f} s")
    return 0 if all(r[2] == "no" and "ACCEPTED" not in r[1] and "ERROR" not in r[1] for r in ROWS) else 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
