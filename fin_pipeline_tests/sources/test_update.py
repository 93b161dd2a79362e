import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from fin_pipeline.core.calendar import nyse_sessions
from fin_pipeline.sources.base import (
    CandleError,
    CandleSource,
    SourceError,
    session_dates,
    session_timestamps,
    to_raw_schema,
)
from fin_pipeline.sources.update import HistoryRewrite, update_candles
from fin_pipeline.store.parquet import read_parquet

D = dt.date


def bars(start: dt.date, end: dt.date, scale: float = 1.0) -> pd.DataFrame:
    """Simple, valid bars on NYSE sessions; ``scale`` multiplies every price (a re-adjusted history)."""
    days = nyse_sessions(start, end)
    close = scale * (100 + np.arange(len(days), dtype=float))
    return to_raw_schema(
        pd.DataFrame(
            {
                "timestamp": session_timestamps(days),
                "open": close - 0.5,
                "high": close + 1,
                "low": close - 1,
                "close": close,
                "volume": 1e6,
                "vwap": close,
                "transactions": 1000,
            }
        )
    )


class FrameSource(CandleSource):
    """Serves slices of a fixed history and records every range asked for."""

    name = "frame"

    def __init__(self, history: pd.DataFrame, name: str = "frame"):
        self.history, self.name, self.calls = history, name, []

    def fetch(self, ticker, start, end):
        self.calls.append((start, end))
        dates = session_dates(self.history["timestamp"])
        return self.history[((dates >= start) & (dates <= end)).to_numpy()].reset_index(drop=True)


HISTORY = bars(D(2020, 1, 1), D(2020, 12, 31))


def test_first_fetch_takes_the_whole_range(tmp_path):
    src, path = FrameSource(HISTORY), tmp_path / "AAPL.parquet"
    up = update_candles(src, "AAPL", path, D(2020, 1, 1), D(2020, 6, 30))
    assert src.calls == [(D(2020, 1, 1), D(2020, 6, 30))]
    assert up.mode == "full" and up.rows == up.rows_added == len(nyse_sessions(D(2020, 1, 1), D(2020, 6, 30)))
    assert (up.first_date, up.last_date) == (D(2020, 1, 2), D(2020, 6, 30))
    stored, meta = read_parquet(path)
    assert meta == {"ticker": "AAPL", "source": "frame", "start": "2020-01-01"}
    assert len(stored) == up.rows


def test_refresh_asks_for_days_not_decades(tmp_path):
    src, path = FrameSource(HISTORY), tmp_path / "AAPL.parquet"
    update_candles(src, "AAPL", path, D(2020, 1, 1), D(2020, 6, 30))
    up = update_candles(src, "AAPL", path, D(2020, 1, 1), D(2020, 7, 3))
    # Only from the stored last bar (the sentinel) on: 2020-06-30 .. 2020-07-03.
    assert src.calls[-1] == (D(2020, 6, 30), D(2020, 7, 3))
    assert up.mode == "incremental" and up.rows_added == 2  # July 1 and 2; July 3 2020 was a holiday
    stored, _ = read_parquet(path)
    expected = HISTORY[(session_dates(HISTORY["timestamp"]) <= D(2020, 7, 3)).to_numpy()]
    pd.testing.assert_frame_equal(stored, expected.reset_index(drop=True))


def test_up_to_date_file_is_neither_fetched_nor_rewritten(tmp_path):
    src, path = FrameSource(HISTORY), tmp_path / "AAPL.parquet"
    update_candles(src, "AAPL", path, D(2020, 1, 1), D(2020, 6, 30))
    mtime = path.stat().st_mtime_ns
    up = update_candles(src, "AAPL", path, D(2020, 1, 1), D(2020, 6, 30))
    assert up.mode == "up to date" and up.rows_added == 0 and up.fetched is None
    assert len(src.calls) == 1 and path.stat().st_mtime_ns == mtime


