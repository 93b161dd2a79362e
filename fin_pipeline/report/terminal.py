"""The walk-forward report in a terminal: the tables that ``report.md`` shows (:func:`report_tables`, the same
columns, "n/a (n days)" and "not a trial" cells), read back from the files the report wrote and set as plain text,
then the verdict in words and where the report and its pictures are. A report written by an earlier run prints the
same way; one without its horizon recorded is read as h = 1."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fin_pipeline.core.formatting import text_table
from fin_pipeline.report.tables import report_tables
from fin_pipeline.store.parquet import read_parquet

# Each table's heading in the terminal, by its name in report_tables (report.md has its own, with Markdown).
HEADINGS = {
    "folds": "Folds (training | gap | tuning | gap | test; every figure below is on the test blocks):",
    "per_fold": "The model per fold (IC with its Newey-West t; dm_p: Diebold-Mariano p against the best baseline):",
    "stitched": "All folds stitched out of sample:",
    "backtest": (
        "Books of the stitched out-of-sample series (daily, net of costs; *_neutral: market-neutral rank books):"
    ),
}


def plain(line: str) -> str:
    """A line of report.md for a terminal: without Markdown's bold."""
    return line.replace("**", "")


def text_report(report_dir: Path, describe: Callable[[Path], str] = str) -> str:
    """What ``report_dir``'s walk-forward report says, as plain text (see the module docstring); ``describe``
    says where a file of it lives (an S3 data directory: its s3:// URL rather than the local cache copy)."""
    report_dir = Path(report_dir)
    folds, _ = read_parquet(report_dir / "folds.parquet")
    per_fold, _ = read_parquet(report_dir / "fold_summary.parquet")
    forecasts, meta = read_parquet(report_dir / "overall_metrics.parquet")
    backtest, _ = read_parquet(report_dir / "backtest.parquet")
    capacity, capacity_meta = (None, {})
    if (report_dir / "capacity.parquet").is_file():
        capacity, capacity_meta = read_parquet(report_dir / "capacity.parquet")
    tables = report_tables(
        folds,
        per_fold,
        forecasts.set_index("predictor"),
        backtest.set_index("strategy"),
        capacity,
        int(meta.get("horizon", 1)),
    )
    lines = ["", *(plain(line) for line in meta.get("header", []))]  # what the numbers rest on
    for name, heading in HEADINGS.items():
        lines += ["", heading, "", text_table(tables[name])]
    if "capacity" in tables:
        lines += [
            "",
            f"Capacity of the model's books (net of {capacity_meta['costs']}; the same trades at each capital):",
            "",
            text_table(tables["capacity"]),
            "",
            f"Net Sharpe halves (against C→0) at: {capacity_meta['halving']}.",
        ]
    said = [*meta["verdict"], *([meta["sharpe"]] if "sharpe" in meta else []), *meta.get("record", [])]
    lines += ["", *(plain(line) for line in said), ""]
    lines += [
        f"Report: {describe(report_dir / 'report.md')}",
        f"Pictures: {', '.join(describe(p) for p in sorted(report_dir.glob('*.png')))}",
    ]
    return "\n".join(lines)
