"""The board in process: one model × fold materializes alone, leaving every other partition's files as they
were; a network trains in its own folder (never trained_model's); the leaderboard, its report and CLI lines.

The test session's settings (conftest) give 3 tickers and 3 quarterly folds on a short history.
"""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from dagster import DagsterInstance, materialize

import fin_pipeline.defs.assets.board as board_assets
from fin_pipeline.core.settings import load_settings
from fin_pipeline.defs.assets.board import board_predictions, leaderboard
from fin_pipeline.defs.assets.candles import raw_candles
from fin_pipeline.defs.assets.features import feature_windows
from fin_pipeline.defs.assets.folds import normalization_stats, walk_forward_folds
from fin_pipeline.defs.resources import DataStore, SyntheticMarketResource
from fin_pipeline.evaluation.board import PREDICTION
from fin_pipeline.store.parquet import read_parquet

TICKERS = list(load_settings().universe)
FOLDS = ["2020-10-01", "2021-01-01", "2021-04-01"]  # conftest: quarters from 2020-10-01 to 2021-06-30
CANDLES = {"ops": {"raw_candles": {"config": {"start": "2018-01-02", "end": "2021-06-30"}}}}
TRAIN = {"ops": {"board_predictions": {"config": {"model": "cnn", "epochs": 2, "batch_size": 64, "seed": 3}}}}
BOARD = ("ridge", "momentum")  # the enabled models of the leaderboard here


def run(assets, root, instance, partition=None, run_config=None):
    result = materialize(
        assets,
        partition_key=partition,
        resources={"candle_source": SyntheticMarketResource(seed=7), "store": DataStore(root=str(root))},
        run_config=run_config or {},
        instance=instance,
        raise_on_error=False,
    )
    assert result.success, [e.step_failure_data.error.message for e in result.get_step_failure_events()]
    return result


def files(root):
    """Every stored file under the data directory: path → (modification time, bytes)."""
    return {p.relative_to(root): (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    root, instance = tmp_path_factory.mktemp("board") / "data", DagsterInstance.ephemeral()
    for ticker in TICKERS:
        run([raw_candles, feature_windows], root, instance, ticker, CANDLES)
    for fold in FOLDS:
        run([walk_forward_folds, normalization_stats], root, instance, fold)
    run([board_predictions], root, instance, f"{FOLDS[0]}|cnn", TRAIN)  # the first build records the config
    for fold in FOLDS:
        for model in BOARD:
            run([board_predictions], root, instance, f"{fold}|{model}")
    return root, instance


def test_one_model_and_fold_materializes_alone_and_leaves_every_other_partition_untouched(board):
    root, instance = board
    # the network trained in the board's own folder, removed once it predicted: trained_model's are untouched
    assert not (root / "models").exists() and not (root / "board" / "cnn" / "runs").exists()
    cnn, meta = read_parquet(root / "board" / "cnn" / f"{FOLDS[0]}.parquet")
    assert meta["training"]["model"] == "cnn" and meta["chosen"]["best_epoch"] in (1, 2)
    assert np.isfinite(cnn[PREDICTION]).all() and (cnn["date"] >= np.datetime64(FOLDS[0])).all()
    before = files(root)
    target = root / "board" / "ridge" / f"{FOLDS[1]}.parquet"
    stored = read_parquet(target)[0]
    run([board_predictions], root, instance, f"{FOLDS[1]}|ridge")
    after = files(root)
    changed = {p for p in after if before.get(p) != after[p]}
    assert changed == {target.relative_to(root)} and set(after) == set(before)  # its own file alone was written
    pd.testing.assert_frame_equal(read_parquet(target)[0], stored)  # the same fit on the same blocks
    ridge = [read_parquet(root / "board" / "ridge" / f"{f}.parquet")[0] for f in FOLDS]
    momentum = [read_parquet(root / "board" / "momentum" / f"{f}.parquet")[0] for f in FOLDS]
    for r, m in zip(ridge, momentum, strict=True):  # the same test rows for every model of a fold
        assert r[["ticker", "date"]].equals(m[["ticker", "date"]])


def test_the_leaderboard_scores_the_enabled_models_and_the_report_and_cli_show_it(board, monkeypatch, capsys):
    root, instance = board
    settings = dataclasses.replace(load_settings(), models=BOARD)
    monkeypatch.setattr(board_assets, "load_settings", lambda: settings)
    result = run([leaderboard], root, instance)
    table, meta = read_parquet(root / "leaderboard" / "leaderboard.parquet")
    assert sorted(table["model"]) == sorted(BOARD) and (table["folds"] == len(FOLDS)).all()
    assert meta["folds"] == FOLDS and meta["n_trials"] == len(BOARD)
    assert (root / "leaderboard" / "leaderboard.png").is_file()
    shown = result.asset_materializations_for_node("leaderboard")[0].metadata
    assert "neutral net Sharpe" in shown["leaderboard"].value and "data:image/png;base64" in shown["chart"].value
    from fin_pipeline.cli import leaderboard as cli
    from fin_pipeline.definitions import build_definitions

    defs = build_definitions({"candle_source": SyntheticMarketResource(seed=7), "store": DataStore(root=str(root))})
    monkeypatch.setattr("fin_pipeline.definitions.defs", defs)
    assert cli.leaderboard() == 0
    printed = capsys.readouterr().out
    assert f"2 model(s) over {len(FOLDS)} fold(s)" in printed and "PBO" in printed
    assert all(m in printed for m in BOARD)
    empty = build_definitions(
        {"candle_source": SyntheticMarketResource(seed=7), "store": DataStore(root=str(root / "x"))}
    )
    monkeypatch.setattr("fin_pipeline.definitions.defs", empty)
    assert cli.leaderboard() == 1 and "no leaderboard yet" in capsys.readouterr().out


def test_the_configured_network_scores_the_folds_published_model_instead_of_training_it_again(board):
    """Once trained_model[fold] holds this very network (same specification and training rows), the board scores
    it as it is: the predictions equal fold_metrics' (scored through the fold's own path) and the board's own fresh
    training of the same seed (the fixture's), and no second model is trained."""
    from fin_pipeline.defs.assets.training import fold_metrics, trained_model

    root, instance = board
    fresh = read_parquet(root / "board" / "cnn" / f"{FOLDS[0]}.parquet")[0]
    same = {"ops": {"trained_model": TRAIN["ops"]["board_predictions"]}}  # the very network the board trained
    run([trained_model, fold_metrics], root, instance, FOLDS[0], same)
    run([board_predictions], root, instance, f"{FOLDS[0]}|cnn", TRAIN)
    reused, meta = read_parquet(root / "board" / "cnn" / f"{FOLDS[0]}.parquet")
    assert meta["chosen"] == {"checkpoint": "the fold's published model"}
    assert not (root / "board" / "cnn" / "runs").exists()
    scored = read_parquet(root / "metrics" / FOLDS[0] / "predictions.parquet")[0]
    merged = reused.merge(scored[["ticker", "date", "model"]], on=["ticker", "date"], validate="one_to_one")
    assert len(merged) == len(reused) > 0
    np.testing.assert_allclose(merged[PREDICTION], merged["model"], rtol=1e-6)
    np.testing.assert_allclose(reused[PREDICTION], fresh[PREDICTION], rtol=1e-5, atol=1e-7)
