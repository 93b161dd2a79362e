"""Execution timing: the books, the target and the IC earn the return a run after the close can trade.

The expected values are computed here by hand from the stored opens and closes (plain loops over the prices),
never by the functions under test.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fin_pipeline.backtest import backtest, buy_and_hold, summary
from fin_pipeline.backtest.statistics import forecast_statistics
from fin_pipeline.core.choices import EXECUTIONS, NOT_EXECUTABLE
from fin_pipeline.sources.execution import ExecutionError, check_execution, describe, executable_returns

# 3 tickers x 6 sessions of stored prices; the books are decided on the first 4 (days 0..3): under next_open the
# book of day 3 is bought at the open of day 4 and sold at the open of day 5, the last stored price.
DAYS = pd.bdate_range("2024-03-04", periods=6)
OPENS = {
    "AAA": [10.0, 10.4, 10.1, 10.9, 11.3, 11.0],
    "BBB": [50.0, 49.0, 49.5, 51.0, 50.2, 52.0],
    "CCC": [20.0, 20.6, 21.2, 20.8, 20.1, 20.5],
}
CLOSES = {
    "AAA": [10.2, 10.3, 10.6, 11.0, 11.2, 11.1],
    "BBB": [49.6, 49.2, 50.4, 50.8, 51.1, 51.9],
    "CCC": [20.3, 21.0, 21.1, 20.5, 20.3, 20.7],
}
# The model's signs on the 4 decision days (rows: days, columns: AAA, BBB, CCC).
SIGNS = [[1, -1, 1], [-1, 1, 1], [1, 1, -1], [-1, -1, 1]]


def candles(ticker: str) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": DAYS, "open": OPENS[ticker], "close": CLOSES[ticker]})


def predictions(execution: str) -> pd.DataFrame:
    """The 4 decision days' rows with the stored target and next_return of ``execution`` (h = 1)."""
    rows = []
    for j, ticker in enumerate(OPENS):
        ret = executable_returns(candles(ticker), 1, execution, ticker)
        for day in range(4):
            rows.append((DAYS[day], ticker, float(ret.target[day]), float(ret.next_return[day]), SIGNS[day][j]))
    return pd.DataFrame(rows, columns=["date", "ticker", "target", "next_return", "model"])


@pytest.mark.parametrize(("execution", "prices", "lag"), [("next_open", OPENS, 1), ("next_close", CLOSES, 1)])
def test_book_returns_equal_a_hand_computation_from_the_stored_prices(execution, prices, lag):
    result = backtest(predictions(execution), "model", cost_bps=10.0)
    daily = result.daily.set_index("date")
    previous = [0.0, 0.0, 0.0]
    for day in range(4):
        weights = [s / 3 for s in SIGNS[day]]  # sign book, 3 tickers: w = sign / N
        # held from P[day + lag] to P[day + lag + 1]: open t+1 -> open t+2 (next_open), close t+1 -> close t+2
        gross = sum(
            w * (prices[t][day + lag + 1] / prices[t][day + lag] - 1.0) for w, t in zip(weights, prices, strict=True)
        )
        turnover = sum(abs(w - p) for w, p in zip(weights, previous, strict=True))
        previous = weights
        row = daily.loc[DAYS[day]]
        assert row["gross_return"] == pytest.approx(gross, rel=1e-6, abs=1e-9), (execution, day)
        assert row["turnover"] == pytest.approx(turnover)
        assert row["net_return"] == pytest.approx(gross - turnover * 10.0 / 1e4, rel=1e-6, abs=1e-9)
    # buy-and-hold follows the same timing: 1/3 of each ticker from P[t + lag] to P[t + lag + 1]
    bh = buy_and_hold(predictions(execution), cost_bps=0.0).daily.set_index("date")
    for day in range(4):
        want = sum(prices[t][day + lag + 1] / prices[t][day + lag] - 1.0 for t in prices) / 3
        assert bh.loc[DAYS[day], "gross_return"] == pytest.approx(want, rel=1e-6)


def test_the_close_convention_keeps_the_close_to_close_return():
    daily = backtest(predictions("close"), "model", cost_bps=0.0).daily.set_index("date")
    for day in range(4):
        want = sum(s / 3 * (CLOSES[t][day + 1] / CLOSES[t][day] - 1.0) for s, t in zip(SIGNS[day], CLOSES, strict=True))
        assert daily.loc[DAYS[day], "gross_return"] == pytest.approx(want, rel=1e-6, abs=1e-7)  # float32 returns


def test_the_target_of_next_open_spans_h_sessions_open_to_open_after_the_entry():
    ret = executable_returns(candles("BBB"), 3, "next_open", "BBB")
    opens = OPENS["BBB"]
    assert ret.target[0] == pytest.approx(math.log(opens[4] / opens[1]), rel=1e-6)  # open 1 -> open 4
    assert ret.target[1] == pytest.approx(math.log(opens[5] / opens[2]), rel=1e-6)
    assert np.isnan(ret.target[2:]).all()  # open 6 is not stored yet: unknown, not zero
    assert ret.next_return[3] == pytest.approx(math.log(opens[5] / opens[4]), rel=1e-6)
    assert np.isnan(ret.next_return[4:]).all()


