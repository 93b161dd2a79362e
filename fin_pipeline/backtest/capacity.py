"""Capacity: how a book's net Sharpe and return fall as the capital it trades grows.

With the ``spread_impact`` cost model (:mod:`fin_pipeline.backtest.costs`) a book's net return on day t at capital
C is r_t(C) = g_t − A_t − √C · B_t: g the gross return, A the spread cost (independent of C) and √C · B the
square-root impact. The same trades (held weights) are charged at every capital; only the cost changes, so the
table reruns no simulation. Net Sharpe and annualized return are :func:`~fin_pipeline.backtest.metrics.
sharpe_ratio` and :func:`~fin_pipeline.backtest.metrics.annualized_return` of r(C).

The reference is C → 0: the spread alone (A_t), the best any size can do. The halving capital is the smallest C
with Sharpe(C) ≤ Sharpe(0) / 2, found on a grid of capitals a quarter decade apart from :data:`SEARCH_FROM` to
:data:`SEARCH_TO` and refined by bisection on log C between the last grid point above the half and the first at
or below it (to 0.1%): the mean net return falls with C (B ≥ 0), the net Sharpe in practice too, but it need not
(a book whose impact is largest on its best days loses volatility as well), hence the grid. It is undefined when
Sharpe(0) is not positive (nothing to halve), and "not reached up to $X" when no capital up to :data:`SEARCH_TO`
halves it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from fin_pipeline.backtest.costs import components
from fin_pipeline.backtest.metrics import annualized_return, sharpe_ratio
from fin_pipeline.backtest.strategy import NEUTRAL_SUFFIX, BacktestResult
from fin_pipeline.core.costs import CostModel, money

CAPITALS = (1e6, 1e7, 1e8, 1e9)  # the table's capitals
MODEL_BOOKS = ("model", "model" + NEUTRAL_SUFFIX)  # the books whose capacity the report shows
SEARCH_FROM, SEARCH_TO = 1e3, 1e13  # where the halving capital is looked for
_GRID_STEP = 0.25  # decades
_TOLERANCE = math.log(1.001)  # bisection stops when the bracket is 0.1% wide


@dataclasses.dataclass(frozen=True)
class Capacity:
    """One book's capacity: its net Sharpe and annualized return at each capital, at C → 0, and the halving C."""

    book: str
    table: pd.DataFrame  # index: capital (0.0 first = spread only); columns net_sharpe, net_annualized_return
    halving_capital: float | None  # None: undefined or not reached
    note: str  # the halving capital in words


def cost_parts(result: BacktestResult, costs: CostModel) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(g, A, B) per day of ``result``'s trades: gross return, spread cost and impact coefficient (see module doc)."""
    positions = result.positions
    held = positions.pivot(index="date", columns="ticker", values="holding").fillna(0.0)  # absent: holds 0
    spread, impact = components(costs, held, positions)
    gross = result.daily.set_index("date")["gross_return"]
    return gross, spread.reindex(gross.index), impact.reindex(gross.index)


def capacity(
    result: BacktestResult, costs: CostModel, capitals: Sequence[float] = CAPITALS, search_to: float = SEARCH_TO
) -> Capacity:
    """``result``'s book at each of ``capitals`` (and C → 0) under ``costs`` (its capital is replaced), and the
    capital at which its net Sharpe halves (see the module docstring)."""
    gross, spread, impact = cost_parts(result, costs)
    base = (gross - spread).to_numpy(np.float64)
    slope = impact.to_numpy(np.float64)

    def sharpe(capital: float) -> float:
        return sharpe_ratio(base - math.sqrt(capital) * slope)

    rows = {
        c: {
            "net_sharpe": sharpe(c),
            "net_annualized_return": annualized_return(base - math.sqrt(c) * slope),
        }
        for c in (0.0, *capitals)
    }
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("capital")
    halving, note = halving_capital(sharpe, search_to)
    return Capacity(result.name, table, halving, note)


def halving_capital(sharpe, search_to: float = SEARCH_TO) -> tuple[float | None, str]:
    """The smallest capital C with ``sharpe(C)`` ≤ ``sharpe(0)`` / 2 (grid, then bisection on log C), in words."""
    zero = sharpe(0.0)
    if not zero > 0:
        return None, f"undefined (net Sharpe at C→0 is {zero:.3g}, not positive)"
    half = zero / 2.0
    grid = np.arange(math.log10(SEARCH_FROM), math.log10(search_to) + 1e-9, _GRID_STEP)
    below = float("nan")
    for log_c in grid:
        s = sharpe(10.0**log_c)
        if not s > half:  # NaN (constant series) counts as halved: nothing is left to measure
            if log_c == grid[0]:
                return SEARCH_FROM, f"≤ {money(SEARCH_FROM)} (already halved at the search's start)"
            below = log_c
            break
    if below != below:
        return None, f"not reached up to {money(search_to)}"
    lo, hi = (below - _GRID_STEP) * math.log(10), below * math.log(10)
    while hi - lo > _TOLERANCE:
        mid = (lo + hi) / 2
        if sharpe(math.exp(mid)) > half:
            lo = mid
        else:
            hi = mid
    return math.exp(hi), money(math.exp(hi))


def capacity_table(capacities: Sequence[Capacity]) -> pd.DataFrame:
    """The report's table: one row per capital (C→0 first: the spread alone), the net Sharpe and net annualized
    return of each book in columns."""
    columns = {}
    for c in capacities:
        columns[f"{c.book} net Sharpe"] = c.table["net_sharpe"]
        columns[f"{c.book} net annualized return"] = c.table["net_annualized_return"]
    table = pd.DataFrame(columns)
    labels = ["C→0 (spread only)" if capital == 0 else money(capital) for capital in table.index]
    return table.set_axis(pd.Index(labels, name="capital"))


def halving_line(capacities: Sequence[Capacity]) -> str:
    """Where each book's net Sharpe halves, in words."""
    return "; ".join(f"{c.book}: {c.note}" for c in capacities)


def book_capacities(books: Mapping[str, BacktestResult], names: Sequence[str] = MODEL_BOOKS) -> list[Capacity]:
    """The capacity of each of ``names`` under its own cost model; none under ``flat`` (no cost depends on size)."""
    return [capacity(books[n], books[n].costs) for n in names if n in books and books[n].costs.needs_inputs]
