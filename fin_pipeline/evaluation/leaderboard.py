"""The leaderboard: every board model's stitched out-of-sample record scored the one way, side by side.

Per model, from its test-block predictions of every fold stitched (:mod:`fin_pipeline.evaluation.board`):

* ``ic``, ``icir``, ``ic_nw_t``: :func:`~fin_pipeline.backtest.statistics.ic_statistics` of the daily Pearson IC
  (:func:`~fin_pipeline.backtest.statistics.ic_series`): the mean, mean / std (per day), and its Newey–West t;
  ``rank_ic``: the mean of the daily Spearman IC;
* ``sharpe``, ``psr``, ``dsr``: :func:`~fin_pipeline.backtest.sharpe.sharpe_statistics` of the market-neutral
  book's daily NET returns (:func:`~fin_pipeline.backtest.strategy.backtest`, ``mode="neutral"``, under the
  configured execution and cost model): annualized Sharpe, HAC PSR, and the DSR over every trial of the store's
  registry, where each board model is registered as a trial (its sign and neutral books) before the DSR is taken;
* the board's PBO (:func:`~fin_pipeline.backtest.pbo.probability_of_backtest_overfitting`) over the models'
  neutral books on the days they all traded, with S = :func:`~fin_pipeline.backtest.pbo.default_splits`.

No statistic is computed here: each comes from the module that owns it. No Dagster here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from fin_pipeline.backtest.pbo import default_splits, probability_of_backtest_overfitting
from fin_pipeline.backtest.sharpe import sharpe_statistics
from fin_pipeline.backtest.statistics import ic_series, ic_statistics
from fin_pipeline.backtest.strategy import backtest
from fin_pipeline.backtest.trials import TRIAL_BOOKS, TrialRegistry, trial_configuration
from fin_pipeline.core.costs import CostModel
from fin_pipeline.evaluation.board import PREDICTION

COLUMNS = ("model", "folds", "days", "ic", "rank_ic", "icir", "ic_nw_t", "sharpe", "psr", "dsr")
NAN = float("nan")


@dataclasses.dataclass(frozen=True)
class BoardRecord:
    """One model's stitched record: its predictions of every fold, what it is, and the folds' boundaries."""

    frame: pd.DataFrame  # the folds' board frames, concatenated (date, ticker, target, next_return, ..., prediction)
    training: list[dict[str, Any]]  # each fold's model specification (a trial's training entries)
    folds: list[dict[str, Any]]  # each fold's boundaries (FoldBoundaries.to_dict())


@dataclasses.dataclass(frozen=True)
class Leaderboard:
    table: pd.DataFrame  # one row per model, COLUMNS, best neutral Sharpe first
    neutral: pd.DataFrame  # each model's neutral book's daily net returns, by decision date (NaN: not traded)
    pbo: float  # NaN when it cannot be computed (``pbo_note`` says why)
    pbo_splits: int
    pbo_note: str
    n_trials: int


def board_scoring(execution: str, costs: CostModel) -> dict[str, Any]:
    """How the board's books are scored, as a trial records it (the report's provenance records the same keys)."""
    params = dataclasses.asdict(costs)
    kind = params.pop("cost_model")
    params = (
        {"cost_bps": params["cost_bps"]} if kind == "flat" else {k: v for k, v in params.items() if k != "cost_bps"}
    )
    return {"execution": execution, "cost_model": kind, **params}


def leaderboard(
    records: Mapping[str, BoardRecord],
    horizon: int,
    costs: CostModel,
    registry: TrialRegistry | None,
    execution: str,
) -> Leaderboard:
    """Score every model of ``records`` (model → its stitched record), register each as a trial in ``registry``
    (None: the board's models are the only trials), and put them side by side; see the module docstring."""
    if not records:
        raise ValueError("leaderboard: no model on the board has stored predictions")
    scoring = board_scoring(execution, costs)
    books, rows = {}, []
    for name, record in records.items():
        frame = record.frame.rename(columns={PREDICTION: name})
        sign = backtest(frame, name, mode="sign", costs=costs, horizon=horizon)
        neutral = backtest(frame, name, mode="neutral", costs=costs, horizon=horizon)
        books[name] = {"model": sign.returns, "model_neutral": neutral.returns}
        ic = ic_statistics(ic_series(frame[name], frame["target"], frame["date"]), horizon)
        rank_ic = ic_series(frame[name], frame["target"], frame["date"], rank=True)
        rows.append(
            {
                "model": name,
                "folds": len(record.folds),
                "days": int(frame["date"].nunique()),
                "ic": ic["mean_ic"],
                "rank_ic": float(rank_ic.mean()) if len(rank_ic) else NAN,
                "icir": ic["icir"],
                "ic_nw_t": ic["ic_nw_t"],
            }
        )
    if registry is not None:
        for name, record in records.items():
            configuration = trial_configuration(record.training, record.folds, scoring)
            registry.record(configuration, books[name])
        trials = registry.trials()
        sharpes = [t.sharpe(TRIAL_BOOKS[1]) for t in trials]
    else:
        sharpes = [sharpe_statistics(books[n]["model_neutral"], horizon)["sharpe"] for n in records]
    for row in rows:
        stats = sharpe_statistics(books[row["model"]]["model_neutral"], horizon, trial_sharpes=sharpes)
        row |= {"sharpe": stats["sharpe"], "psr": stats["psr"], "dsr": stats["dsr"]}
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table = table.sort_values("sharpe", ascending=False, na_position="last", ignore_index=True)
    neutral = pd.DataFrame({n: b["model_neutral"] for n, b in books.items()}).sort_index()
    pbo, splits, note = board_pbo(neutral)
    return Leaderboard(table, neutral, pbo, splits, note, len(sharpes))


def board_pbo(neutral: pd.DataFrame) -> tuple[float, int, str]:
    """PBO over the columns of ``neutral`` on the days every model traded: (PBO, S, a note); NaN with the reason
    when there is nothing to select among (one model) or too few days."""
    if neutral.shape[1] < 2:
        return NAN, 0, "one model on the board: nothing to select among"
    common = neutral.dropna()
    try:
        splits = default_splits(len(common))
        result = probability_of_backtest_overfitting(common.to_numpy(), splits, names=list(common.columns))
    except ValueError as exc:
        return NAN, 0, str(exc)
    note = (
        f"CSCV over {common.shape[1]} models' market-neutral books on {len(common)} common days, S = {splits} "
        f"blocks, {len(result.logits)} combinations"
    )
    return result.pbo, splits, note


def stitch(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The folds' board frames of one model as one record, by date and ticker; a (date, ticker) twice is an error
    (folds' test blocks never overlap)."""
    frame = pd.concat(frames, ignore_index=True).sort_values(["date", "ticker"], ignore_index=True)
    twice = frame.duplicated(["date", "ticker"])
    if twice.any():
        row = frame[twice].iloc[0]
        raise ValueError(f"leaderboard: {row['ticker']} on {pd.Timestamp(row['date']):%Y-%m-%d} is in two folds")
    return frame


def finite_or_none(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def summary(board: Leaderboard) -> dict[str, Any]:
    """The board's numbers that go with its table (stored in the table's metadata)."""
    return {
        "pbo": finite_or_none(board.pbo),
        "pbo_splits": board.pbo_splits,
        "pbo_note": board.pbo_note,
        "n_trials": board.n_trials,
        "models": [str(m) for m in board.table["model"]],
    }


def best(table: pd.DataFrame) -> str | None:
    """The model with the best neutral net Sharpe (None when no Sharpe is defined)."""
    defined = table[np.isfinite(table["sharpe"].to_numpy(np.float64))]
    return str(defined.iloc[0]["model"]) if len(defined) else None
