"""``fin-pipeline``: run the whole chain headless, recorded in the same Dagster instance the UI reads.

``fin-pipeline run`` executes, in process (no subprocess start-up per run), the project's own jobs in order:
``candles_job`` once per ticker (raw candles, then feature windows), ``walk_forward_job`` once per fold whose
calendar test period has begun in the data (boundaries, normalization, a freshly trained model, metrics), then
``report_job``. It prints a line per run as it goes and, at the end, the per-fold table of the model against the
baselines.

The runs land in the instance of ``DAGSTER_HOME``; when it is unset and the current directory holds the
project's ``dagster.yaml`` (the repository root), that directory is used, as ``dagster dev`` there would.

Every training, the CLI's, the schedule's and a UI materialization's, reads one training configuration: the
data directory's ``fin_pipeline.yaml``, which the first build writes (the quick-start defaults: a CNN, 3
epochs, batches of 256, about eleven minutes on a 2-core CPU; or what that build's flags say, e.g. the
full-size ``--model lstm --epochs 100 --batch-size 32``). Later runs' flags may only restate it: a differing
one is refused by name before anything is written. ``fin-pipeline rebuild --from DATE`` is the deliberate way
to change it, or to rewrite stored history (an earlier end date): it archives what it replaces under
``archive/`` in the data directory, never deleting it, then runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# Nothing heavy at the top (pandas, dagster, torch, the sources): a bad config is refused before they load.


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fin-pipeline", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="materialize the whole chain for the universe, in process")
    rebuild = sub.add_parser(
        "rebuild", help="archive what is stored from a date on (never deleted), then run: the deliberate rewrite"
    )
    from fin_pipeline.cli.arguments import run_arguments
    from fin_pipeline.cli.rebuild import rebuild_arguments

    rebuild_arguments(rebuild)
    for command in (run, rebuild):
        run_arguments(command)
    sub.add_parser("forecast", help="print the latest forecast (tomorrow's predictions, ranks and positions)")
    sub.add_parser("leaderboard", help="print the stored leaderboard: every enabled model over every fold")
    doc = sub.add_parser("doctor", help="list (and with --repair fix) dead runs and orphaned run folders")
    doc.add_argument("--repair", action="store_true", help="mark dead runs failed, free their slots, remove folders")
    from fin_pipeline.cli.listings import listings_arguments

    listed = sub.add_parser("listings", help="write Polygon's listed and delisted stocks as a membership CSV")
    listings_arguments(listed)
    args = parser.parse_args(argv)

    if not os.environ.get("DAGSTER_HOME"):
        if not Path("dagster.yaml").is_file():
            print("fin-pipeline: set DAGSTER_HOME, or run from the repository root (it holds dagster.yaml)")
            return 2
        os.environ["DAGSTER_HOME"] = str(Path.cwd())
    if getattr(args, "min_tickers", None) is not None:  # the flag is the setting, for every step of this process
        os.environ["FIN_PIPELINE_MIN_TICKERS"] = str(args.min_tickers)
    from fin_pipeline.cli.preflight import ConfigError, check_training_config
    from fin_pipeline.cli.run import train_config

    try:
        if args.command in ("run", "rebuild"):
            args.execution = _execution(args.execution)
        if args.command in ("run", "rebuild") and not args.data_only:
            check_training_config(train_config(args))  # its plain checks first, before torch is imported
        if args.command == "doctor":
            from fin_pipeline.cli.doctor import doctor

            return doctor(args)
        if args.command == "forecast":
            from fin_pipeline.cli.forecast import forecast

            return forecast()
        if args.command == "listings":
            from fin_pipeline.cli.listings import listings

            return listings(args)
        if args.command == "leaderboard":
            from fin_pipeline.cli.leaderboard import leaderboard

            return leaderboard()
        return _run(args)
    except ConfigError as exc:
        print(f"fin-pipeline: {exc}")
        return 2
    except Exception as exc:
        from fin_pipeline.core.settings import SettingsError
        from fin_pipeline.runtime.services import ServiceUnreachable
        from fin_pipeline.runtime.signals import Stopped, resume_hint
        from fin_pipeline.sources.update import HistoryRewrite
        from fin_pipeline.store.parquet import StorageError
        from fin_pipeline.training.configuration import ConfigurationError

        if isinstance(exc, Stopped):
            print(resume_hint(exc.signum, exc.run_id), flush=True)
            return 130
        if isinstance(exc, SettingsError | ServiceUnreachable | StorageError | HistoryRewrite | ConfigurationError):
            print(f"fin-pipeline: {exc}")
            return 2
        raise


def _run(args: argparse.Namespace) -> int:
    """``run`` and ``rebuild``: refused before any run or write when they would rewrite stored history or change
    the training configuration by accident (``rebuild`` archives first), then the night."""
    from fin_pipeline.cli.arguments import guard
    from fin_pipeline.cli.preflight import preflight
    from fin_pipeline.cli.run import run, train_config
    from fin_pipeline.runtime.instance import check_instance
    from fin_pipeline.runtime.progress import set_display

    guard(args, train_config(args))
    check_instance()  # a PostgreSQL instance (deploy/postgres) must be reachable: fail now, naming it
    preflight(args.tickers, args.data_only)
    try:
        return run(args)
    finally:
        set_display(None)  # a later run in this process (a test, a notebook) draws no stale display


def _execution(value: str | None) -> str:
    """``--execution``, else the setting FIN_PIPELINE_EXECUTION; a ConfigError naming both for an unknown one."""
    from fin_pipeline.cli.preflight import ConfigError
    from fin_pipeline.core.choices import EXECUTIONS
    from fin_pipeline.core.settings import load_settings

    if value is None:
        return load_settings().execution
    if value.lower() not in EXECUTIONS:
        raise ConfigError(f"--execution (FIN_PIPELINE_EXECUTION) {value!r} is not one of {list(EXECUTIONS)}")
    return value.lower()


if __name__ == "__main__":
    sys.exit(main())
