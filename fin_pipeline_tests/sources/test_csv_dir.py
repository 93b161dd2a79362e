"""The vendor-CSV source: good files give the expected frame, every kind of broken file a precise error."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fin_pipeline.sources.base import RAW_COLUMNS, CandleError, SourceError
from fin_pipeline.sources.csv_dir import CsvDirectorySource, read_vendor_csv

D = dt.date
ALL = (D(1990, 1, 1), D(2030, 12, 31))

GOOD_RAW = """Date,Open,High,Low,Close,Volume
2020-01-02,74.06,75.15,73.80,75.09,135480400
2020-01-03,74.29,75.14,74.13,74.36,146322800
2020-01-06,73.45,74.99,73.19,74.95,118387200
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def fetch(directory: Path, ticker: str = "AAPL", start: dt.date = ALL[0], end: dt.date = ALL[1]) -> pd.DataFrame:
    return CsvDirectorySource(directory).fetch(ticker, start, end)


def test_good_file_without_adj_close(tmp_path):
    write(tmp_path, "AAPL.csv", GOOD_RAW)
    df = fetch(tmp_path)
    assert tuple(df.columns) == RAW_COLUMNS
    assert str(df["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert str(df["transactions"].dtype) == "Int64"
    assert list(df["timestamp"]) == [
        pd.Timestamp("2020-01-02T05:00:00Z"),
        pd.Timestamp("2020-01-03T05:00:00Z"),
        pd.Timestamp("2020-01-06T05:00:00Z"),
    ]
    np.testing.assert_array_equal(df["open"], [74.06, 74.29, 73.45])
    np.testing.assert_array_equal(df["high"], [75.15, 75.14, 74.99])
    np.testing.assert_array_equal(df["low"], [73.80, 74.13, 73.19])
    np.testing.assert_array_equal(df["close"], [75.09, 74.36, 74.95])
    np.testing.assert_array_equal(df["volume"], [135480400, 146322800, 118387200])
    assert df["vwap"].isna().all()  # the vendor has none: not invented
    assert df["transactions"].isna().all()


def test_adj_close_adjusts_prices_and_volume(tmp_path):
    # A 2:1 split after these bars: adjusted prices halve, the share volume doubles.
    write(
        tmp_path,
        "MSFT.csv",
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2020-01-02,100,110,90,104,52,1000\n"
        "2020-01-03,104,108,100,106,106,500\n",
    )
    df = fetch(tmp_path, "MSFT")
    np.testing.assert_allclose(df["open"], [50, 104])
    np.testing.assert_allclose(df["high"], [55, 108])
    np.testing.assert_allclose(df["low"], [45, 100])
    np.testing.assert_array_equal(df["close"], [52, 106])  # adj close exactly
    np.testing.assert_allclose(df["volume"], [2000, 500])
    assert df["vwap"].isna().all() and df["transactions"].isna().all()


def test_lowercase_whitespace_headers_extra_columns_and_lowercase_file(tmp_path):
    write(
        tmp_path,
        "ibm.csv",
        "\ufeff date , OPEN ,high,LOW, close ,adj_close, Volume ,Dividends\r\n"
        "2021-03-01 , 10 , 11 , 9 , 10.5 , 10.5 , 1000 ,0\r\n"
        "2021-03-02,10.5,12,10,11,11,2000,0.1\r\n"
        "\r\n",
    )
    df = fetch(tmp_path, "IBM")
    assert list(df["timestamp"]) == [pd.Timestamp("2021-03-01T05:00:00Z"), pd.Timestamp("2021-03-02T05:00:00Z")]
    np.testing.assert_allclose(df["open"], [10, 10.5])
    np.testing.assert_allclose(df["close"], [10.5, 11])
    np.testing.assert_allclose(df["volume"], [1000, 2000])


def test_filters_to_the_range_by_new_york_session_date(tmp_path):
    write(tmp_path, "AAPL.csv", GOOD_RAW)
    df = fetch(tmp_path, start=D(2020, 1, 3), end=D(2020, 1, 5))
    assert list(df["timestamp"]) == [pd.Timestamp("2020-01-03T05:00:00Z")]
    np.testing.assert_array_equal(df["close"], [74.36])
    assert df.index.tolist() == [0]
    assert fetch(tmp_path, start=D(2021, 1, 1), end=D(2021, 12, 31)).empty
    assert tuple(fetch(tmp_path, start=D(2020, 2, 1), end=D(2020, 1, 1)).columns) == RAW_COLUMNS
    # summer bars start at 04:00Z (midnight EDT)
    write(tmp_path, "SPY.csv", "Date,Open,High,Low,Close,Volume\n2020-07-02,1,2,0.5,1.5,10\n")
    assert list(fetch(tmp_path, "SPY")["timestamp"]) == [pd.Timestamp("2020-07-02T04:00:00Z")]


def test_dates_with_time_and_offset_become_new_york_session_dates(tmp_path):
    write(
        tmp_path,
        "X.csv",
        "Date,Open,High,Low,Close,Volume\n"
        "2020-01-02 00:00:00-05:00,1,2,0.5,1.5,10\n"
        "2020-01-03T14:30:00Z,1,2,0.5,1.5,10\n",
    )
    assert list(fetch(tmp_path, "X")["timestamp"]) == [
        pd.Timestamp("2020-01-02T05:00:00Z"),
        pd.Timestamp("2020-01-03T05:00:00Z"),
    ]


def test_non_session_dates_are_refused(tmp_path):
    write(tmp_path, "X.csv", "Date,Open,High,Low,Close,Volume\n2020-12-25,1,2,0.5,1.5,10\n")
    with pytest.raises(CandleError, match=r"X.csv: line 2 \(2020-12-25\): .*not an NYSE trading session"):
        fetch(tmp_path, "X")


# --- broken inputs ---------------------------------------------------------------------------------------

HEADER = "Date,Open,High,Low,Close,Volume\n"


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        pytest.param(
            "Date,Open,High,Low,Close\n2020-01-02,1,2,0.5,1.5\n",
            r"line 1: missing required column\(s\) \['Volume'\]; "
            r"columns found: \['Date', 'Open', 'High', 'Low', 'Close'\]",
            id="missing-column",
        ),
        pytest.param(
            HEADER + "2020-01-02,1,2,0.5,1.5,10\n2020-13-45,1,2,0.5,1.5,10\n",
            r"line 3: unparsable date '2020-13-45'",
            id="unparsable-date",
        ),
        pytest.param(
            HEADER + "2020-01-02,1,2,0.5,1.5,10\n,1,2,0.5,1.5,10\n",
            r"line 3: unparsable date ''",
            id="empty-date",
        ),
        pytest.param(
            HEADER + "2020-01-02,1,2,0.5,1.5,10\n2020-01-03,1,2,0.5,1.5,10\n2020-01-03,1,2,0.5,1.5,10\n",
            r"line 4: duplicate date 2020-01-03 \(also on line 3\)",
            id="duplicate-date",
        ),
        pytest.param(
            HEADER + "2020-01-02,1,2,0.5,1.5,10\n2020-01-06,1,2,0.5,1.5,10\n2020-01-03,1,2,0.5,1.5,10\n",
            r"line 4: date 2020-01-03 goes backwards \(line 3 is 2020-01-06\)",
            id="unsorted-dates",
        ),
        pytest.param(
            HEADER + "2020-01-02,1,2,0.5,1.5,10\n2020-01-03,1,0.9,1.2,1,10\n",
            r"line 3: OHLC inconsistent .*High=0\.9, Low=1\.2",
            id="high-below-low",
        ),
        pytest.param(
            HEADER + "2020-01-02,1,2,0.5,1.5,10\n2020-01-03,1,2,0,1.5,10\n",
            r"line 3: non-positive price .*Low=0",
            id="zero-price",
        ),
        pytest.param(
            HEADER + "2020-01-02,1,2,-0.5,1.5,10\n",
            r"line 2: non-positive price .*Low=-0\.5",
            id="negative-price",
        ),
        pytest.param(
            HEADER + "2020-01-02,1,2,0.5,1.5,10\n2020-01-03,1,2,0.5,abc,10\n",
            r"line 3: non-numeric value 'abc' in column 'Close'",
            id="non-numeric-price",
        ),
        pytest.param(
            HEADER + "2020-01-02,1,2,0.5,1.5,1 000\n",
            r"line 2: non-numeric value '1 000' in column 'Volume'",
            id="non-numeric-volume",
        ),
        pytest.param(
            HEADER + "2020-01-02,1,2,0.5,1.5,10\n2020-01-03,1,2,,1.5,10\n",
            r"line 3: missing value '' in required column 'Low'",
            id="missing-value",
        ),
        pytest.param(
            HEADER + "2020-01-02,1,2,0.5,1.5,10\n2020-01-03,1,2,0.5,1.5,NaN\n",
            r"line 3: missing value 'NaN' in required column 'Volume'",
            id="nan-value",
        ),
        pytest.param(
            HEADER + "2020-01-02,1,2,0.5,1.5,-10\n",
            r"line 2: negative volume",
            id="negative-volume",
        ),
        pytest.param(
            HEADER + "2020-01-02,1,2,0.5,1.5,10\n2020-01-03,1,2,0.5,1.5\n",
            r"line 3: expected 6 fields like the header, found 5",
            id="short-row",
        ),
        pytest.param(
            "Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-02,1,2,0.5,1.5,0,10\n",
            r"line 2: non-positive price '0' in column 'Adj Close'",
            id="non-positive-adj-close",
        ),
        pytest.param(
            "Date,Open,High,Low,Close,Close,Volume\n2020-01-02,1,2,0.5,1.5,1.5,10\n",
            r"line 1: column 'Close' appears twice",
            id="duplicate-column",
        ),
        pytest.param("", r"empty file \(0 bytes\): no rows", id="empty-0-bytes"),
        pytest.param(HEADER, r"header only: no rows", id="header-only"),
        pytest.param("\n\n", r"no rows", id="blank-lines-only"),
    ],
)
def test_broken_file_names_file_line_and_value(tmp_path, body, pattern):
    path = write(tmp_path, "BAD.csv", body)
    with pytest.raises(CandleError, match=pattern) as info:
        fetch(tmp_path, "BAD")
    assert str(info.value).startswith(f"{path}: ")
    # the same error when the file is read directly
    with pytest.raises(CandleError, match=re.escape(str(path))):
        read_vendor_csv(path)


