"""The LightGBM baseline: its design is what the docstring says, early stopping looks at the tuning block only,
it is deterministic, and a missing package is a clear error."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys

import numpy as np
import pytest

from fin_pipeline.features.assemble import build_windows
from fin_pipeline.features.frame import build_feature_frame
from fin_pipeline.sources.synthetic import SyntheticMarket
from fin_pipeline.training.boosting import LAG_COLUMNS, LAGS, lightgbm_design, lightgbm_predictions
from fin_pipeline.training.folds import FoldSpec, compute_folds, fold_positions
from fin_pipeline.training.normalization import fit_fold_normalization

SPEC = FoldSpec(first_test_date=dt.date(2019, 7, 1), tune_days=40, min_train_days=100)


@pytest.fixture(scope="module")
def fold_data():
    market = SyntheticMarket(seed=3)
    frames = {
        t: build_feature_frame(market.fetch(t, dt.date(2017, 1, 3), dt.date(2019, 12, 31)), t, horizon=1)
        for t in ("AAPL", "MSFT")
    }
    ws = build_windows(frames)
    fold = compute_folds(ws, SPEC)[0]
    return ws, fold, fit_fold_normalization(ws, fold)


def with_targets(ws, positions, values):
    """A copy of ``ws`` whose targets of the windows at ``positions`` are ``values``."""
    targets = ws.targets.copy()
    targets[np.asarray(positions) + ws.window - 1] = values
    targets.flags.writeable = False
    return dataclasses.replace(ws, targets=targets)


def test_the_design_holds_the_last_day_and_the_lagged_returns(fold_data):
    ws, fold, stats = fold_data
    rows = fold_positions(ws, fold).test[:5]
    x = lightgbm_design(ws, stats, rows)
    f = len(ws.feature_columns)
    assert x.shape == (5, f + len(LAG_COLUMNS) * len(LAGS))
    for i, k in enumerate(rows):
        last = k + ws.window - 1
        np.testing.assert_allclose(x[i, :f], (ws.values[last] - stats.mean) / stats.std)
        j = ws.feature_columns.index("ret_5d")
        by_hand = (ws.values[last - 3, j] - stats.mean[j]) / stats.std[j]  # ret_5d at lag 3
        assert x[i, f + len(LAGS) * 1 + 2] == pytest.approx(float(by_hand))


def test_early_stopping_uses_the_tuning_block_and_never_the_test_block(fold_data):
    ws, fold, stats = fold_data
    pos = fold_positions(ws, fold)
    rows = pos.test
    pred, chosen = lightgbm_predictions(ws, fold, stats, rows)
    assert 1 <= chosen["lightgbm_best_iteration"] <= chosen["lightgbm_rounds"]
    assert np.isfinite(pred).all() and pred.std() > 0
    # Deterministic: the same call twice gives the same trees.
    again, chosen_again = lightgbm_predictions(ws, fold, stats, rows)
    np.testing.assert_array_equal(pred, again)
    assert chosen_again == chosen
    # Test-block targets replaced by noise: nothing changes (the stats are the fold's, fitted without them).
    rng = np.random.default_rng(1)
    noisy = with_targets(ws, pos.test, rng.normal(0, 0.5, len(pos.test)).astype(np.float32))
    pred_noisy, chosen_noisy = lightgbm_predictions(noisy, fold, stats, rows)
    np.testing.assert_array_equal(pred, pred_noisy)
    assert chosen_noisy == chosen
    # Tuning-block targets replaced by the training mean: the tuning loss is lowest with the fewest trees that
    # stay closest to that mean, so the choice changes: early stopping reads the tuning block.
    flat = with_targets(ws, pos.tune, np.float32(ws.y(pos.train).mean()))
    _, chosen_flat = lightgbm_predictions(flat, fold, stats, rows)
    assert chosen_flat["lightgbm_tune_mse"] != chosen["lightgbm_tune_mse"]
    assert chosen_flat["lightgbm_best_iteration"] != chosen["lightgbm_best_iteration"]


def test_a_missing_lightgbm_names_the_setting_and_the_install(fold_data, monkeypatch):
    ws, fold, stats = fold_data
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # import lightgbm now raises ImportError
    with pytest.raises(RuntimeError, match=r"FIN_PIPELINE_MODELS.*pip install lightgbm"):
        lightgbm_predictions(ws, fold, stats, fold_positions(ws, fold).test)
