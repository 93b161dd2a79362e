"""Daily long-short strategies from predictions, with transaction costs; horizons h ≥ 1 as overlapping tranches.

Conventions (one row of ``predictions`` is a ticker on a session date ``t``, its predictions made from the data
through close t; ``target`` is the executable h-day log return and ``next_return`` the executable one-day log
return of that row under the run's *execution* (:mod:`fin_pipeline.sources.execution`), h the target horizon):

* Execution: with P the execution's price and L its lag, ``target = log(P[t+L+h] / P[t+L])`` and
  ``next_return = log(P[t+L+1] / P[t+L])``. ``next_open`` (the default; P = open, L = 1): the book decided from
  the data through close t is bought at the open of t+1 and held to the open of t+2 (the first price a run after
  the close can get). ``next_close`` (P = close, L = 1): held from close t+1 to close t+2. ``close`` (P = close,
  L = 0): held from close t to close t+1, which is **not executable from a run after the close** (kept to
  compare). The functions here take the two columns as given; the feature step computes them, so the model's
  target, the IC and every book below (model, baselines, buy-and-hold) use the same executable returns; with
  h > 1 each tranche is held h sessions, P to P (``next_open``: open t+1 to open t+1+h).
* Days: a block's days are the distinct dates of its predictions, in order (trading days, not calendar days).
  "k days earlier" counts these days; nothing exists before the block's first day.
* Books: each day t a new book w_t is formed from the predictions made at close t (``sign``, ``scaled`` or the
  market-neutral ``neutral``; :mod:`fin_pipeline.backtest.books` states each rule).
* Holding (Jegadeesh & Titman 1993, overlapping portfolios): each book is held for h days with 1/h of the
  capital, so the portfolio's weight over the one-day holding interval of day s (from P[s+L] to P[s+L+1]: open
  s+1 to open s+2 under ``next_open``) is W_{s,i} = (1/h) Σ_{k=0}^{h−1} w_{s−k,i}, a book
  of a day before the block's first day contributing 0 (the book ramps up over the first h days). Trades are
  netted across tranches. A ticker absent on day s (no row) holds W_{s,i} = 0 that day, whatever its tranches
  hold: it cannot be traded or marked without a row; its tranches hold it again on the next day it has a row. A
  day whose entry or exit price P is missing or 0 (a vendor's missing open) has no row either (the feature step
  leaves its target and one-day return unknown), so it is not traded.
  (The neutral book is therefore exactly neutral, ΣW = 0, on days whose tickers all had rows on the h − 1 days
  before.) With h = 1, W = w: each day's book is the day's position.
* Timing: W_s, decided at close s from predictions made at closes s−h+1 … s, earns the one-day return
  ``next_return`` of day s, from P[s+L] to P[s+L+1] (``next_open``: open s+1 to open s+2), never earlier. A row's
  date in :attr:`BacktestResult.daily` is that decision date; its return is realized at P[s+L+1] (``next_open``:
  the open two sessions later; ``close``: the next close). With h = 1 a frame without ``next_return`` uses
  ``target`` (the same return then); with h > 1 ``next_return`` is required (compounding h-day targets day after
  day would count each return h times).
* Returns: portfolio simple return = Σ_i W_{s,i} · (exp(r_{s,i}) − 1), r the one-day log return, converted per
  ticker first.
* Turnover: Σ_i |W_{s,i} − W_{s−1,i}| over the union of tickers (W = 0 for a ticker absent on a day) and
  W_{−1} = 0 at the block start (the entry is paid; the final exit is not). Weights are the daily target weights:
  intraday drift between rebalances is ignored, so a constant-weight book trades nothing after entry (after its
  h-day ramp-up).
* Cost, a fraction of the capital C, charged on the day's trades ΔW_{s,i} = W_{s,i} − W_{s−1,i} (the same W_{−1} = 0
  and absent-ticker rules as turnover), per :class:`~fin_pipeline.backtest.costs.CostModel`: ``spread_impact``
  (the pipeline's default): cost_s = Σ_i |ΔW_{s,i}| · (q_{s,i} + k σ_{s,i} √(|ΔW_{s,i}| · C / ADV_{s,i})), with the
  half-spread q = max(Corwin–Schultz estimate, floor), the daily volatility σ and the average dollar volume ADV of
  ticker i as of close s (the rows' ``half_spread``, ``sigma``, ``adv``; a ticker without a row on s that is sold
  uses its latest earlier row's); ``flat``: cost_s = turnover_s × cost_bps / 1e4 (bps of traded notional, each
  way). net = gross − cost; equity = Π (1 + net), starting from 1 before the first day. Returns, turnover and costs
  are daily for every h.
* Scoring: :attr:`BacktestResult.positions` keeps per row the day's new-book weight ``weight`` (w_t, which the hit
  ratio compares with the row's h-day ``target``), the held weight ``holding`` (W_t) and ``next_return``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fin_pipeline.backtest.books import DIRECTIONAL_MODES, positions_from_predictions
from fin_pipeline.backtest.costs import daily_cost, resolve, trades
from fin_pipeline.core.costs import CostModel
from fin_pipeline.features.cost_inputs import COST_INPUTS

BOOKS = ("sign", "neutral")  # backtest_all's books: the directional one (built with ``mode``) and the neutral one
NEUTRAL_SUFFIX = "_neutral"  # the neutral book of predictor p is named p + NEUTRAL_SUFFIX
PREDICTORS = ("model", "zero", "momentum", "ridge")
BUY_AND_HOLD = "buy_and_hold"
DAILY_COLUMNS = ("date", "gross_return", "turnover", "cost", "net_return", "exposure", "equity")
POSITION_COLUMNS = ("date", "ticker", "weight", "target", "holding", "next_return")


@dataclass(frozen=True)
class BacktestResult:
    """One strategy's simulation over one block of days (a fold, or all folds stitched)."""

    name: str
    daily: pd.DataFrame  # one row per date: DAILY_COLUMNS
    positions: pd.DataFrame  # one row per (date, ticker): POSITION_COLUMNS, and COST_INPUTS when given
    costs: CostModel
    fold: str | None = None
    horizon: int = 1

    @property
    def returns(self) -> pd.Series:
        """Daily net simple returns, indexed by decision date."""
        return self.daily.set_index("date")["net_return"]

    @property
    def equity(self) -> pd.Series:
        """Equity curve Π(1 + net), indexed by decision date (value at the end of that day's holding interval)."""
        return self.daily.set_index("date")["equity"]


