"""The model board: every model trained fresh on one fold's blocks under the same rules, its test block predicted.

One function per kind of model, all on the same inputs (the fold's windows, boundaries and normalization):

* the networks (:data:`~fin_pipeline.core.choices.NETWORKS`): :func:`~fin_pipeline.training.fold_training.train_fold`
  with the training specification's model replaced (its ``model_config`` kept only for the model it was written
  for), in a folder of the caller's (never a fold's published checkpoints), early-stopped on the tuning block,
  then :func:`~fin_pipeline.training.fold_training.predict_fold` on the test block;
* ``ridge`` and ``momentum``: :func:`~fin_pipeline.training.baselines.add_baselines` (ridge's penalty chosen on the
  tuning block);
* ``lightgbm``: :func:`~fin_pipeline.training.boosting.lightgbm_predictions` (trees chosen on the tuning block).

Every model's frame holds the same rows: the fold's test windows (:func:`window_rows`) less the tickers with a
vendor hole in the test block (:func:`~fin_pipeline.evaluation.scoring.holed_tickers`, as ``fold_metrics`` drops
them), with the model's forecast in :data:`PREDICTION`. No Dagster here.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fin_pipeline.core.choices import BOARD_BASELINES, BOARD_MODELS, NETWORKS
from fin_pipeline.evaluation import outputs
from fin_pipeline.evaluation.scoring import holed_tickers
from fin_pipeline.features.windows import WindowSet
from fin_pipeline.store import layout
from fin_pipeline.training import boosting
from fin_pipeline.training.baselines import RIDGE_ALPHA_LIMITS, RIDGE_ALPHAS, add_baselines
from fin_pipeline.training.fold_boundaries import FoldBoundaries
from fin_pipeline.training.fold_training import predict_fold, train_fold, window_rows
from fin_pipeline.training.folds import fold_positions
from fin_pipeline.training.normalization import FoldStats
from fin_pipeline.training.spec import TrainSpec

PREDICTION = "prediction"  # the column of a board frame that holds the model's forecast (log-return units)


@dataclasses.dataclass(frozen=True)
class BoardPredictions:
    """One model's test-block predictions on one fold, what it chose there, and what it is (for the trials)."""

    frame: pd.DataFrame  # ticker, date, window, target, next_return, cost inputs, prediction
    chosen: dict[str, Any]  # what tuning picked: best epoch, ridge's α, the number of trees
    training: dict[str, Any]  # the model's specification: a trial's "training" entry
    dropped_tickers: dict[str, list[str]]  # tickers with a vendor hole in the test block -> the days they miss


def enabled_models(setting: tuple[str, ...] | None, configured: str) -> tuple[str, ...]:
    """The models on the board: FIN_PIPELINE_MODELS's list, or by default the configured network (the training
    configuration's ``model``) and the baselines ridge, lightgbm and momentum."""
    if setting is not None:
        return tuple(setting)
    return (configured, *(b for b in BOARD_BASELINES if b != configured))


def board_spec(name: str, spec: TrainSpec) -> TrainSpec:
    """The training specification of network ``name``: ``spec`` with its model replaced; its ``model_config``
    belongs to ``spec.model`` (another network's keys would be refused), so it is kept for that model only."""
    return dataclasses.replace(spec, model=name, model_config=spec.model_config if name == spec.model else {})


def model_training(name: str, spec: TrainSpec) -> dict[str, Any]:
    """What model ``name`` is, as a trial's training entry: a network's whole specification (device excepted by
    the registry), a baseline's rule and its fixed settings."""
    if name in NETWORKS:
        return dataclasses.asdict(board_spec(name, spec))
    if name == "ridge":
        return {"model": "ridge", "loss": "mse", "alphas": list(RIDGE_ALPHAS), "alpha_limits": list(RIDGE_ALPHA_LIMITS)}
    if name == "lightgbm":
        return {
            "model": "lightgbm",
            "loss": "mse",  # L2 regression, early-stopped on the tuning block's MSE
            "params": dict(boosting.PARAMS),
            "lag_columns": list(boosting.LAG_COLUMNS),
            "lags": list(boosting.LAGS),
            "max_rounds": boosting.MAX_ROUNDS,
            "early_stopping_rounds": boosting.EARLY_STOPPING_ROUNDS,
        }
    if name == "momentum":
        return {"model": "momentum", "loss": "none"}  # a rule: nothing is fitted
    raise ValueError(f"unknown board model {name!r}; the known models are {', '.join(BOARD_MODELS)}")


def predict_model(
    name: str,
    ws: WindowSet,
    fold: FoldBoundaries,
    stats: FoldStats,
    spec: TrainSpec,
    workdir: Path,
    published: Path | None = None,
) -> BoardPredictions:
    """Model ``name`` trained fresh on the fold's training windows (tuned on its tuning block) and its
    predictions of the fold's test windows. A network trains in ``workdir`` (removed once it has predicted).

    ``published``: the fold's own checkpoint when it is this very network (same specification, same training rows:
    the caller checks its identity). That model was trained fresh on these blocks under these rules, so it is
    scored as it is rather than trained a second time (same seed, same result, twice the time)."""
    training = model_training(name, spec)  # refuses an unknown name before any work
    rows = window_rows(ws, fold_positions(ws, fold).test)
    if name in NETWORKS and published is not None:
        values = predict_fold(ws, published, fold=fold)["model"].to_numpy()
        chosen = {"checkpoint": "the fold's published model"}
    elif name in NETWORKS:
        outcome = train_fold(ws, fold, stats, board_spec(name, spec), Path(workdir))
        predicted = predict_fold(ws, outcome.best_path, fold=fold)
        shutil.rmtree(workdir, ignore_errors=True)
        values = predicted["model"].to_numpy()
        chosen = {
            "epochs": len(outcome.history),
            "best_epoch": outcome.best_epoch,
            "best_tune_loss": outcome.best_score,
        }
    elif name == "lightgbm":
        values, chosen = boosting.lightgbm_predictions(ws, fold, stats, rows["window"].to_numpy())
    else:
        with_baselines, chosen = add_baselines(ws, fold, stats, rows)
        values = with_baselines[name].to_numpy()
        chosen = {"ridge_alpha": chosen["ridge_alpha"]} if name == "ridge" else {}
    frame = rows.assign(**{PREDICTION: values})
    holed = holed_tickers(frame)
    frame = frame[~frame["ticker"].isin(list(holed))].reset_index(drop=True)
    return BoardPredictions(frame, chosen, training, holed)


def plan_board(store, models: Sequence[str], ran: Sequence[str], folds: Sequence[str]) -> list[str]:
    """The board partitions ("fold|model") a night runs: every model of ``models`` on each fold of ``ran`` (trained
    or re-scored tonight: new blocks or new test days), and on any fold of ``folds`` whose board file is missing or
    corrupt (a model just enabled, a first night, a damaged file). Other partitions are left alone."""
    return [
        f"{fold}|{model}"
        for fold in folds
        for model in models
        if fold in ran or not outputs.table(store, store.path(layout.board_predictions(model, fold))).ok
    ]
