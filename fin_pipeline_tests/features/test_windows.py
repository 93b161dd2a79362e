import datetime as dt

import numpy as np
import pandas as pd
import pytest

from fin_pipeline.core.calendar import nyse_sessions
from fin_pipeline.features.assemble import build_windows, load_window_set
from fin_pipeline.features.frame import FeatureError, build_feature_frame
from fin_pipeline.features.indicators import FEATURE_COLUMNS, FEATURE_VERSION, WINDOW
from fin_pipeline.sources.base import session_dates
from fin_pipeline.store.parquet import write_parquet
from fin_pipeline_tests.features import synthetic_candles

TICKERS = {"AAPL": 300, "MSFT": 250, "XOM": 200}


@pytest.fixture(scope="module")
def frames():
    return {t: build_feature_frame(synthetic_candles(rows, ticker=t), t) for t, rows in TICKERS.items()}


@pytest.fixture(scope="module")
def ws(frames):
    return build_windows(frames)


def test_windows_are_a_read_only_view_of_one_contiguous_array(ws):
    total = sum(TICKERS.values())
    assert ws.values.shape == (total, 40) and ws.values.dtype == np.float32 and ws.values.flags.c_contiguous
    assert ws.windows.shape == (total - WINDOW + 1, WINDOW, 40)
    assert np.shares_memory(ws.windows, ws.values)
    assert ws.windows.base is not None and not ws.windows.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        ws.windows[0, 0, 0] = 1.0
    for k in (0, 1, 77, 299, 300, total - WINDOW):
        assert np.array_equal(ws.windows[k], ws.values[k : k + WINDOW], equal_nan=True)
        # A view, not a copy: the window's first element is the value row k's first element, in memory.
        assert ws.windows[k].__array_interface__["data"][0] == ws.values[k].__array_interface__["data"][0]


def test_values_are_the_frames_back_to_back(ws, frames):
    start = 0
    for ticker, frame in frames.items():
        rows = slice(*ws.spans[ticker])
        assert rows.start == start
        np.testing.assert_array_equal(ws.values[rows], frame[list(FEATURE_COLUMNS)].to_numpy())
        np.testing.assert_array_equal(ws.targets[rows], frame["target"].to_numpy())
        start = rows.stop


def test_index_lists_exactly_the_ok_windows_inside_one_ticker(ws, frames):
    assert list(ws.index.columns) == ["ticker", "date", "window", "target"]
    assert len(ws) == sum(int(f["window_ok"].sum()) for f in frames.values())
    for ticker, frame in frames.items():
        first, end = ws.spans[ticker]
        mine = ws.index[ws.index["ticker"] == ticker]
        ends = mine["window"].to_numpy() + WINDOW - 1
        assert (mine["window"] >= first).all() and (ends < end).all()  # never across a ticker boundary
        np.testing.assert_array_equal(ends - first, np.flatnonzero(frame["window_ok"]))
        expected_dates = pd.to_datetime(session_dates(frame["timestamp"]).iloc[ends - first].to_numpy())
        np.testing.assert_array_equal(mine["date"].to_numpy(), expected_dates.to_numpy())
        np.testing.assert_array_equal(mine["target"].to_numpy(), frame["target"].to_numpy()[ends - first])
        assert np.isfinite(ws.X(mine["window"].to_numpy())).all()


