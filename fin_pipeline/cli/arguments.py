"""The ``fin-pipeline run`` and ``rebuild`` flags, and what the CLI checks before any run: stored history and the
training configuration (refused with the reason and the deliberate command), or, for ``rebuild``, the archive.
"""

from __future__ import annotations

import argparse


def run_arguments(run: argparse.ArgumentParser) -> None:
    """The flags of ``run`` and ``rebuild``; a training flag left out is the training configuration's value."""
    from fin_pipeline.training.configuration import CONFIG_FILE, default_configuration

    from_file = f"default: the training configuration, {CONFIG_FILE} in the data directory"
    first = default_configuration()["training"]  # what a first build without flags writes
    run.add_argument("--tickers", help="refresh only these tickers' data (comma-separated; default: the universe)")
    run.add_argument("--data-only", action="store_true", help="stop after the candles and feature windows")
    for flag, kind, what in (
        ("--model", str, "lstm, cnn, attention or ensemble"),
        ("--epochs", int, "most epochs per fold"),
        ("--batch-size", int, "training batch size"),
        ("--loss", str, "loss name or preset"),
        ("--seed", int, "seed of the models' weights and batch order"),
    ):
        field = flag.removeprefix("--").replace("-", "_")
        run.add_argument(flag, type=kind, help=f"{what} ({from_file}; first build: {first[field]})")
    run.add_argument("--retrain", action="store_true", help="train every fold, not only new or changed ones")
    run.add_argument(
        "--min-tickers",
        type=int,
        help="tickers a day needs to be cut into folds (FIN_PIPELINE_MIN_TICKERS; default: half the universe, >= 2)",
    )
    run.add_argument(
        "--execution",
        help="when the books trade, which sets the target: next_open, next_close or close (not executable from a "
        "run after the close); default FIN_PIPELINE_EXECUTION, else next_open",
    )
    run.add_argument(
        "--allow-mixed-configurations",
        action="store_true",
        help="let the report stitch folds trained with different training configurations (named in it)",
    )


def guard(args: argparse.Namespace, train: dict) -> None:
    """Before any run: the settings' date range against the stored candles, and the training flags against the
    stored configuration (HistoryRewrite or ConfigurationChanged naming what would change and the command).
    ``rebuild`` instead archives what it replaces and records the new configuration (:mod:`fin_pipeline.cli.rebuild`),
    then goes on as ``run``."""
    from fin_pipeline.core.settings import load_settings
    from fin_pipeline.defs.config import CHANGE_HOW
    from fin_pipeline.defs.resources import DataStore
    from fin_pipeline.evaluation.history import check_stored_range
    from fin_pipeline.training.configuration import check_same, read_configuration, resolve

    settings = load_settings()
    store = DataStore(root=settings.data_root)
    tickers, start, end = list(settings.universe), settings.start, settings.end_date()
    path = store.pull(store.configuration_path())
    stored = read_configuration(path)
    requested = resolve(stored, {"training": train})
    if args.command == "run":
        check_stored_range(store, tickers, start, end)
        if not args.data_only:
            check_same(stored, requested, store.describe(path), CHANGE_HOW)
        return
    from fin_pipeline.cli.rebuild import rebuild

    rebuild(store, args.rebuild_from, (tickers, start, end), path, stored, requested)


def configuration_said(store, train: dict) -> str:
    """The training configuration in a few words: its hash and the training section's main fields."""
    from fin_pipeline.training.configuration import configuration_hash, read_configuration, resolve

    config = resolve(read_configuration(store.pull(store.configuration_path())), {"training": train})
    main = {k: config["training"][k] for k in ("model", "loss", "epochs", "batch_size", "seed")}
    return f"{configuration_hash(config)}: {main}"
