"""The walk-forward report as ``fin-pipeline run`` prints it at the end: headline, tables, verdict, paths."""

from __future__ import annotations

from pathlib import Path


def _print_report(report_dir: Path) -> int:
    """The written report as plain text: the same tables as ``report.md``, rendered by the one renderer."""
    from fin_pipeline.report.terminal import text_report

    print(text_report(report_dir))
    return 0
