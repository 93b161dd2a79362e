"""One formatting of values and tables: Markdown for the UI and report.md, plain text for the CLI."""

import numpy as np
import pandas as pd

from fin_pipeline.core.formatting import format_value, markdown_table, text_table


def test_format_value_cells():
    assert format_value(float("nan")) == "undefined"
    assert format_value(None) == "undefined" and format_value(pd.NaT) == "undefined"
    assert format_value(12.0) == "12" and format_value(np.float32(0.5)) == "0.5"
    assert format_value(1.23456) == "1.235" and format_value(-0.000123456) == "-0.0001235"
    assert format_value(pd.Timestamp("2021-03-04 00:00")) == "2021-03-04"
    assert format_value(np.datetime64("2021-03-04")) == "2021-03-04"
    assert format_value("fold_00") == "fold_00" and format_value(7) == "7"


def test_markdown_table_index_dates_and_undefined():
    df = pd.DataFrame(
        {"sharpe": [1.23456, float("nan")], "peak": [pd.Timestamp("2020-01-02"), pd.NaT]},
        index=pd.Index(["model", "zero"], name="strategy"),
    )
    assert markdown_table(df).splitlines() == [
        "| strategy | sharpe | peak |",
        "|---|---|---|",
        "| model | 1.235 | 2020-01-02 |",
        "| zero | undefined | undefined |",
    ]
    plain = markdown_table(pd.DataFrame({"fold": ["fold_00"], "n": [12.0]}))
    assert plain.splitlines()[2] == "| fold_00 | 12 |"


def test_text_table_aligns_columns():
    text = text_table(pd.DataFrame({"ticker": ["AAPL", "MSFT"], "ic": [0.0123456, float("nan")]}))
    assert text.splitlines() == [
        "ticker  ic",
        "------  ---------",
        "AAPL    0.01235",
        "MSFT    undefined",
    ]
