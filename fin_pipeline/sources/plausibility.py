"""Plausibility checks at the door: candles that obey the schema but cannot be real are refused.

:func:`fin_pipeline.sources.base.validate_candles` (called by every source, and on the merged series before
it is stored) checks the schema rules first (sorted unique timestamps, finite values, positive prices,
OHLC order), then these, in this order; the first broken rule raises :class:`CandleError` naming the ticker
or file, the row (its session date, or ``line N`` for a CSV file) and the value:

``daily_bar``        every timestamp is the start of a session (midnight New York): a bar at another time of
                     day is an intraday bar, not a daily candle.
``one_bar``          at most one bar per session date (300,000 minute bars are not 300,000 days).
``session``          every date is a session of the NYSE calendar (``exchange_calendars`` XNYS, from
                     1990-01-01): no weekends, no holidays.
``price_range``      open/high/low/close within ``[min_price, max_price]`` (default 1e-4 … 1e7 USD: below a
                     hundredth of a cent, or above ten times Berkshire Hathaway's A share, a price is a unit or
                     scaling error, such as a bad ``Adj Close`` giving 1e-298, or a corrupt 1e308).
``volume_range``     volume is 0 or within ``[min_volume, max_volume]`` (default 1e-3 … 1e13 shares).
``not_constant``     a history of at least ``constant_min_rows`` (20) bars whose close never changes is a
                     placeholder, not a market.
``jump``             the jump rule. With ``r_t = log(close_t / close_{t-1})`` and the recent volatility
                     ``σ_t = 1.4826 · median(|r|)`` over the ``jump_window`` (60) returns before ``t`` (the whole
                     history's median while fewer than 20 are known; a median, so one earlier spike does not
                     inflate it), a bar is refused when ``|r_t| > max(jump_sigmas · σ_t, log(min_jump_ratio))``
                     (defaults 20 σ and a factor of 1.5: both must be exceeded; histories of 20 bars or fewer
                     are not judged, so an ordinary earnings gap
                     passes and a 1000× spike does not). The open, high and low of a bar are held to the
                     same bound against the previous close. **Splits are not an exception**: from prices
                     alone a 2:1 split cannot be told honestly from a bad print, so the sources must deliver
                     split-adjusted prices (Polygon ``adjusted=true``, the CSV ``Adj Close`` column); the
                     message says so. A real move beyond the bound can be let through by raising
                     ``FIN_PIPELINE_JUMP_SIGMAS``.

Nothing here imports dagster.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from fin_pipeline.core.calendar import CALENDAR_START, nyse_sessions, session_dates
from fin_pipeline.core.settings import DEFAULT_JUMP_SIGMAS, load_settings
from fin_pipeline.sources.errors import CandleError

PRICE_COLUMNS = ("open", "high", "low", "close")


@dataclasses.dataclass(frozen=True)
class PlausibilityRules:
    """The bounds of the plausibility checks (see the module docstring); settings can override them."""

    min_price: float = 1e-4
    max_price: float = 1e7
    min_volume: float = 1e-3
    max_volume: float = 1e13
    constant_min_rows: int = 20
    jump_sigmas: float = DEFAULT_JUMP_SIGMAS
    min_jump_ratio: float = 1.5
    jump_window: int = 60

    def __post_init__(self) -> None:
        if not 0 < self.min_price < self.max_price:
            raise ValueError(f"need 0 < min_price < max_price, got {self.min_price}, {self.max_price}")
        if self.jump_sigmas <= 0 or self.min_jump_ratio <= 1 or self.jump_window < 2:
            raise ValueError("need jump_sigmas > 0, min_jump_ratio > 1 and jump_window >= 2")


def default_rules() -> PlausibilityRules:
    """The rules the settings give (``FIN_PIPELINE_JUMP_SIGMAS``), else the defaults."""
    return PlausibilityRules(jump_sigmas=load_settings().jump_sigmas)


Problem = tuple[str, int, str]  # (rule, first row position breaking it, text)


def _first(rule: str, rows: np.ndarray, describe: Callable[[int], str]) -> list[Problem]:
    """``[(rule, i, describe(i))]`` for the first position ``i`` of ``rows`` (the rows that break ``rule``), or []."""
    if not len(rows):
        return []
    i = int(rows[0])
    return [(rule, i, describe(i))]


def plausibility_problems(df: pd.DataFrame, rules: PlausibilityRules) -> list[Problem]:
    """``(rule, first row position, text)`` for each broken rule, in the order of the module docstring.

    ``df`` must already pass the schema rules (finite, positive, sorted unique timestamps).
    """
    if len(df) == 0:
        return []
    prices = {c: df[c].to_numpy(dtype="float64") for c in PRICE_COLUMNS}
    out = _calendar_problems(df) + _range_problems(df, prices, rules)
    if out:  # the jump and variance rules only make sense on prices in range
        return out
    return _jump_problems(prices, rules)


def _calendar_problems(df: pd.DataFrame) -> list[Problem]:
    """The ``daily_bar``, ``one_bar`` and ``session`` rules."""
    local = pd.DatetimeIndex(df["timestamp"]).tz_convert("America/New_York")
    days = local.tz_localize(None).normalize()
    off = np.flatnonzero(local.tz_localize(None) != days)
    dup = np.flatnonzero(days[1:] == days[:-1]) + 1
    out = _first(
        "daily_bar",
        off,
        lambda i: (
            f"bar at {local[i]:%H:%M} New York time is not a daily bar (daily bars start at "
            f"00:00, the session's date; {len(off)} such bar(s)): intraday data?"
        ),
    ) + _first(
        "one_bar",
        dup,
        lambda i: (
            f"{int((days == days[i]).sum())} bars on session {days[i].date()}: one daily bar per session is "
            "allowed (intraday data?)"
        ),
    )
    early = np.flatnonzero(days < pd.Timestamp(CALENDAR_START))
    if len(early):
        return [*out, ("session", int(early[0]), f"date before {CALENDAR_START}, where the NYSE calendar starts")]
    bad = np.flatnonzero(~days.isin(nyse_sessions(days[0].date(), days[-1].date())))
    return out + _first(
        "session",
        bad,
        lambda i: f"{days[i].date()} ({days[i]:%A}) is not an NYSE trading session ({len(bad)} such date(s))",
    )


def _range_problems(df: pd.DataFrame, prices: dict[str, np.ndarray], rules: PlausibilityRules) -> list[Problem]:
    """The ``price_range`` rule (its first column out of range) and the ``volume_range`` rule."""
    out: list[Problem] = []
    for col, v in prices.items():
        bad = np.flatnonzero((v < rules.min_price) | (v > rules.max_price))  # a missing (NaN) open passes
        out = _first(
            "price_range",
            bad,
            lambda i, col=col, v=v, bad=bad: (
                f"{col} {float(v[i])!r} outside the plausible range "
                f"[{rules.min_price:g}, {rules.max_price:g}] ({len(bad)} row(s))"
            ),
        )
        if out:
            break
    vol = df["volume"].to_numpy(dtype="float64")
    bad_vol = np.flatnonzero((vol != 0) & ((vol < rules.min_volume) | (vol > rules.max_volume)))
    return out + _first(
        "volume_range",
        bad_vol,
        lambda i: (
            f"volume {float(vol[i])!r} outside the plausible range 0 or "
            f"[{rules.min_volume:g}, {rules.max_volume:g}] ({len(bad_vol)} row(s))"
        ),
    )


def _jump_problems(prices: dict[str, np.ndarray], rules: PlausibilityRules) -> list[Problem]:
    """The ``not_constant`` rule, then the ``jump`` rule (its first column with a jump)."""
    close = prices["close"]
    n = len(close)
    if n >= rules.constant_min_rows and np.all(close == close[0]):
        text = f"close is {float(close[0])!r} on all {n} bars: a constant history is a placeholder, not market data"
        return [("not_constant", 0, text)]
    min_known = 20
    if n <= min_known:  # volatility cannot be estimated from fewer than 20 returns: no jump rule
        return []
    log_close = np.log(close)
    r = np.diff(log_close)  # r[k] is the return into bar k + 1
    abs_r = pd.Series(np.abs(r))
    fallback = float(abs_r.median())
    recent = abs_r.shift(1).rolling(rules.jump_window, min_periods=min_known).median().to_numpy()
    sigma = 1.4826 * np.where(np.isfinite(recent), recent, fallback)
    bound = np.maximum(rules.jump_sigmas * sigma, math.log(rules.min_jump_ratio))
    for col in ("close", "open", "high", "low"):
        move = np.abs(np.log(prices[col][1:]) - log_close[:-1])
        out = _first(
            "jump",
            np.flatnonzero(move > bound) + 1,  # move[k] is bar k + 1's
            lambda i, col=col, move=move: (
                f"{col} {float(prices[col][i])!r} vs previous close {float(close[i - 1])!r}: "
                f"a move of {math.exp(move[i - 1]):.3g}x (|log| {move[i - 1]:.3g}) beyond {rules.jump_sigmas:g} x "
                f"recent volatility ({sigma[i - 1]:.3g}/day) and a factor {rules.min_jump_ratio:g}; if it is a "
                "split, supply split-adjusted prices (Adj Close / adjusted=true); if it is real, raise "
                "FIN_PIPELINE_JUMP_SIGMAS"
            ),
        )
        if out:
            return out
    return []


def check_plausible(
    df: pd.DataFrame, where: str, row_names: Sequence[str] | None = None, rules: PlausibilityRules | None = None
) -> None:
    """Raise :class:`CandleError` at the first broken plausibility rule, naming ``where`` and the row."""

    problems = plausibility_problems(df, rules or default_rules())
    if not problems:
        return
    rule, i, text = problems[0]
    if row_names is not None:
        date = session_dates(df["timestamp"].iloc[[i]]).iloc[0]
        label = f"{row_names[i]} ({date})"
    else:
        label = str(session_dates(df["timestamp"].iloc[[i]]).iloc[0])
    raise CandleError(f"{where}: {label}: implausible ({rule}): {text}")
