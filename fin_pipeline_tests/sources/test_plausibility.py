"""Implausible candles are refused at the door, each with the file and line or the ticker and date."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd
import pytest
from werkzeug import Response

from fin_pipeline.core.calendar import nyse_sessions
from fin_pipeline.sources.base import CandleError, SourceError, session_timestamps, validate_candles
from fin_pipeline.sources.csv_dir import CsvDirectorySource, read_vendor_csv
from fin_pipeline.sources.plausibility import PlausibilityRules, plausibility_problems
from fin_pipeline.sources.polygon import PolygonSource

SESSIONS = nyse_sessions(dt.date(2020, 1, 2), dt.date(2020, 6, 30))  # 125 sessions


def closes(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))


def csv_text(dates, close, fmt: str = "%Y-%m-%d", adj=None) -> str:
    lines = ["Date,Open,High,Low,Close,Volume" + (",Adj Close" if adj is not None else "")]
    for i, (d, c) in enumerate(zip(dates, close, strict=True)):
        row = f"{pd.Timestamp(d).strftime(fmt)},{float(c)!r},{float(c) * 1.01!r},{float(c) * 0.99!r},{float(c)!r},1000"
        lines.append(row + (f",{float(adj[i])!r}" if adj is not None else ""))
    return "\n".join(lines) + "\n"


def write(tmp_path, text: str, name: str = "X.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_plausible_file_passes(tmp_path):
    df = read_vendor_csv(write(tmp_path, csv_text(SESSIONS, closes(len(SESSIONS)))))
    assert len(df) == len(SESSIONS)


def test_absurd_price_1e308_names_file_and_line(tmp_path):
    c = closes(len(SESSIONS))
    c[10] = 1e308 / 1.02  # high = 1.01 * close stays finite
    path = write(tmp_path, csv_text(SESSIONS, c))
    with pytest.raises(CandleError, match=rf"{path}: line 12 \(2020-01-16\): implausible \(price_range\)"):
        read_vendor_csv(path)


def test_bad_adj_close_scaling_to_1e_298(tmp_path):
    c = closes(len(SESSIONS))
    adj = c.copy()
    adj[5:] = c[5:] * 1e-300
    path = write(tmp_path, csv_text(SESSIONS, c, adj=adj))
    with pytest.raises(CandleError, match=r"line 7 .*price_range.*outside the plausible range \[0.0001, 1e\+07\]"):
        read_vendor_csv(path)


def test_constant_history(tmp_path):
    path = write(tmp_path, csv_text(SESSIONS, np.full(len(SESSIONS), 42.0)))
    with pytest.raises(CandleError, match=r"not_constant.*close is 42.0 on all 125 bars"):
        read_vendor_csv(path)


def test_one_day_1000x_spike_names_the_line(tmp_path):
    c = closes(len(SESSIONS))
    c[50] *= 1000
    path = write(tmp_path, csv_text(SESSIONS, c))
    with pytest.raises(CandleError, match=r"line 52 \(2020-03-16\): implausible \(jump\).*split-adjusted"):
        read_vendor_csv(path)


def test_ordinary_earnings_gap_passes():
    c = closes(len(SESSIONS))
    c[60:] *= 1.15  # a 15% gap on 1% daily volatility: large, real, and allowed
    df = frame(SESSIONS, c)
    assert plausibility_problems(df, PlausibilityRules()) == []


def test_weekend_bar_names_the_line(tmp_path):
    dates = list(SESSIONS[:6]) + [pd.Timestamp("2020-01-11")] + list(SESSIONS[7:20])  # a Saturday
    path = write(tmp_path, csv_text(dates, closes(len(dates))))
    with pytest.raises(CandleError, match=r"line 8 .*2020-01-11 \(Saturday\) is not an NYSE trading session"):
        read_vendor_csv(path)


def test_ambiguous_day_month_file_is_refused_unless_stated(tmp_path):
    dates = [d for d in SESSIONS if d.day <= 12][:20]
    path = write(tmp_path, csv_text(dates, closes(len(dates)), fmt="%d/%m/%Y"), "AMB.csv")
    with pytest.raises(CandleError, match=r"line 2: ambiguous date '02/01/2020'.*FIN_PIPELINE_CSV_DATE_FORMAT"):
        read_vendor_csv(path)
    df = CsvDirectorySource(tmp_path, date_format="%d/%m/%Y").fetch("AMB", dt.date(2020, 1, 1), dt.date(2020, 12, 31))
    assert [t.date() for t in df["timestamp"].dt.tz_convert("America/New_York")] == [d.date() for d in dates]


def test_unambiguous_day_month_file_is_read(tmp_path):
    path = write(tmp_path, csv_text(SESSIONS, closes(len(SESSIONS)), fmt="%d/%m/%Y"))
    df = read_vendor_csv(path)
    assert df["timestamp"].iloc[-1] == session_timestamps([dt.date(2020, 6, 30)])[0]


def frame(dates, close, timestamps=None) -> pd.DataFrame:
    close = np.asarray(close, dtype=float)
    return pd.DataFrame(
        {
            "timestamp": session_timestamps(dates) if timestamps is None else timestamps,
            "open": close,
            "high": close * 1.01,
            "low": close * 0.99,
            "close": close,
            "volume": 1000.0,
            "vwap": close,
            "transactions": pd.array([10] * len(close), dtype="Int64"),
        }
    )


def test_intraday_bars_are_refused_with_ticker_and_date():
    day = session_timestamps([dt.date(2020, 1, 2)])[0]
    ts = pd.DatetimeIndex([day + pd.Timedelta(hours=9, minutes=30 + m) for m in range(5)])
    df = frame([dt.date(2020, 1, 2)] * 5, closes(5), timestamps=ts)
    with pytest.raises(CandleError, match=r"Polygon X: 2020-01-02: implausible \(daily_bar\).*09:30"):
        validate_candles(df, "Polygon X")


# --- Polygon ---------------------------------------------------------------------------------------------------
PATH = "/v2/aggs/ticker/AAPL/range/1/day/2020-01-02/2020-01-10"


def polygon(httpserver, **kw) -> PolygonSource:
    opts = dict(
        api_key="test-key-0001",
        base_url=httpserver.url_for("/").rstrip("/"),
        requests_per_minute=0,
        connect_timeout=2.0,
        read_timeout=5.0,
        max_retries=2,
        backoff_factor=0,
    )
    return PolygonSource(**(opts | kw))


def bars(timestamps_ms, close) -> dict:
    results = [
        {"o": c, "h": c * 1.01, "l": c * 0.99, "c": c, "v": 1000, "vw": c, "n": 5, "t": int(t)}
        for t, c in zip(timestamps_ms, close, strict=True)
    ]
    return {"status": "OK", "resultsCount": len(results), "results": results}


def test_polygon_intraday_bars_refused(httpserver):
    day = session_timestamps([dt.date(2020, 1, 2)])[0].value // 10**6
    ms = [day + (9 * 60 + 30 + m) * 60_000 for m in range(300)]
    httpserver.expect_request(PATH).respond_with_json(bars(ms, closes(300)))
    with pytest.raises(CandleError, match=r"Polygon AAPL: 2020-01-02: implausible \(daily_bar\).*300 such bar"):
        polygon(httpserver).fetch("AAPL", dt.date(2020, 1, 2), dt.date(2020, 1, 10))


@pytest.mark.parametrize("t", [10**17, -(10**15), 5])
def test_polygon_out_of_range_timestamp_is_a_clear_non_retried_error(httpserver, t):
    httpserver.expect_request(PATH).respond_with_json(bars([t], [100.0]))
    with pytest.raises(SourceError, match=rf"AAPL: malformed response \(page 1\): bar 0 has timestamp t={t} ms") as e:
        polygon(httpserver).fetch("AAPL", dt.date(2020, 1, 2), dt.date(2020, 1, 10))
    assert not e.value.transient
    assert len(httpserver.log) == 1


def test_polygon_trickling_reply_is_cut_off_at_the_deadline(httpserver):
    def trickle(request):
        def body():
            yield b'{"status": "OK", '
            for _ in range(100):
                time.sleep(0.5)  # below the read timeout: only an overall deadline stops it
                yield b" "

        return Response(body(), content_type="application/json")

    httpserver.expect_request(PATH).respond_with_handler(trickle)
    src = polygon(httpserver, read_timeout=2.0, request_deadline=1.5, ticker_deadline=10)
    t0 = time.monotonic()
    with pytest.raises(SourceError, match=r"overall deadline of 1.5 s per request passed") as e:
        src.fetch("AAPL", dt.date(2020, 1, 2), dt.date(2020, 1, 10))
    assert time.monotonic() - t0 < 3.0
    assert not e.value.transient  # the ticker's time budget is spent; no orchestration retry multiplies it