def _where(fold: str | None) -> str:
    return f" in {fold}" if fold else ""


def _check_horizon(horizon: int) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ValueError(f"horizon must be a whole number of days >= 1, got {horizon!r}")
    return int(horizon)


def validate_predictions(
    predictions: pd.DataFrame, columns: Sequence[str] = (), fold: str | None = None, horizon: int = 1
) -> None:
    """Raise ``ValueError`` naming the fold (and ticker and date) for input a backtest cannot honestly use.

    No rows; a missing column (``next_return`` is required when ``horizon`` > 1); a duplicated (date, ticker); a
    NaN or infinite ``target`` or ``next_return`` ("NaN return for MSFT on 2020-03-02 in fold_03"; the fold comes
    from ``fold`` or else from the row's ``fold`` column).
    """
    horizon = _check_horizon(horizon)
    if len(predictions) == 0:
        raise ValueError(f"no predictions to backtest{_where(fold)}")
    missing = [c for c in ("date", "ticker", "target", *columns) if c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions{_where(fold)} lack the column(s) {missing}")
    if horizon > 1 and "next_return" not in predictions.columns:
        raise ValueError(
            f"predictions{_where(fold)} lack the column 'next_return' (the one-day executable log return) that a "
            f"backtest with horizon {horizon} needs: the {horizon}-day targets cannot be held day by day"
        )
    dup = predictions.duplicated(["date", "ticker"])
    if dup.any():
        row = predictions[dup].iloc[0]
        raise ValueError(f"two predictions for {row['ticker']} on {pd.Timestamp(row['date']):%Y-%m-%d}{_where(fold)}")
    for col, what in (("target", "return"), ("next_return", "next_return")):
        if col not in predictions.columns:
            continue
        bad = ~np.isfinite(predictions[col].to_numpy(np.float64))
        if bad.any():
            row = predictions[bad].iloc[0]
            where = fold or (row["fold"] if "fold" in predictions.columns else None)
            raise ValueError(f"NaN {what} for {row['ticker']} on {pd.Timestamp(row['date']):%Y-%m-%d}{_where(where)}")


def simulate(
    positions: pd.DataFrame,
    *,
    name: str = "",
    fold: str | None = None,
    horizon: int = 1,
    costs: CostModel | None = None,
    cost_bps: float | None = None,
) -> BacktestResult:
    """Hold the daily books for ``horizon`` days in overlapping tranches and run them through the one-day returns.

    ``positions`` has date, ticker, weight (the day's new book w), target (log, h days from the execution's
    entry), ``next_return`` (log, the entry's first day; optional when ``horizon`` is 1, then ``target`` is
    used), and the cost inputs that ``costs`` needs (``spread_impact``: half_spread, sigma, adv). ``costs``: the
    cost model; ``cost_bps`` is short for a ``flat`` one; with neither, ``flat`` at its default bps (see
    :func:`~fin_pipeline.backtest.costs.resolve`).
    """
    return _simulate(positions, resolve(costs, cost_bps), name, fold, horizon)


def _simulate(positions: pd.DataFrame, costs: CostModel, name: str, fold: str | None, horizon: int) -> BacktestResult:
    horizon = _check_horizon(horizon)
    has_next = "next_return" in positions.columns
    if horizon > 1 and not has_next:
        raise ValueError(f"positions{_where(fold)} lack 'next_return', which a backtest with horizon {horizon} needs")
    inputs = [c for c in COST_INPUTS if c in positions.columns]
    if costs.needs_inputs and len(inputs) < len(COST_INPUTS):
        raise ValueError(
            f"positions{_where(fold)} lack the cost input column(s) {sorted(set(COST_INPUTS) - set(inputs))} that "
            f"cost_model {costs.cost_model!r} needs (rematerialize feature_windows, or set cost_model=flat)"
        )
    cols = ["date", "ticker", "weight", "target", *(["next_return"] if has_next else []), *inputs]
    pos = positions[cols].sort_values(["date", "ticker"], ignore_index=True)
    if not has_next:
        pos["next_return"] = pos["target"]
    books = pos.pivot(index="date", columns="ticker", values="weight")  # (days, tickers), NaN where absent
    w = books.fillna(0.0).to_numpy()
    held = np.zeros_like(w)
    for k in range(min(horizon, len(w))):
        held[k:] += w[: len(w) - k]  # the tranche formed k days earlier; none before the block's first day
    held = np.where(books.notna().to_numpy(), held / horizon, 0.0)  # an absent ticker holds nothing that day
    pos["holding"] = held[books.index.get_indexer(pos["date"]), books.columns.get_indexer(pos["ticker"])]
    wide = pd.DataFrame(held, index=books.index, columns=books.columns)
    by_day = pos.assign(
        contrib=pos["holding"] * np.expm1(pos["next_return"].to_numpy(np.float64)), absw=pos["holding"].abs()
    ).groupby("date")
    daily = pd.DataFrame(
        {
            "gross_return": by_day["contrib"].sum(),
            "turnover": trades(wide).abs().sum(axis=1),
            "exposure": by_day["absw"].sum(),
        }
    )
    daily["cost"] = daily_cost(costs, wide, pos)
    daily["net_return"] = daily["gross_return"] - daily["cost"]
    daily["equity"] = (1.0 + daily["net_return"]).cumprod()
    daily = daily.rename_axis("date").reset_index()[list(DAILY_COLUMNS)]
    pos = pos[[*POSITION_COLUMNS, *inputs]]
    return BacktestResult(name=name, daily=daily, positions=pos, costs=costs, fold=fold, horizon=horizon)


def _returns(predictions: pd.DataFrame) -> pd.DataFrame:
    """The columns a book earns and pays from: returns and, when given, the cost inputs."""
    extra = [c for c in ("next_return", *COST_INPUTS) if c in predictions.columns]
    return predictions[["date", "ticker", "target", *extra]]


def backtest(
    predictions: pd.DataFrame,
    column: str = "model",
    *,
    mode: str = "sign",
    long_only: bool = False,
    cap: float = 1.0,
    costs: CostModel | None = None,
    fold: str | None = None,
    horizon: int = 1,
    cost_bps: float | None = None,
) -> BacktestResult:
    """Trade ``predictions[column]`` (the book: :mod:`~fin_pipeline.backtest.books`; holding, timing, turnover and
    costs: the module docstring).

    The result is named ``column``, or ``column + NEUTRAL_SUFFIX`` for the ``neutral`` book. ``costs``/``cost_bps``
    as in :func:`simulate`.
    """
    validate_predictions(predictions, (column,), fold, horizon)
    return _book(predictions, column, mode, long_only, cap, resolve(costs, cost_bps), fold, horizon)


def _book(
    predictions: pd.DataFrame,
    column: str,
    mode: str,
    long_only: bool,
    cap: float,
    costs: CostModel,
    fold: str | None,
    horizon: int,
) -> BacktestResult:
    """:func:`backtest` on predictions already validated, under one resolved cost model."""
    pos = positions_from_predictions(predictions, column, mode=mode, long_only=long_only, cap=cap)
    pos = pos.merge(_returns(predictions), on=["date", "ticker"], how="left")
    name = column + NEUTRAL_SUFFIX if mode == "neutral" else column
    return _simulate(pos, costs, name, fold, horizon)


def buy_and_hold(
    predictions: pd.DataFrame,
    *,
    costs: CostModel | None = None,
    fold: str | None = None,
    horizon: int = 1,
    cost_bps: float | None = None,
) -> BacktestResult:
    """Equal weight long every ticker of the day: each day's new book is w = 1/N_t, held in tranches like any book.

    Turnover is counted against the previous day's target weights (drift ignored, as for every strategy here):
    1/h on each of the first h days (the ramp-up), then 0 while the universe is unchanged, and the change of the
    held weights when a ticker joins or leaves. ``costs``/``cost_bps`` as in :func:`simulate`.
    """
    validate_predictions(predictions, (), fold, horizon)
    return _buy_and_hold(predictions, resolve(costs, cost_bps), fold, horizon)


def _buy_and_hold(predictions: pd.DataFrame, costs: CostModel, fold: str | None, horizon: int) -> BacktestResult:
    pos = _returns(predictions).copy()
    pos["weight"] = 1.0 / pos.groupby("date")["ticker"].transform("size")
    return _simulate(pos, costs, BUY_AND_HOLD, fold, horizon)


def backtest_all(
    predictions: pd.DataFrame,
    columns: Sequence[str] = PREDICTORS,
    *,
    books: Sequence[str] = BOOKS,
    mode: str = "sign",
    long_only: bool = False,
    cap: float = 1.0,
    costs: CostModel | None = None,
    cost_bps: float | None = None,
    fold: str | None = None,
    horizon: int = 1,
) -> dict[str, BacktestResult]:
    """Every predictor column's books and buy-and-hold's, side by side on the same rows: name → result.

    ``books`` picks them: ``"sign"`` is the directional book (built with ``mode``, sign or scaled, and
    ``long_only``/``cap``), named by the bare column (``model``); ``"neutral"`` is the market-neutral rank book,
    named ``model_neutral``. Order: every directional book, every neutral book, then ``buy_and_hold``. The
    predictions are validated and the cost model resolved once (``costs``/``cost_bps`` as in :func:`simulate`).
    """
    if mode not in DIRECTIONAL_MODES:
        raise ValueError(
            f"mode is the directional book's, one of {DIRECTIONAL_MODES}, got {mode!r}; "
            "the neutral book comes with books=(..., 'neutral')"
        )
    unknown = [b for b in books if b not in BOOKS]
    if unknown or isinstance(books, str):
        raise ValueError(f"books must be a sequence drawn from {BOOKS}, got {books!r}")
    validate_predictions(predictions, tuple(columns), fold, horizon)
    model = resolve(costs, cost_bps)
    out: dict[str, BacktestResult] = {}
    if "sign" in books:
        for c in columns:
            out[c] = _book(predictions, c, mode, long_only, cap, model, fold, horizon)
    if "neutral" in books:
        for c in columns:
            out[c + NEUTRAL_SUFFIX] = _book(predictions, c, "neutral", False, 1.0, model, fold, horizon)
    out[BUY_AND_HOLD] = _buy_and_hold(predictions, model, fold, horizon)
    return out