def test_windows_crossing_a_ticker_boundary_or_ending_on_a_bad_row_are_left_out():
    """Frames whose window_ok is (wrongly) True everywhere: the boundary rule alone must hold."""
    rows = 40
    fake = {}
    for i, ticker in enumerate(["A", "B"]):
        frame = pd.DataFrame(np.full((rows, 40), float(i), dtype=np.float32), columns=list(FEATURE_COLUMNS))
        frame.insert(0, "timestamp", pd.date_range("2021-01-04", periods=rows, freq="B", tz="UTC"))
        frame["target"] = np.float32(0.01)
        frame["next_return"] = np.float32(0.01)
        frame["window_ok"] = True
        fake[ticker] = frame
    fake["B"].loc[35, "window_ok"] = False
    ws = build_windows(fake)
    positions = ws.indices
    # A: windows ending on rows 29..39 (11); B: ending on 29..39 but 35 (10). None starts in A and ends in B.
    assert len(positions) == 21
    np.testing.assert_array_equal(positions[:11], np.arange(0, 11))
    np.testing.assert_array_equal(positions[11:], rows + np.array([0, 1, 2, 3, 4, 5, 7, 8, 9, 10]))
    assert all(len(np.unique(ws.X([p]))) == 1 for p in positions)  # each window holds one ticker's rows only


def test_select_by_end_date_and_gather(ws):
    dates = ws.index["date"]
    start, end = dt.date(2020, 11, 2), dt.date(2020, 11, 30)
    sessions = len(nyse_sessions(start, end))
    positions = ws.select(start, end)
    expected = ws.index.loc[(dates >= "2020-11-02") & (dates <= "2020-11-30"), "window"].to_numpy()
    np.testing.assert_array_equal(positions, expected)
    assert len(positions) == 3 * sessions  # three tickers, every session of November 2020, both ends included
    assert len(ws.select("2020-11-30", "2020-11-30")) == 3
    assert len(ws.select()) == len(ws)
    assert len(ws.select(end=pd.Timestamp("2020-11-30"))) + len(ws.select(start="2020-12-01")) == len(ws)
    assert len(ws.select(start, end, tickers=["XOM"])) == sessions
    x, y = ws.X(positions), ws.y(positions)
    assert x.shape == (len(positions), WINDOW, 40) and x.dtype == np.float32 and y.shape == (len(positions),)
    assert not np.shares_memory(x, ws.values)  # only what is asked for is gathered, as a new array
    np.testing.assert_array_equal(x[5], ws.values[positions[5] : positions[5] + WINDOW])
    np.testing.assert_array_equal(y, ws.index.set_index("window").loc[positions, "target"].to_numpy())


def test_load_from_parquet_equals_the_in_memory_build(tmp_path, frames, ws):
    paths = {}
    for ticker, frame in frames.items():
        paths[ticker] = tmp_path / f"{ticker}.parquet"
        meta = {"ticker": ticker, "window": WINDOW, "feature_version": FEATURE_VERSION, "execution": "next_open"}
        write_parquet(frame, paths[ticker], meta)
    loaded = load_window_set(paths)
    assert loaded.execution == ws.execution == "next_open"
    np.testing.assert_array_equal(loaded.next_returns, ws.next_returns)
    np.testing.assert_array_equal(loaded.values, ws.values)
    np.testing.assert_array_equal(loaded.targets, ws.targets)
    np.testing.assert_array_equal(loaded.costs, ws.costs)  # NaN where the frames have none, in both
    np.testing.assert_array_equal(loaded.row_dates, ws.row_dates)
    assert loaded.spans == ws.spans
    pd.testing.assert_frame_equal(loaded.index, ws.index)
    assert np.shares_memory(loaded.windows, loaded.values)

    meta = {"ticker": "XOM", "window": WINDOW, "feature_version": FEATURE_VERSION, "execution": "close"}
    write_parquet(frames["XOM"], paths["XOM"], meta)
    with pytest.raises(FeatureError, match="different executions .*FIN_PIPELINE_EXECUTION"):
        load_window_set(paths)
    write_parquet(frames["XOM"], paths["XOM"], {"ticker": "XOM", "window": WINDOW, "feature_version": "old"})
    with pytest.raises(FeatureError, match="XOM: .* feature version old"):
        load_window_set(paths)
    with pytest.raises(FeatureError, match=r"NOPE: cannot read feature file .*NOPE\.parquet"):
        load_window_set({"NOPE": tmp_path / "NOPE.parquet"})
