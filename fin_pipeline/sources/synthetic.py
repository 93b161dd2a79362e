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
             d_t = ... + e' * S * sign(d_{t-7}) sign(d_{t-10})             (planted temporal signal: the same)

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
:mod:`fin_pipeline.sources.planted`. **Planted temporal signal** (``temporal_ic = e``, off by default): the same
return loads on ``sign(d_{t-6}) sign(d_{t-9})``, a nonlinear pattern of the window's path that no single day's
features carry, with IC ``e`` (same module). With ``c = e = 0`` every bar is bit-identical to the unplanted market's.

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
import math

import numpy as np
import pandas as pd

from fin_pipeline.core.settings import DEFAULT_SEED
from fin_pipeline.sources.base import CandleSource, empty_candles, to_raw_schema, validate_candles
from fin_pipeline.sources.planted import check_signal_ic, close_loading, overnight_gap
from fin_pipeline.sources.planted import deviation as _planted_deviation
from fin_pipeline.sources.simulation import (
    MARKET_DRIFT,
    MARKET_VOL,
    ORIGIN,
    PRICE_PULL,
    SLOTS,
    STREAM_TICKER,
    TRADING_DAYS,
    ar1,
    check_ticker,
    diffusive_variance,
    jumps,
    log_vol,
    market_factor,
    market_gap,
    return_variance,
    session_grid,
    ticker_key,
    ticker_params,
)


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
        temporal_ic: the planted IC ``e`` of the sign pattern ``sign(d_{t-6}) sign(d_{t-9})`` for the same return,
            in ``[0, 0.5)``; 0 (the default) plants nothing.
    """

    name = "synthetic"

    def __init__(
        self, seed: int = DEFAULT_SEED, as_of: dt.date | None = None, signal_ic: float = 0.0, temporal_ic: float = 0.0
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"synthetic: seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        self.as_of = None if as_of is None else pd.Timestamp(as_of).date()
        self.signal_ic = check_signal_ic(signal_ic)
        self.temporal_ic = check_signal_ic(temporal_ic, "temporal_ic")

    def describe(self) -> str:
        as_of = "" if self.as_of is None else f", as_of={self.as_of}"
        signal = f", planted signal_ic={self.signal_ic:g} on ret_1d" if self.signal_ic > 0 else ""
        if self.temporal_ic > 0:
            signal += f", planted temporal_ic={self.temporal_ic:g} on sign(ret_1d[t-6] ret_1d[t-9])"
        return f"synthetic (simulated prices, not real; seed={self.seed}{as_of}{signal})"

    def fetch(self, ticker: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        ticker = check_ticker(ticker)
        start, end = pd.Timestamp(start).date(), pd.Timestamp(end).date()
        end = min(end, self.as_of or dt.date.today())
        start = max(start, ORIGIN)
        if start > end:
            return empty_candles()

        grid = session_grid(end.year)
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
        grid = session_grid(last_year)
        market = market_factor(self.seed, last_year)
        key = ticker_key(ticker)

        # One generator per calendar year, a fixed layout of draws per day-of-year slot.
        normals = np.empty((grid.n_years, 6, SLOTS))
        expos = np.empty((grid.n_years, 2, SLOTS))
        unif = np.empty((grid.n_years, SLOTS))
        counts = np.empty((grid.n_years, SLOTS), dtype=np.int64)
        lam = p.jumps_per_year / TRADING_DAYS
        for i in range(grid.n_years):
            rng = np.random.default_rng([self.seed, key, ORIGIN.year + i, STREAM_TICKER])
            rng.standard_normal(out=normals[i])
            rng.standard_exponential(out=expos[i])
            rng.random(out=unif[i])
            counts[i] = rng.poisson(lam, SLOTS)  # last: its consumption of bits varies
        z, w, gap_z, vol_z, jump_z, trade_z = normals.transpose(1, 0, 2).reshape(6, -1)[:, grid.slot]
        ext_hi, ext_lo = expos.transpose(1, 0, 2).reshape(2, -1)[:, grid.slot]
        mix = unif.reshape(-1)[grid.slot]
        n_jumps = counts.reshape(-1)[grid.slot]

        # Returns.
        s = p.vol_of_vol
        idio_bar = p.idio_vol_annual / math.sqrt(TRADING_DAYS)
        idio_vol = idio_bar * np.exp(log_vol(z, w, p.vol_phi, s, p.leverage_rho) - s * s)
        drift = (p.drift_annual - p.jumps_per_year * p.jump_mean) / TRADING_DAYS
        ret = drift + p.beta * market.ret + idio_vol * z + jumps(n_jumps, jump_z, p.jump_mean, p.jump_sd)
        day_vol = np.sqrt((p.beta * market.vol) ** 2 + idio_vol**2)  # the day's diffusive vol

        # Log close: the trend line plus a deviation that the weak pull drags back (keeps prices plausible).
        trend = (p.drift_annual + p.beta * MARKET_DRIFT) / TRADING_DAYS  # expected daily log return
        log_start = math.log(p.start_price)
        planted = self.signal_ic > 0.0 or self.temporal_ic > 0.0
        if planted:
            close_ic, temporal = close_loading(self.signal_ic), close_loading(self.temporal_ic)
            step = None
            if temporal > 0.0:  # e' S, S the sd of the ticker's daily return (sources/planted.py says why)
                step = np.full(len(ret), temporal * math.sqrt(return_variance(p)))
            deviation = _planted_deviation(ret, trend, close_ic, PRICE_PULL, step, temporal * temporal)
            log_close = log_start + trend * np.arange(1, len(ret) + 1) + deviation
        else:  # the unplanted market, bit for bit as it always was
            log_close = log_start + trend * np.arange(1, len(ret) + 1) + ar1(ret - trend, 1.0 - PRICE_PULL)
        prev_close = np.empty_like(log_close)
        prev_close[0] = log_start
        prev_close[1:] = log_close[:-1]
        day_ret = log_close - prev_close

        # Open = previous close * exp(overnight gap); high/low strictly beyond the body.
        if planted:  # a gap of its own, independent of the closes (the module docstring says why)
            share = return_variance(p) / diffusive_variance(p)  # the jumps' share spread over the gap's parts
            market_part = p.beta * market.vol * market_gap(self.seed, last_year)
            log_open = prev_close + overnight_gap(market_part, idio_vol * gap_z, share)
        else:
            log_open = prev_close + p.gap_share * day_ret + 0.3 * day_vol * gap_z
        log_high = np.maximum(log_open, log_close) + day_vol * (0.05 + 0.45 * ext_hi)
        log_low = np.minimum(log_open, log_close) - day_vol * (0.05 + 0.45 * ext_lo)
        open_, high, low, close = np.exp(log_open), np.exp(log_high), np.exp(log_low), np.exp(log_close)
        vwap = mix * (high + low + close) / 3.0 + (1.0 - mix) * (open_ + close) / 2.0
        vwap = np.clip(vwap, low, high)  # a convex mix already is; clip absorbs round-off

        # Volume: log-normal around the base, up with the vol level and with the size of the move.
        typical_vol = math.sqrt((p.beta * MARKET_VOL) ** 2 + p.idio_vol_annual**2) / math.sqrt(TRADING_DAYS)
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
