"""``fin-pipeline``: run the main job headless, recorded in the same Dagster instance the UI reads.

``fin-pipeline run`` materializes ``candles_job`` (raw candles, then feature windows) for every ticker of the
universe, one in-process run per partition (no subprocess start-up per run), prints progress as it goes and a
summary table at the end.
The runs land in the instance of ``DAGSTER_HOME``; when it is unset and the current directory holds the
project's ``dagster.yaml`` (the repository root), that directory is used, as ``dagster dev`` there would.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from fin_pipeline.settings import SettingsError

# Dagster's console logger prints every event at DEBUG; the CLI prints its own progress lines instead.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fin-pipeline", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="materialize the main job for the universe, in process")
    run.add_argument("--tickers", help="comma-separated subset of the universe (default: all of it)")
    args = parser.parse_args(argv)

    if not os.environ.get("DAGSTER_HOME"):
        if not Path("dagster.yaml").is_file():
            print("fin-pipeline: set DAGSTER_HOME, or run from the repository root (it holds dagster.yaml)")
            return 2
        os.environ["DAGSTER_HOME"] = str(Path.cwd())
    try:
        return _run(args.tickers)
    except SettingsError as exc:
        print(f"fin-pipeline: {exc}")
        return 2


def _run(tickers_arg: str | None) -> int:
    from dagster import DagsterInstance

    from fin_pipeline.definitions import defs, settings

    tickers = list(settings.universe)
    if tickers_arg:
        wanted = [t.strip().upper() for t in tickers_arg.split(",") if t.strip()]
        unknown = [t for t in wanted if t not in tickers]
        if unknown:
            print(f"fin-pipeline: {unknown} not in the universe {tickers} (set FIN_PIPELINE_UNIVERSE)")
            return 2
        tickers = wanted

    job = defs.resolve_job_def("candles_job")
    instance = DagsterInstance.get()
    print(f"fin-pipeline: source={settings.source}, {len(tickers)} ticker(s), data in {settings.data_dir.resolve()}")
    print(f"fin-pipeline: runs recorded in the Dagster instance at {os.environ['DAGSTER_HOME']}")
    rows, failed = [], 0
    for i, ticker in enumerate(tickers, 1):
        t0 = time.perf_counter()
        result = job.execute_in_process(
            partition_key=ticker, instance=instance, run_config=QUIET_RUN_CONFIG, raise_on_error=False
        )
        seconds = time.perf_counter() - t0
        if result.success:
            meta = _metadata(result, "raw_candles")
            windows = _metadata(result, "feature_windows").get("usable_windows", "")
            print(
                f"[{i}/{len(tickers)}] {ticker}: {meta['mode']}, +{meta['rows_added']} bar(s), "
                f"{windows} usable window(s), {seconds:.1f} s"
            )
            rows.append(
                [ticker, "ok", meta["rows"], meta["rows_added"], meta["first_date"], meta["last_date"], windows]
            )
        else:
            failed += 1
            errors = [e.step_failure_data.error.message.strip() for e in result.get_step_failure_events()]
            print(f"[{i}/{len(tickers)}] {ticker}: FAILED ({result.run_id}): {'; '.join(errors)}")
            rows.append([ticker, "FAILED", "", "", "", "", ""])
    print()
    print(_table(["ticker", "status", "rows", "added", "first", "last", "windows"], rows))
    return 1 if failed else 0


def _metadata(result, node: str) -> dict[str, object]:
    """The metadata values of ``node``'s materialization in ``result`` ({} when the job did not materialize it)."""
    materializations = result.asset_materializations_for_node(node)
    return {k: v.value for k, v in materializations[0].metadata.items()} if materializations else {}


def _table(header: list[str], rows: list[list[object]]) -> str:
    cells = [header, *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