@pytest.mark.parametrize(
    ("second_source", "second_start", "reason"),
    [
        (FrameSource(HISTORY, name="other"), D(2020, 1, 1), "came from source 'frame', now 'other'"),
        (FrameSource(HISTORY), D(2019, 12, 1), "history start moved earlier"),
        (FrameSource(bars(D(2020, 1, 1), D(2020, 12, 31), scale=0.5)), D(2020, 1, 1), "history re-adjusted"),
    ],
)
def test_refetches_the_whole_history_when_increments_would_be_wrong(tmp_path, second_source, second_start, reason):
    path = tmp_path / "AAPL.parquet"
    update_candles(FrameSource(HISTORY), "AAPL", path, D(2020, 1, 1), D(2020, 6, 30))
    up = update_candles(second_source, "AAPL", path, second_start, D(2020, 7, 31))
    assert up.mode.startswith("refetch") and reason in up.mode
    assert second_source.calls[-1] == (second_start, D(2020, 7, 31))
    stored, _ = read_parquet(path)
    pd.testing.assert_frame_equal(stored, second_source.fetch("AAPL", second_start, D(2020, 7, 31)))


class FailingSource(FrameSource):
    def fetch(self, ticker, start, end):
        raise SourceError(f"{ticker}: HTTP 503 on page 2")


def test_a_failed_fetch_keeps_the_stored_file_byte_for_byte(tmp_path):
    path = tmp_path / "AAPL.parquet"
    update_candles(FrameSource(HISTORY), "AAPL", path, D(2020, 1, 1), D(2020, 6, 30))
    before = path.read_bytes()
    with pytest.raises(SourceError, match="page 2"):
        update_candles(FailingSource(HISTORY), "AAPL", path, D(2020, 1, 1), D(2020, 7, 31))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["AAPL.parquet"]


def test_bad_new_bars_are_refused_and_nothing_is_written(tmp_path):
    path = tmp_path / "AAPL.parquet"
    update_candles(FrameSource(HISTORY), "AAPL", path, D(2020, 1, 1), D(2020, 6, 30))
    before = path.read_bytes()
    broken = HISTORY.copy()
    row = int(np.flatnonzero((session_dates(broken["timestamp"]) == D(2020, 7, 2)).to_numpy())[0])
    broken.loc[row, "high"] = broken.loc[row, "low"] - 1  # high < low on 2020-07-02
    with pytest.raises(CandleError, match=r"AAPL .*2020-07-02.*OHLC"):
        update_candles(FrameSource(broken), "AAPL", path, D(2020, 1, 1), D(2020, 7, 31))
    assert path.read_bytes() == before


def test_no_bars_at_all_is_an_error_naming_the_ticker(tmp_path):
    with pytest.raises(SourceError, match="ZZZZ.*no daily bars between 2021-01-01 and 2021-02-01"):
        update_candles(FrameSource(HISTORY), "ZZZZ", tmp_path / "ZZZZ.parquet", D(2021, 1, 1), D(2021, 2, 1))
    assert not (tmp_path / "ZZZZ.parquet").exists()


def test_polygon_page_two_failure_keeps_the_stored_file(tmp_path, httpserver, polygon_fixtures):
    """Real pagination against a local server: page 1 arrives, page 2 fails; the stored file is untouched."""
    from fin_pipeline.sources.polygon import PolygonSource

    page1 = json.loads((polygon_fixtures / "aggs_AAPL_day_page_with_next_url.json").read_text())
    first = {k: v for k, v in page1.items() if k != "next_url"}  # 2020-01-02 and 2020-01-03, one page
    httpserver.expect_request("/v2/aggs/ticker/AAPL/range/1/day/2020-01-02/2020-01-03").respond_with_json(first)
    httpserver.expect_request("/v2/aggs/ticker/AAPL/range/1/day/2020-01-03/2020-01-10").respond_with_json(page1)
    httpserver.expect_request("/v2/aggs/ticker/AAPL/range/1/day/1578114000000/2020-01-10").respond_with_data(
        "upstream broke", status=502
    )
    source = PolygonSource(
        "k" * 32, base_url=httpserver.url_for("/").rstrip("/"), requests_per_minute=0, max_retries=1, backoff_factor=0
    )
    path = tmp_path / "AAPL.parquet"
    assert update_candles(source, "AAPL", path, D(2020, 1, 2), D(2020, 1, 3)).rows == 2
    before = path.read_bytes()

    with pytest.raises(SourceError, match="AAPL: HTTP 502 after 2 attempts"):
        update_candles(source, "AAPL", path, D(2020, 1, 2), D(2020, 1, 10))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["AAPL.parquet"]
    pages = [req.path for req, _ in httpserver.log]
    assert pages[-2:] == ["/v2/aggs/ticker/AAPL/range/1/day/1578114000000/2020-01-10"] * 2  # page 2 was reached