def test_errors_report_the_earliest_line(tmp_path):
    write(tmp_path, "X.csv", HEADER + "2020-01-02,1,2,0.5,1.5,oops\n2020-01-03,1,2,0.5,bad,10\n")
    with pytest.raises(CandleError, match=r"line 2: non-numeric value 'oops' in column 'Volume'"):
        fetch(tmp_path, "X")


def test_not_utf8_names_the_line(tmp_path):
    (tmp_path / "X.csv").write_bytes(HEADER.encode() + b"2020-01-02,1,2,0.5,1.5,10\n2020-01-03,1,2,0.5,1\xff5,10\n")
    with pytest.raises(CandleError, match=r"X\.csv: line 3: not UTF-8"):
        fetch(tmp_path, "X")


def test_missing_file_names_the_path_looked_for(tmp_path):
    write(tmp_path, "AAPL.csv", GOOD_RAW)
    with pytest.raises(SourceError, match=re.escape(str(tmp_path / "MSFT.csv"))):
        fetch(tmp_path, "MSFT")


def test_missing_directory(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        fetch(tmp_path / "nope", "AAPL")


@pytest.mark.parametrize("bad", ["", "../AAPL", "A/B"])
def test_invalid_ticker(tmp_path, bad):
    with pytest.raises(CandleError, match="invalid ticker"):
        fetch(tmp_path, bad)


def test_name_and_describe(tmp_path):
    source = CsvDirectorySource(tmp_path)
    assert source.name == "csv"
    assert str(tmp_path) in source.describe()


# --- opens: what the next_open execution trades at -------------------------------------------------------------


def test_an_empty_or_zero_open_is_a_missing_open_kept_as_nan_and_never_traded(tmp_path):
    from fin_pipeline.sources.execution import executable_returns

    body = GOOD_RAW.replace("2020-01-03,74.29,", "2020-01-03,,").replace("2020-01-06,73.45,", "2020-01-06,0,")
    write(tmp_path, "AAPL.csv", body)
    df = fetch(tmp_path)
    assert df["open"].isna().tolist() == [False, True, True]
    np.testing.assert_array_equal(df["close"], [75.09, 74.36, 74.95])  # the rest of the bar is kept
    ret = executable_returns(df, 1, "next_open", "AAPL")
    assert ret.untradable == 2 and np.isnan(ret.next_return).all()  # every entry or exit is a missing open
    assert executable_returns(df, 1, "next_close", "AAPL").untradable == 0  # the closes are all there


def test_a_file_without_an_open_column_names_the_file_and_the_execution_setting(tmp_path):
    write(tmp_path, "AAPL.csv", "Date,High,Low,Close,Volume\n2020-01-02,2,0.5,1.5,10\n")
    with pytest.raises(
        CandleError,
        match=r"AAPL\.csv: line 1: missing required column\(s\) \['Open'\].*"
        r"FIN_PIPELINE_EXECUTION=next_open",
    ):
        fetch(tmp_path)