# --- all the predictable move overnight --------------------------------------------------------------------------


def overnight_market(execution: str, tickers: int = 20, days: int = 500, seed: int = 4) -> pd.DataFrame:
    """A signal s known at close t moves every stock overnight (close t -> open t+1) by 1% x s; the rest of the day
    is noise. Hand-made candles (opens and closes), their targets under ``execution``, and a perfect close-time
    predictor of the overnight move."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2022-01-03", periods=days + 3)
    rows = []
    for i in range(tickers):
        signal = rng.standard_normal(len(dates))
        log_open, log_close = np.empty(len(dates)), np.empty(len(dates))
        log_open[0], log_close[0] = math.log(50.0), math.log(50.0)
        for t in range(1, len(dates)):
            log_open[t] = log_close[t - 1] + 0.01 * signal[t - 1]  # the predictable move: overnight
            log_close[t] = log_open[t] + 0.01 * rng.standard_normal()  # unpredictable intraday
        frame = pd.DataFrame({"timestamp": dates, "open": np.exp(log_open), "close": np.exp(log_close)})
        ret = executable_returns(frame, 1, execution, f"T{i}")
        rows.append(
            pd.DataFrame(
                {
                    "date": dates[:days],
                    "ticker": f"T{i}",
                    "target": ret.target[:days].astype(np.float64),
                    "next_return": ret.next_return[:days].astype(np.float64),
                    "model": signal[:days],
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def test_an_overnight_signal_earns_under_close_and_nothing_from_the_next_open():
    close = overnight_market("close")
    next_open = overnight_market("next_open")
    close_stats = forecast_statistics(close, ["model"], 1).loc["model"]
    open_stats = forecast_statistics(next_open, ["model"], 1).loc["model"]
    assert close_stats["ic_nw_t"] > 20  # close t -> close t+1 contains the overnight move the signal knows
    assert abs(open_stats["ic_nw_t"]) < 2  # bought at the next open, after the move: no skill
    close_sharpe = summary(backtest(close, "model", cost_bps=0.0))["sharpe"]
    open_sharpe = summary(backtest(next_open, "model", cost_bps=0.0))["sharpe"]
    assert close_sharpe > 5, close_sharpe
    # 500 days: the standard error of an annualized Sharpe is about sqrt(252 / 500) = 0.71
    assert abs(open_sharpe) < 2 * math.sqrt(252 / 500), open_sharpe


# --- bad input -----------------------------------------------------------------------------------------------------


def test_an_unknown_execution_names_the_setting():
    with pytest.raises(ExecutionError, match=r"execution='tomorrow' is not one of \['next_open'"):
        check_execution("tomorrow")
    with pytest.raises(ExecutionError, match="FIN_PIPELINE_EXECUTION='x'"):
        check_execution("x", "FIN_PIPELINE_EXECUTION")
    assert NOT_EXECUTABLE in describe("close") and NOT_EXECUTABLE not in describe("next_open")
    assert {check_execution(e) for e in EXECUTIONS} == set(EXECUTIONS)


def test_candles_without_opens_are_refused_for_next_open_only():
    no_opens = candles("AAA").drop(columns="open")
    with pytest.raises(ExecutionError, match=r"AAA\.csv: no 'open' prices.*next_open.*FIN_PIPELINE_EXECUTION"):
        executable_returns(no_opens, 1, "next_open", "AAA.csv")
    blank = candles("AAA").assign(open=np.nan)  # an Open column of blanks: no opens either
    with pytest.raises(ExecutionError, match=r"AAA: no 'open' price on any of its 6 day\(s\).*FIN_PIPELINE_EXECUTION"):
        executable_returns(blank, 1, "next_open", "AAA")
    ret = executable_returns(no_opens, 1, "next_close", "AAA.csv")  # the closes are enough there
    assert ret.target[0] == pytest.approx(math.log(CLOSES["AAA"][2] / CLOSES["AAA"][1]), rel=1e-6)


def test_a_zero_or_missing_open_is_not_traded_and_is_counted():
    frame = candles("AAA")
    frame.loc[2, "open"] = 0.0  # a vendor's missing open
    frame.loc[4, "open"] = np.nan
    ret = executable_returns(frame, 1, "next_open", "AAA")
    assert ret.untradable == 2
    # row t enters at open t+1 and exits at open t+2: rows 0, 1 (open 2) and 2, 3 (open 4) cannot be traded
    assert np.isnan(ret.next_return[:4]).all() and np.isnan(ret.target[:4]).all()
    opens = OPENS["AAA"]
    clean = executable_returns(candles("AAA"), 1, "next_open", "AAA")
    assert clean.untradable == 0 and clean.next_return[0] == pytest.approx(math.log(opens[2] / opens[1]), rel=1e-6)
