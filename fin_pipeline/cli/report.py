"""The walk-forward report as ``fin-pipeline run`` prints it at the end: headline, tables, verdict, paths."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def _print_report(report_dir: Path, describe: Callable[[Path], str] = str) -> int:
    """The written report as plain text: the same tables as ``report.md``, rendered by the one renderer; its files
    named as ``describe`` says (the store's: s3:// URLs for an S3 data directory)."""
    from fin_pipeline.report.terminal import text_report

    print(text_report(report_dir, describe))
    return 0
