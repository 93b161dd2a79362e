"""The walk-forward report rendered once: the numbers report.md shows are the record's, recomputed here by hand;
the CLI prints the same tables; a changed day already reported stops the report before anything is written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fin_pipeline.core.costs import CostModel
from fin_pipeline.report.folds import stitch
from fin_pipeline.report.record import RecordChanged, RecordCheck
from fin_pipeline.report.tables import SHOWN_BACKTEST_COLUMNS, SHOWN_FORECAST_COLUMNS
from fin_pipeline.report.terminal import text_report
from fin_pipeline.report.text import provenance_for
from fin_pipeline.report.walk_forward import write_report
from fin_pipeline_tests.report.reading import daily_ic, markdown_table, shows, text_table
from fin_pipeline_tests.report.test_tearsheets import TICKERS, fold_results, synthetic_record

HEADER = provenance_for(["synthetic"] * len(TICKERS), TICKERS, "close", CostModel(cost_model="flat"))
# report.md's heading of each table, and the CLI's
HEADINGS = {
    "Folds: training": "Folds (training | gap | tuning | gap | test",
    "The model per fold": "The model per fold (IC",
    "Forecasts, all folds stitched": "All folds stitched out of sample:",
    "Books, all folds stitched": "Books of the stitched out-of-sample series",
}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    record = synthetic_record(ic=0.2, seed=3)
    folds = fold_results(record)
    previous = stitch(folds[:2])  # the first two folds were reported before
    report = write_report(folds, out, tearsheets=False, provenance=HEADER, record=RecordCheck(previous))
    return record, report, out, (out / "report.md").read_text()


def test_report_md_shows_the_stitched_numbers_of_the_record(written):
    record, _, _, text = written
    forecasts = markdown_table(text, "Forecasts, all folds stitched")
    model, target = record["model"].to_numpy(), record["target"].to_numpy()
    assert shows(forecasts.loc["model", "ic"], daily_ic(record))
    assert shows(forecasts.loc["momentum", "ic"], daily_ic(record, "momentum"))
    assert shows(forecasts.loc["model", "mse"], float(np.mean((model - target) ** 2)))
    assert shows(forecasts.loc["model", "mae"], float(np.mean(np.abs(model - target))))
    assert shows(forecasts.loc["model", "directional_accuracy"], float(np.mean(np.sign(model) == np.sign(target))))
    assert forecasts.loc["model", "n"] == str(len(record))
    assert forecasts.loc["zero", "ic"] == "n/a (0 days)"  # a constant prediction correlates on no day
    days = record["date"]
    assert f"4 folds, {len(record)} out-of-sample predictions ({days.min():%Y-%m-%d} … {days.max():%Y-%m-%d})" in text
    first, last = record[record["fold"] == "fold_02"]["date"].min(), record["date"].max()
    assert (
        f"Out-of-sample record: {int((record['fold'] < 'fold_02').sum())} prediction(s) already reported are "
        f"unchanged (checked against the previous report); {int((record['fold'] >= 'fold_02').sum())} added "
        f"({first:%Y-%m-%d} … {last:%Y-%m-%d})."
    ) in text


def test_report_md_shows_each_books_sharpe_and_the_dsr_of_the_model_alone(written):
    _, report, _, text = written
    books = markdown_table(text, "Books, all folds stitched")
    for book in ("model", "model_neutral", "momentum", "buy_and_hold"):
        r = report.stitched.books[book].returns.to_numpy()
        equity = np.prod(1 + r)
        assert shows(books.loc[book, "sharpe"], float(np.mean(r) / np.std(r, ddof=1) * np.sqrt(252))), book
        assert shows(books.loc[book, "total_return"], float(equity - 1)), book
    assert books.loc["zero", "sharpe"] == "undefined"  # a flat book has no volatility
    assert (books.drop(index=["model", "model_neutral"])["dsr"] == "not a trial").all()
    assert books.loc["model", "dsr"] == books.loc["model", "psr"]  # no registry: this record is the one trial


def test_the_cli_prints_the_tables_of_report_md(written):
    _, _, out, text = written
    printed = text_report(out)
    for md, plain in HEADINGS.items():
        pd.testing.assert_frame_equal(text_table(printed, plain), markdown_table(text, md), check_names=False)
    header = text.split("\n\n")[1].splitlines()  # the lines under the title, Markdown's bold and line breaks
    assert printed.splitlines()[1 : 1 + len(header)] == [line.replace("**", "").rstrip() for line in header]
    assert "Out-of-sample record: " in printed and "**" not in printed
    assert printed.splitlines()[-2] == f"Report: {out / 'report.md'}"


def test_a_changed_day_stops_the_report_before_anything_is_written(tmp_path):
    record = synthetic_record(days=84, folds=2, seed=5)
    folds = fold_results(record)
    previous = stitch(folds).copy()
    previous.loc[3, "target"] += 0.01
    with pytest.raises(RecordChanged, match=f"{previous.loc[3, 'ticker']} on .*, target was"):
        write_report(folds, tmp_path, tearsheets=False, provenance=HEADER, record=RecordCheck(previous))
    assert list(tmp_path.iterdir()) == []


def stored_report(out, horizon: int | None) -> None:
    """The files of a report with one book: its Sharpe's standard error undefined on 9 days (NaN)."""
    from fin_pipeline.store.parquet import write_parquet

    write_parquet(pd.DataFrame({"fold": ["2021-01-01"], "test": ["2021-01-04 … 2021-01-14"]}), out / "folds.parquet")
    write_parquet(pd.DataFrame({"fold": ["2021-01-01"], "model_ic": [0.1]}), out / "fold_summary.parquet")
    forecasts = pd.DataFrame({"predictor": ["model"], **dict.fromkeys(SHOWN_FORECAST_COLUMNS, [0.5]), "n_days": [9.0]})
    forecasts["ic"] = float("nan")
    meta = {"verdict": ["**Ranking skill: not shown.**"], "header": ["**Source:** here."]}
    write_parquet(forecasts, out / "overall_metrics.parquet", meta | ({"horizon": horizon} if horizon else {}))
    backtest = pd.DataFrame({"strategy": ["model"], **dict.fromkeys(SHOWN_BACKTEST_COLUMNS, [0.5]), "n_days": [9.0]})
    backtest["sharpe_se"] = float("nan")
    write_parquet(backtest, out / "backtest.parquet")


@pytest.mark.parametrize("horizon", [None, 10])
def test_the_cli_reads_an_undefined_statistic_by_the_reports_horizon(tmp_path, horizon):
    """9 days define every statistic at h = 1 (8 needed): NaN there is "undefined"; at h = 10 they are too few
    (11 needed), "n/a (9 days)". A report stored without its horizon (an earlier run) reads as h = 1."""
    stored_report(tmp_path, horizon)
    printed = text_report(tmp_path)
    expected = "n/a (9 days)" if horizon == 10 else "undefined"
    assert text_table(printed, "All folds stitched").loc["model", "ic"] == expected
    books = text_table(printed, "Books of the stitched")
    assert books.loc["model", "sharpe_se"] == expected and books.loc["model", "sharpe"] == "0.5"
    assert text_table(printed, "The model per fold").loc["2021-01-01", "model_ic"] == "0.1"  # no test_days: as stored
    assert printed.splitlines()[1] == "Source: here."
