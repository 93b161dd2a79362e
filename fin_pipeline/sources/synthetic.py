"""SYNTHETIC daily candles: a simulated stock market (simulated, not real prices), the default offline source.

Nothing this module returns is a real price. The bars are *simulated* — they look like a stock's daily
candles (fat tails, volatility clustering, correlated tickers, gaps, volume that rises with volatility),
so the pipeline can run, train and be tested with no network and no API key, but they say nothing about
any real company that happens to share a ticker symbol.

The model (all returns are daily log returns, one step per NYSE session)::

    market:  m_t = mu_m + sigma_m,t * zm_t + J^m_t
    ticker:  r_t = alpha + beta * m_t + sigma_t * z_t + J_t
    close:   d_t = r_t                                                   (no planted signal: the default)
             d_t = mu + c' * (d_{t-1} - mu) + sqrt(1 - c'**2) * (r_t - mu)  (planted signal: sources/planted.py)

where ``d_t = log(close_t / close_{t-1})`` is the realized return (before the tiny pull to the trend line
below), and ``mu`` the ticker's expected daily log return.

* **Stochastic volatility** (a discrete-time log-variance model, the log-normal cousin of Heston): each
  of the market and the ticker has ``sigma_t = sigma_bar * exp(x_t - s**2)`` where the log-vol
  ``x_t = phi * x_{t-1} + sqrt(1 - phi**2) * s * (rho * z_{t-1} + sqrt(1 - rho**2) * w_t)`` is a
  mean-reverting AR(1) with stationary standard deviation ``s`` (the vol of vol) and persistence ``phi``;
  ``rho < 0`` is the leverage effect (a down day raises tomorrow's volatility). ``E[sigma_t**2]`` is
  ``sigma_bar**2``.
* **Merton jumps**: ``J_t`` is the sum of ``N_t ~ Poisson(lambda)`` normal jump sizes; the market has rare,
  negative-mean crash jumps, every ticker its own idiosyncratic jumps.
* **Cross-ticker correlation** through the common market factor ``m_t``, whose shocks come from random
  streams keyed by the seed alone, so every ticker of one :class:`SyntheticMarket` sees the same market; a
  per-ticker ``beta`` in [0.6, 1.4] loads on it. ``alpha`` is a small per-ticker drift.
* A weak pull of the log price toward the ticker's trend line ``log(start) + E[r] * t`` (half-life about
  14 years, a few basis points a day at most) keeps prices plausible over decades.
* Per-ticker parameters (beta, idiosyncratic vol, drift, jump rate and size, vol persistence, vol of vol,
  leverage, start price 20–300, base volume 1e6–5e7, average trade size) come from the seed and a stable
  CRC-32 of the ticker; total annualised volatility lands roughly between 15% and 45%.

**Planted signal** (``signal_ic = c`` in ``[0, 0.5)``, off by default): a predictable component of known
strength, for checking that the pipeline finds a signal that is known to exist; the model, why its IC is ``c``
for the return the default execution earns, and what the other executions see are in
:mod:`fin_pipeline.sources.planted`. With ``c = 0`` every bar is bit-identical to the unplanted market's.

Intraday: ``open`` is the previous close times ``exp(overnight gap)``: every stock has an overnight gap, so the
close-to-close return is not what a book bought at the next open earns. Unplanted, the gap is a share (20-45%,
per ticker) of the day's return plus noise of 0.3 x the day's volatility; planted, it is independent of the
closes (:mod:`fin_pipeline.sources.planted`). ``close`` follows the day's return; ``high``/``low`` extend beyond
``max``/``min(open, close)`` by positive random amounts scaled by the day's volatility (so ``low < min(open,
close) <= max(open, close) < high``); ``vwap`` is a random mix of the typical price and the body mid-point,
inside ``[low, high]``; ``volume`` is log-normal around the ticker's base, higher on volatile days and on big
moves; ``transactions`` is volume over a noisy average trade size.

Range independence: every ticker is simulated from one fixed origin (:data:`ORIGIN`, 1990-01-02) over the
NYSE sessions, and its random numbers are drawn in per-calendar-year blocks from
``np.random.default_rng([seed, crc32(ticker), year, stream])``, one slot per day of the year. The bar of a
given ticker and date therefore does not depend on the range asked for: a fetch of one day, of a decade,
or a nightly increment give bit-identical bars where they overlap. There are no bars before the origin
and none after ``as_of`` (default: today): the future has not been simulated yet.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import math
import re
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fin_pipeline.core.calendar import nyse_sessions
from fin_pipeline.sources.base import (
    CandleError,
    CandleSource,
    empty_candles,
    session_timestamps,
    to_raw_schema,
    validate_candles,
)
from fin_pipeline.sources.planted import (  # noqa: F401  (MAX_SIGNAL_IC and check_signal_ic: re-exported)
    MAX_SIGNAL_IC,
    check_signal_ic,
    close_loading,
    overnight_gap,
)
from fin_pipeline.sources.planted import deviation as _planted_deviation

#: First simulated session; every ticker's history starts here.
ORIGIN = dt.date(1990, 1, 2)
_TRADING_DAYS = 252
_SLOTS = 366  # random-number slots per calendar year, indexed by day of year
_TICKER_RE = re.compile(r"[A-Za-z0-9.\-]+")

# Random stream ids (the last entropy word). The market's streams are keyed by the seed only.
_STREAM_PARAMS = 0
_STREAM_TICKER = 1
_STREAM_MARKET = 2
_MARKET_KEY = 0x4D4B5400  # stands in for a ticker key in the market's entropy; its stream id differs anyway
_STREAM_MARKET_GAP = 3  # the market's overnight shocks of the planted market (drawn only when a signal is planted)

# The market factor (annualised where it says so).
_MARKET_VOL = 0.16  # diffusive vol, annualised
_MARKET_PHI = 0.985
_MARKET_VOL_OF_VOL = 0.45
_MARKET_RHO = -0.6
_MARKET_JUMPS_PER_YEAR = 1.0
_MARKET_JUMP_MEAN = -0.03
_MARKET_JUMP_SD = 0.04
_MARKET_DRIFT = 0.04  # expected log return per year, jumps included
# Daily pull of a ticker's log price back toward its trend line (half-life ~14 years): a nudge of a few
# basis points a day at most, invisible in daily returns, that keeps 36-year price paths plausible.
_PRICE_PULL = 1.0 / (20 * 252)


def ticker_key(ticker: str) -> int:
    """The stable 32-bit key of a ticker (CRC-32 of the upper-cased symbol; never Python's ``hash``)."""
    return zlib.crc32(ticker.upper().encode("ascii"))


def _check_ticker(ticker: object) -> str:
    if not isinstance(ticker, str) or not _TICKER_RE.fullmatch(ticker):
        raise CandleError(
            f"synthetic: invalid ticker {ticker!r}: need a non-empty symbol of letters, digits, '.' or '-'"
        )
    return ticker


@dataclass(frozen=True)
class _Grid:
    """All NYSE sessions from the origin through 31 December of one year, and their random-number slots."""

    sessions: pd.DatetimeIndex
    utc_naive: np.ndarray  # session start (midnight New York) as naive UTC datetime64[ns]
    slot: np.ndarray  # (year - origin year) * 366 + day of year - 1
    n_years: int


@functools.lru_cache(maxsize=8)
def _grid(last_year: int) -> _Grid:
    sessions = nyse_sessions(ORIGIN, dt.date(last_year, 12, 31))
    slot = (sessions.year.to_numpy() - ORIGIN.year).astype(np.int64) * _SLOTS + sessions.day_of_year.to_numpy() - 1
    slot.setflags(write=False)
    # Naive UTC values: to_raw_schema turns a tz-aware column into Python objects (slow), these it localises.
    utc_naive = session_timestamps(sessions).tz_localize(None).to_numpy()
    utc_naive.setflags(write=False)
    return _Grid(sessions, utc_naive, slot, last_year - ORIGIN.year + 1)


def _ar1(innovations: np.ndarray, phi: float) -> np.ndarray:
    """``x_t = phi * x_{t-1} + e_t`` with ``x_0 = e_0`` (the one sequential step; ~1 ms per 10k days)."""
    step = functools.partial(_ar1_step, phi)
    return np.fromiter(itertools.accumulate(innovations.tolist(), step), dtype=np.float64, count=len(innovations))


def _ar1_step(phi: float, prev: float, e: float) -> float:
    return phi * prev + e


def _log_vol(z: np.ndarray, w: np.ndarray, phi: float, s: float, rho: float) -> np.ndarray:
    """Stationary log-vol AR(1) with leverage: ``z`` are the return shocks, ``w`` the vol's own shocks."""
    e = np.empty_like(w)
    e[0] = s * w[0]  # start from the stationary distribution
    e[1:] = math.sqrt(1.0 - phi * phi) * s * (rho * z[:-1] + math.sqrt(1.0 - rho * rho) * w[1:])
    return _ar1(e, phi)


def _jumps(counts: np.ndarray, z: np.ndarray, mean: float, sd: float) -> np.ndarray:
    """Sum of ``counts`` independent N(mean, sd²) jumps, given one standard normal per day."""
    n = counts.astype(np.float64)
    return n * mean + np.sqrt(n) * sd * z


@dataclass(frozen=True)
class _Market:
    ret: np.ndarray  # daily log return of the market factor
    vol: np.ndarray  # daily diffusive vol


@functools.lru_cache(maxsize=16)
def _market(seed: int, last_year: int) -> _Market:
    grid = _grid(last_year)
    normals = np.empty((grid.n_years, 3, _SLOTS))
    counts = np.empty((grid.n_years, _SLOTS), dtype=np.int64)
    lam = _MARKET_JUMPS_PER_YEAR / _TRADING_DAYS
    for i in range(grid.n_years):
        rng = np.random.default_rng([seed, _MARKET_KEY, ORIGIN.year + i, _STREAM_MARKET])
        rng.standard_normal(out=normals[i])
        counts[i] = rng.poisson(lam, _SLOTS)
    flat = normals.transpose(1, 0, 2).reshape(3, -1)[:, grid.slot]
    z, w, jz = flat
    n = counts.reshape(-1)[grid.slot]

    s = _MARKET_VOL_OF_VOL
    vol = (_MARKET_VOL / math.sqrt(_TRADING_DAYS)) * np.exp(_log_vol(z, w, _MARKET_PHI, s, _MARKET_RHO) - s * s)
    drift = (_MARKET_DRIFT - _MARKET_JUMPS_PER_YEAR * _MARKET_JUMP_MEAN) / _TRADING_DAYS
    ret = drift + vol * z + _jumps(n, jz, _MARKET_JUMP_MEAN, _MARKET_JUMP_SD)
    ret.setflags(write=False)
    vol.setflags(write=False)
    return _Market(ret, vol)


@functools.lru_cache(maxsize=16)
def _market_gap(seed: int, last_year: int) -> np.ndarray:
    """One standard normal per session for the market's overnight shock (the planted market only)."""
    grid = _grid(last_year)
    normals = np.empty((grid.n_years, _SLOTS))
    for i in range(grid.n_years):
        np.random.default_rng([seed, _MARKET_KEY, ORIGIN.year + i, _STREAM_MARKET_GAP]).standard_normal(out=normals[i])
    z = normals.reshape(-1)[grid.slot]
    z.setflags(write=False)
    return z


@dataclass(frozen=True)
class TickerParams:
    """The per-ticker constants of the simulation (annualised where the name says so)."""

    beta: float
    idio_vol_annual: float
    drift_annual: float
    vol_phi: float
    vol_of_vol: float
    leverage_rho: float
    jumps_per_year: float
    jump_mean: float
    jump_sd: float
    gap_share: float
    start_price: float
    base_volume: float
    trade_size: float


def ticker_params(seed: int, ticker: str) -> TickerParams:
    """Deterministic parameters of one ticker under one seed."""
    rng = np.random.default_rng([seed, ticker_key(_check_ticker(ticker)), 0, _STREAM_PARAMS])
    u = rng.random(13)
    return TickerParams(
        beta=0.6 + 0.8 * u[0],
        idio_vol_annual=0.10 + 0.22 * u[1],
        drift_annual=-0.03 + 0.05 * u[2],
        vol_phi=0.97 + 0.02 * u[3],
        vol_of_vol=0.40 + 0.20 * u[4],
        leverage_rho=-0.6 + 0.4 * u[5],
        jumps_per_year=2.0 + 4.0 * u[6],
        jump_mean=-0.01 + 0.015 * u[7],
        jump_sd=0.03 + 0.03 * u[8],
        gap_share=0.2 + 0.25 * u[9],
        start_price=float(np.exp(np.log(20.0) + (np.log(300.0) - np.log(20.0)) * u[10])),
        base_volume=float(np.exp(np.log(1e6) + (np.log(5e7) - np.log(1e6)) * u[11])),
        trade_size=80.0 + 320.0 * u[12],
    )


def _diffusive_variance(p: TickerParams) -> float:
    """``E[day_vol**2]``: the ticker's mean daily diffusive variance (``E[sigma_t**2] = sigma_bar**2`` for each)."""
    return (p.beta**2 * _MARKET_VOL**2 + p.idio_vol_annual**2) / _TRADING_DAYS


def _return_variance(p: TickerParams) -> float:
    """The stationary variance of the ticker's daily log return: diffusive plus the market's and its own jumps."""
    market_jumps = _MARKET_JUMPS_PER_YEAR * (_MARKET_JUMP_MEAN**2 + _MARKET_JUMP_SD**2)
    own_jumps = p.jumps_per_year * (p.jump_mean**2 + p.jump_sd**2)
    return _diffusive_variance(p) + (p.beta**2 * market_jumps + own_jumps) / _TRADING_DAYS


class SyntheticMarket(CandleSource):
    """SYNTHETIC candles: simulated, not real prices (see the module docstring for the model).

    Deterministic per ``(seed, ticker)`` and independent of the range asked for, so incremental fetches
    merge cleanly with stored history. Ticker symbols are case-insensitive (``aapl`` is ``AAPL``).

    Args:
        seed: selects the simulated universe; the same seed always gives the same bars.
        as_of: last date with bars (default: today, read at each fetch). Later dates are the future and
            have no bars; moving ``as_of`` forward appends bars without changing earlier ones.
        signal_ic: the planted information coefficient ``c`` of ``ret_1d`` (today's log return) for the
            open-to-open log return from the next open to the one after (what a ``next_open`` book earns), in
            ``[0, 0.5)``; 0 (the default) plants nothing (:mod:`fin_pipeline.sources.planted`).
    """

    name = "synthetic"

    def __init__(self, seed: int = 7, as_of: dt.date | None = None, signal_ic: float = 0.0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"synthetic: seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        self.as_of = None if as_of is None else pd.Timestamp(as_of).date()
        self.signal_ic = check_signal_ic(signal_ic)

    def describe(self) -> str:
        as_of = "" if self.as_of is None else f", as_of={self.as_of}"
        signal = f", planted signal_ic={self.signal_ic:g} on ret_1d" if self.signal_ic > 0 else ""
        return f"synthetic (simulated prices, not real; seed={self.seed}{as_of}{signal})"

    def fetch(self, ticker: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        ticker = _check_ticker(ticker)
        start, end = pd.Timestamp(start).date(), pd.Timestamp(end).date()
        end = min(end, self.as_of or dt.date.today())
        start = max(start, ORIGIN)
        if start > end:
            return empty_candles()

        grid = _grid(end.year)
        lo = grid.sessions.searchsorted(pd.Timestamp(start))
        hi = grid.sessions.searchsorted(pd.Timestamp(end), side="right")
        if lo >= hi:
            return empty_candles()
        bars = self._simulate(ticker, end.year)
        df = pd.DataFrame({"timestamp": grid.utc_naive[lo:hi], **{k: v[lo:hi] for k, v in bars.items()}})
        df = to_raw_schema(df)
        validate_candles(df, f"synthetic {ticker}")
        return df

    def _simulate(self, ticker: str, last_year: int) -> dict[str, np.ndarray]:
        """Every bar of ``ticker`` from the origin through 31 December of ``last_year``."""
        p = ticker_params(self.seed, ticker)
        grid = _grid(last_year)
        market = _market(self.seed, last_year)
        key = ticker_key(ticker)

        # One generator per calendar year, a fixed layout of draws per day-of-year slot.
        normals = np.empty((grid.n_years, 6, _SLOTS))
        expos = np.empty((grid.n_years, 2, _SLOTS))
        unif = np.empty((grid.n_years, _SLOTS))
        counts = np.empty((grid.n_years, _SLOTS), dtype=np.int64)
        lam = p.jumps_per_year / _TRADING_DAYS
        for i in range(grid.n_years):
            rng = np.random.default_rng([self.seed, key, ORIGIN.year + i, _STREAM_TICKER])
            rng.standard_normal(out=normals[i])
            rng.standard_exponential(out=expos[i])
            rng.random(out=unif[i])
            counts[i] = rng.poisson(lam, _SLOTS)  # last: its consumption of bits varies
        z, w, gap_z, vol_z, jump_z, trade_z = normals.transpose(1, 0, 2).reshape(6, -1)[:, grid.slot]
        ext_hi, ext_lo = expos.transpose(1, 0, 2).reshape(2, -1)[:, grid.slot]
        mix = unif.reshape(-1)[grid.slot]
        n_jumps = counts.reshape(-1)[grid.slot]

        # Returns.
        s = p.vol_of_vol
        idio_bar = p.idio_vol_annual / math.sqrt(_TRADING_DAYS)
        idio_vol = idio_bar * np.exp(_log_vol(z, w, p.vol_phi, s, p.leverage_rho) - s * s)
        drift = (p.drift_annual - p.jumps_per_year * p.jump_mean) / _TRADING_DAYS
        ret = drift + p.beta * market.ret + idio_vol * z + _jumps(n_jumps, jump_z, p.jump_mean, p.jump_sd)
        day_vol = np.sqrt((p.beta * market.vol) ** 2 + idio_vol**2)  # the day's diffusive vol

        # Log close: the trend line plus a deviation that the weak pull drags back (keeps prices plausible).
        trend = (p.drift_annual + p.beta * _MARKET_DRIFT) / _TRADING_DAYS  # expected daily log return
        log_start = math.log(p.start_price)
        planted = self.signal_ic > 0.0
        if planted:
            close_ic = close_loading(self.signal_ic)
            deviation = _planted_deviation(ret, trend, close_ic, _PRICE_PULL)
            log_close = log_start + trend * np.arange(1, len(ret) + 1) + deviation
        else:  # the unplanted market, bit for bit as it always was
            log_close = log_start + trend * np.arange(1, len(ret) + 1) + _ar1(ret - trend, 1.0 - _PRICE_PULL)
        prev_close = np.empty_like(log_close)
        prev_close[0] = log_start
        prev_close[1:] = log_close[:-1]
        day_ret = log_close - prev_close

        # Open = previous close * exp(overnight gap); high/low strictly beyond the body.
        if planted:  # a gap of its own, independent of the closes (the module docstring says why)
            share = _return_variance(p) / _diffusive_variance(p)  # the jumps' share spread over the gap's parts
            market_part = p.beta * market.vol * _market_gap(self.seed, last_year)
            log_open = prev_close + overnight_gap(market_part, idio_vol * gap_z, share)
        else:
            log_open = prev_close + p.gap_share * day_ret + 0.3 * day_vol * gap_z
        log_high = np.maximum(log_open, log_close) + day_vol * (0.05 + 0.45 * ext_hi)
        log_low = np.minimum(log_open, log_close) - day_vol * (0.05 + 0.45 * ext_lo)
        open_, high, low, close = np.exp(log_open), np.exp(log_high), np.exp(log_low), np.exp(log_close)
        vwap = mix * (high + low + close) / 3.0 + (1.0 - mix) * (open_ + close) / 2.0
        vwap = np.clip(vwap, low, high)  # a convex mix already is; clip absorbs round-off

        # Volume: log-normal around the base, up with the vol level and with the size of the move.
        typical_vol = math.sqrt((p.beta * _MARKET_VOL) ** 2 + p.idio_vol_annual**2) / math.sqrt(_TRADING_DAYS)
        surprise = np.minimum(np.abs(ret - drift) / day_vol, 8.0)
        log_volume = (
            math.log(p.base_volume)
            + 0.6 * np.log(day_vol / typical_vol)
            + 0.3 * (surprise - 0.8)
            + 0.35 * vol_z
            - 0.35**2 / 2
        )
        volume = np.maximum(np.rint(np.exp(log_volume)), 1.0)
        transactions = np.maximum(np.rint(volume / (p.trade_size * np.exp(0.15 * trade_z))), 1.0)
        return {
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
            "vwap": vwap,
            "transactions": transactions,
        }
