"""The walk-forward report as ``fin-pipeline run`` prints it at the end: headline, tables, verdict, paths."""

from __future__ import annotations

from pathlib import Path


def _print_report(report_dir: Path) -> int:
    from fin_pipeline.backtest.trials import TRIAL_BOOKS
    from fin_pipeline.core.formatting import text_table
    from fin_pipeline.report.tables import shown_per_fold, shown_tables
    from fin_pipeline.store.parquet import read_parquet, read_parquet_meta

    folds, _ = read_parquet(report_dir / "folds.parquet")
    summary, _ = read_parquet(report_dir / "fold_summary.parquet")
    overall, _ = read_parquet(report_dir / "overall_metrics.parquet")
    backtest, _ = read_parquet(report_dir / "backtest.parquet")
    meta = read_parquet_meta(report_dir / "overall_metrics.parquet")
    print()
    for line in meta.get("header", []):  # what the numbers rest on: source, universe, execution, costs
        print(line.replace("**", ""))
    print("\nFolds (training | gap | tuning | gap | test; every figure below is on the test blocks):\n")
    print(text_table(folds))
    print("\nThe model per fold (IC with its Newey-West t; dm_p: Diebold-Mariano p against the best baseline):\n")
    print(text_table(shown_per_fold(summary) if "test_days" in summary else summary))
    print("\nAll folds stitched out of sample:\n")
    shown_overall, shown_backtest = shown_tables(overall.set_index("predictor"), backtest.set_index("strategy"))
    print(text_table(shown_overall))
    print("\nBooks of the stitched out-of-sample series (daily, net of costs; *_neutral: market-neutral rank books):\n")
    books = shown_backtest.astype(object)
    books.loc[~books.index.isin(TRIAL_BOOKS), "dsr"] = "not a trial"  # references nobody selected
    print(text_table(books))
    if (report_dir / "capacity.parquet").is_file():
        capacity, capacity_meta = read_parquet(report_dir / "capacity.parquet")
        print(f"\nCapacity of the model's books (net of {capacity_meta['costs']}; the same trades at each capital):\n")
        print(text_table(capacity))
        print(f"\nNet Sharpe halves (against C→0) at: {capacity_meta['halving']}.")
    print()
    for line in [*meta["verdict"], *([meta["sharpe"]] if "sharpe" in meta else []), *meta.get("record", [])]:
        print(line.replace("**", ""))
    print(f"\nReport: {report_dir / 'report.md'}")
    print(f"Pictures: {', '.join(str(p) for p in sorted(report_dir.glob('*.png')))}")
    return 0
