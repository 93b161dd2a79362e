"""``fin-pipeline rebuild --from DATE``: the deliberate rewrite. What is stored from the date on is archived under
``archive/`` in the data directory (never deleted), a changed training configuration is written, then the night
runs as ``fin-pipeline run`` would."""

from __future__ import annotations

import argparse
import datetime as dt


def date_argument(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def rebuild_arguments(rebuild: argparse.ArgumentParser) -> None:
    """``--from``; the other flags are ``run``'s."""
    rebuild.add_argument(
        "--from",
        dest="rebuild_from",
        metavar="DATE",
        required=True,
        type=date_argument,
        help="first day to rebuild (YYYY-MM-DD)",
    )


def rebuild(store, first: dt.date, history: tuple, path, stored: dict | None, requested: dict) -> None:
    """Archive what ``rebuild --from first`` replaces (``history``: the settings' tickers, start and end), each item
    a line; write the requested training configuration to ``path`` when it differs from ``stored`` or none is."""
    from fin_pipeline.evaluation.history import archive_for_rebuild
    from fin_pipeline.training.configuration import configuration_hash, write_configuration

    tickers, start, end = history
    changed = stored is not None and configuration_hash(stored) != configuration_hash(requested)
    now = dt.datetime.now(dt.UTC)
    folder, moved = archive_for_rebuild(store, first, tickers, start, end, changed, now)
    print(f"fin-pipeline rebuild: {len(moved)} stored item(s) archived under {store.describe(folder)}:")
    for rel in moved:
        print(f"  {rel}")
    if changed or stored is None:
        write_configuration(requested, path)
        store.push(path)
        print(f"fin-pipeline rebuild: training configuration {configuration_hash(requested)} written to {path}")