def test_an_earlier_end_or_later_start_is_refused_before_anything_is_fetched_or_written(tmp_path):
    src, path = FrameSource(HISTORY), tmp_path / "AAPL.parquet"
    update_candles(src, "AAPL", path, D(2020, 1, 1), D(2020, 6, 30))
    before, calls = path.read_bytes(), len(src.calls)
    with pytest.raises(HistoryRewrite) as refused:
        update_candles(src, "AAPL", path, D(2020, 1, 1), D(2020, 6, 23))
    assert str(refused.value) == (
        "AAPL: end 2020-06-23 is earlier than the stored candles, which run to 2020-06-30: the bars after 2020-06-23 "
        "would be dropped; nothing was written. To do it deliberately: fin-pipeline rebuild --from 2020-06-23"
    )
    with pytest.raises(HistoryRewrite, match="AAPL: start 2020-02-03 is later than the stored candles, which begin"):
        update_candles(src, "AAPL", path, D(2020, 2, 3), D(2020, 6, 30))
    assert path.read_bytes() == before and len(src.calls) == calls


def noisy(history: pd.DataFrame, factor: float) -> pd.DataFrame:
    """Every price multiplied by ``factor``, written with 9 decimals (as a vendor's file holds it) and divided back:
    the same history up to rounding far inside the 1e-6 tolerance."""
    out = history.copy()
    for column in ("open", "high", "low", "close", "vwap"):
        out[column] = np.round(out[column] * factor, 9) / factor
    return out


def test_float_noise_in_a_redelivered_history_keeps_the_stored_bars_byte_for_byte(tmp_path):
    original = bars(D(2020, 1, 1), D(2020, 12, 31), scale=1 / 3)  # thirds: not exact in 9 decimals
    jittered = noisy(original, 4.0)
    relative = (jittered["close"] / original["close"] - 1).abs()
    assert 0 < relative.max() < 1e-9
    path = tmp_path / "AAPL.parquet"
    update_candles(
        FrameSource(bars(D(2020, 1, 1), D(2020, 12, 31), scale=1 / 3)), "AAPL", path, D(2020, 1, 1), D(2020, 6, 30)
    )
    stored, _ = read_parquet(path)
    # a history start moved earlier forces a whole refetch; the noise is far inside 1e-6 relative
    up = update_candles(FrameSource(jittered), "AAPL", path, D(2019, 12, 2), D(2020, 7, 31))
    assert up.mode.startswith("refetch") and up.restated is None
    again, meta = read_parquet(path)
    pd.testing.assert_frame_equal(again.iloc[: len(stored)].reset_index(drop=True), stored, check_exact=True)
    assert "restatements" not in meta


def test_a_split_readjustment_is_stored_and_recorded_as_a_restatement(tmp_path):
    path = tmp_path / "AAPL.parquet"
    update_candles(FrameSource(HISTORY), "AAPL", path, D(2020, 1, 1), D(2020, 6, 30))
    # a 4:1 split on 2020-07-01: the adjusted history is a quarter of every price before it (the raw prices from it
    # on are already a quarter), four times the share volume
    days = session_dates(HISTORY["timestamp"])
    split = HISTORY.copy()
    for column in ("open", "high", "low", "close", "vwap"):
        split[column] = split[column] / 4
    split["volume"] = split["volume"] * 4
    up = update_candles(FrameSource(split), "AAPL", path, D(2020, 1, 1), D(2020, 7, 31))
    assert up.mode.startswith("refetch") and "history re-adjusted" in up.mode
    n = len(nyse_sessions(D(2020, 1, 1), D(2020, 6, 30)))
    expected = {"first": "2020-01-02", "last": "2020-06-30", "bars": n, "seen": "2020-06-30"}
    assert up.restated == expected
    stored, meta = read_parquet(path)
    assert meta["restatements"] == [expected]
    pd.testing.assert_frame_equal(stored, split[(days <= D(2020, 7, 31)).to_numpy()].reset_index(drop=True))
