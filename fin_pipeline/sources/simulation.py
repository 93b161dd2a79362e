"""The synthetic market's building blocks: random streams per calendar year, the market factor, each ticker's
constants, and the stochastic-volatility and jump processes (simulated prices only).

:mod:`fin_pipeline.sources.synthetic` states the model and turns these into bars. Every random number is drawn
from ``np.random.default_rng([seed, key, year, stream])``, one slot per day of the year, so a bar never depends
on the range asked for.
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
from fin_pipeline.sources.base import CandleError, session_timestamps

#: First simulated session; every ticker's history starts here.
ORIGIN = dt.date(1990, 1, 2)
TRADING_DAYS = 252
SLOTS = 366  # random-number slots per calendar year, indexed by day of year
_TICKER_RE = re.compile(r"[A-Za-z0-9.\-]+")

# Random stream ids (the last entropy word). The market's streams are keyed by the seed only.
_STREAM_PARAMS = 0
STREAM_TICKER = 1
_STREAM_MARKET = 2
_MARKET_KEY = 0x4D4B5400  # stands in for a ticker key in the market's entropy; its stream id differs anyway
_STREAM_MARKET_GAP = 3  # the market's overnight shocks of the planted market (drawn only when a signal is planted)

# The market factor (annualised where it says so).
MARKET_VOL = 0.16  # diffusive vol, annualised
_MARKET_PHI = 0.985
_MARKET_VOL_OF_VOL = 0.45
_MARKET_RHO = -0.6
_MARKET_JUMPS_PER_YEAR = 1.0
_MARKET_JUMP_MEAN = -0.03
_MARKET_JUMP_SD = 0.04
MARKET_DRIFT = 0.04  # expected log return per year, jumps included
# Daily pull of a ticker's log price back toward its trend line (half-life ~14 years): a nudge of a few
# basis points a day at most, invisible in daily returns, that keeps 36-year price paths plausible.
PRICE_PULL = 1.0 / (20 * 252)


def ticker_key(ticker: str) -> int:
    """The stable 32-bit key of a ticker (CRC-32 of the upper-cased symbol; never Python's ``hash``)."""
    return zlib.crc32(ticker.upper().encode("ascii"))


def check_ticker(ticker: object) -> str:
    if not isinstance(ticker, str) or not _TICKER_RE.fullmatch(ticker):
        raise CandleError(
            f"synthetic: invalid ticker {ticker!r}: need a non-empty symbol of letters, digits, '.' or '-'"
        )
    return ticker


@dataclass(frozen=True)
class Grid:
    """All NYSE sessions from the origin through 31 December of one year, and their random-number slots."""

    sessions: pd.DatetimeIndex
    utc_naive: np.ndarray  # session start (midnight New York) as naive UTC datetime64[ns]
    slot: np.ndarray  # (year - origin year) * 366 + day of year - 1
    n_years: int


@functools.lru_cache(maxsize=8)
def session_grid(last_year: int) -> Grid:
    sessions = nyse_sessions(ORIGIN, dt.date(last_year, 12, 31))
    slot = (sessions.year.to_numpy() - ORIGIN.year).astype(np.int64) * SLOTS + sessions.day_of_year.to_numpy() - 1
    slot.setflags(write=False)
    # Naive UTC values: to_raw_schema turns a tz-aware column into Python objects (slow), these it localises.
    utc_naive = session_timestamps(sessions).tz_localize(None).to_numpy()
    utc_naive.setflags(write=False)
    return Grid(sessions, utc_naive, slot, last_year - ORIGIN.year + 1)


def ar1(innovations: np.ndarray, phi: float) -> np.ndarray:
    """``x_t = phi * x_{t-1} + e_t`` with ``x_0 = e_0`` (the one sequential step; ~1 ms per 10k days)."""
    step = functools.partial(_ar1_step, phi)
    return np.fromiter(itertools.accumulate(innovations.tolist(), step), dtype=np.float64, count=len(innovations))


def _ar1_step(phi: float, prev: float, e: float) -> float:
    return phi * prev + e


def log_vol(z: np.ndarray, w: np.ndarray, phi: float, s: float, rho: float) -> np.ndarray:
    """Stationary log-vol AR(1) with leverage: ``z`` are the return shocks, ``w`` the vol's own shocks."""
    e = np.empty_like(w)
    e[0] = s * w[0]  # start from the stationary distribution
    e[1:] = math.sqrt(1.0 - phi * phi) * s * (rho * z[:-1] + math.sqrt(1.0 - rho * rho) * w[1:])
    return ar1(e, phi)


def jumps(counts: np.ndarray, z: np.ndarray, mean: float, sd: float) -> np.ndarray:
    """Sum of ``counts`` independent N(mean, sd²) jumps, given one standard normal per day."""
    n = counts.astype(np.float64)
    return n * mean + np.sqrt(n) * sd * z


@dataclass(frozen=True)
class Market:
    ret: np.ndarray  # daily log return of the market factor
    vol: np.ndarray  # daily diffusive vol


@functools.lru_cache(maxsize=16)
def market_factor(seed: int, last_year: int) -> Market:
    grid = session_grid(last_year)
    normals = np.empty((grid.n_years, 3, SLOTS))
    counts = np.empty((grid.n_years, SLOTS), dtype=np.int64)
    lam = _MARKET_JUMPS_PER_YEAR / TRADING_DAYS
    for i in range(grid.n_years):
        rng = np.random.default_rng([seed, _MARKET_KEY, ORIGIN.year + i, _STREAM_MARKET])
        rng.standard_normal(out=normals[i])
        counts[i] = rng.poisson(lam, SLOTS)
    flat = normals.transpose(1, 0, 2).reshape(3, -1)[:, grid.slot]
    z, w, jz = flat
    n = counts.reshape(-1)[grid.slot]

    s = _MARKET_VOL_OF_VOL
    vol = (MARKET_VOL / math.sqrt(TRADING_DAYS)) * np.exp(log_vol(z, w, _MARKET_PHI, s, _MARKET_RHO) - s * s)
    drift = (MARKET_DRIFT - _MARKET_JUMPS_PER_YEAR * _MARKET_JUMP_MEAN) / TRADING_DAYS
    ret = drift + vol * z + jumps(n, jz, _MARKET_JUMP_MEAN, _MARKET_JUMP_SD)
    ret.setflags(write=False)
    vol.setflags(write=False)
    return Market(ret, vol)


@functools.lru_cache(maxsize=16)
def market_gap(seed: int, last_year: int) -> np.ndarray:
    """One standard normal per session for the market's overnight shock (the planted market only)."""
    grid = session_grid(last_year)
    normals = np.empty((grid.n_years, SLOTS))
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
    rng = np.random.default_rng([seed, ticker_key(check_ticker(ticker)), 0, _STREAM_PARAMS])
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


def diffusive_variance(p: TickerParams) -> float:
    """``E[day_vol**2]``: the ticker's mean daily diffusive variance (``E[sigma_t**2] = sigma_bar**2`` for each)."""
    return (p.beta**2 * MARKET_VOL**2 + p.idio_vol_annual**2) / TRADING_DAYS


def return_variance(p: TickerParams) -> float:
    """The stationary variance of the ticker's daily log return: diffusive plus the market's and its own jumps."""
    market_jumps = _MARKET_JUMPS_PER_YEAR * (_MARKET_JUMP_MEAN**2 + _MARKET_JUMP_SD**2)
    own_jumps = p.jumps_per_year * (p.jump_mean**2 + p.jump_sd**2)
    return diffusive_variance(p) + (p.beta**2 * market_jumps + own_jumps) / TRADING_DAYS
