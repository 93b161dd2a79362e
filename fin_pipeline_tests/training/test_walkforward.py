"""The walk-forward library on a small universe: the test block cannot influence training, the baselines are what
they say, and the fold layout honours uneven universes."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view

import fin_pipeline.training.fold_training as fold_training
from fin_pipeline.features.assemble import build_windows
from fin_pipeline.features.frame import build_feature_frame
from fin_pipeline.features.windows import WindowSet
from fin_pipeline.sources.synthetic import SyntheticMarket
from fin_pipeline.training.walkforward import (
    FoldSpec,
    TrainSpec,
    add_baselines,
    compute_folds,
    covered_rows,
    fit_fold_normalization,
    fold_positions,
    fold_record,
    predict_fold,
    train_fold,
    window_rows,
)

TICKERS = ("AAPL", "MSFT", "XOM")
SPEC = FoldSpec(first_test_date=dt.date(2020, 7, 1), tune_days=40, min_train_days=100)  # quarters: 2 folds
TRAIN = TrainSpec(model="cnn", epochs=2, batch_size=64, seed=5, model_config={"channels": (16, 16, 16, 16)})


def candles(ticker, start="2016-01-04", end="2020-12-31"):
    return SyntheticMarket(seed=7).fetch(ticker, dt.date.fromisoformat(start), dt.date.fromisoformat(end))


@pytest.fixture(scope="module")
def universe():
    raw = {t: candles(t) for t in TICKERS}
    frames = {t: build_feature_frame(c, t, horizon=1) for t, c in raw.items()}
    return raw, build_windows(frames)


def with_garbage(ws: WindowSet, keep_positions: np.ndarray, seed: int = 0) -> WindowSet:
    """A copy of ``ws`` whose rows and targets that no window at ``keep_positions`` uses are finite garbage."""
    rng = np.random.default_rng(seed)
    values, targets = ws.values.copy(), ws.targets.copy()
    unused = ~covered_rows(ws, keep_positions)
    values[unused] = rng.normal(0, 1e3, size=(int(unused.sum()), values.shape[1])).astype(np.float32)
    keep = np.zeros(len(targets), bool)
    keep[keep_positions + ws.window - 1] = True
    swap = ~keep & np.isfinite(targets)
    targets[swap] = rng.normal(0, 5.0, size=int(swap.sum())).astype(np.float32)
    values.flags.writeable = targets.flags.writeable = False
    windows = sliding_window_view(values, ws.window, axis=0).transpose(0, 2, 1)
    index = ws.index.assign(target=targets[ws.index["window"].to_numpy() + ws.window - 1])
    return WindowSet(values, targets, windows, index, ws.spans, ws.window, ws.feature_columns)


def checkpoint_state(path):
    ckpt = torch.load(path, weights_only=True)
    return ckpt["model"], ckpt["optimizer"]["state"], ckpt["epoch"], ckpt["best_score"]


def test_the_test_block_cannot_influence_training(universe, tmp_path, monkeypatch):
    _, ws = universe
    fold = compute_folds(ws, SPEC)[0]
    pos = fold_positions(ws, fold)
    fitting = np.concatenate([pos.train, pos.tune])
    garbled = with_garbage(ws, fitting)
    # the garbage really lands in the test block: its windows' features and targets differ
    assert not np.array_equal(garbled.X(pos.test), ws.X(pos.test))
    assert not np.array_equal(garbled.y(pos.test), ws.y(pos.test))

    served = []

    class SpyLoader(fold_training.TensorBatchLoader):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            served.append(self.indices.cpu().numpy().copy())

    monkeypatch.setattr(fold_training, "TensorBatchLoader", SpyLoader)
    runs = []
    for i, data in enumerate((ws, garbled)):
        stats = fit_fold_normalization(data, fold)
        train_fold(data, fold, stats, TRAIN, tmp_path / str(i))
        runs.append((stats, checkpoint_state(tmp_path / str(i) / "best.pt")))
    (stats_a, (ma, oa, ea, sa)), (stats_b, (mb, ob, eb, sb)) = runs
    np.testing.assert_array_equal(stats_a.mean, stats_b.mean)
    np.testing.assert_array_equal(stats_a.std, stats_b.std)
    assert stats_a.target_scale == stats_b.target_scale
    assert (ea, sa) == (eb, sb)
    assert all(torch.equal(ma[k], mb[k]) for k in ma)
    assert all(torch.equal(oa[i][k], ob[i][k]) for i in oa for k in oa[i] if torch.is_tensor(oa[i][k]))
    # every loader train_fold built serves training or tuning windows only, never a test window
    assert len(served) == 4
    for indices in served:
        assert np.isin(indices, fitting).all() and not np.isin(indices, pos.test).any()
    np.testing.assert_array_equal(np.sort(served[0]), np.sort(pos.train))
    np.testing.assert_array_equal(np.sort(served[1]), np.sort(pos.tune))


def test_momentum_is_the_past_h_day_log_return_and_next_return_the_next_day_open_to_open(tmp_path):
    h = 5
    raw = {t: candles(t, "2017-01-03", "2020-12-31") for t in TICKERS}
    ws = build_windows({t: build_feature_frame(c, t, horizon=h) for t, c in raw.items()})
    fold = compute_folds(ws, dataclasses.replace(SPEC, tune_days=30), horizon=h)[1]
    stats = fit_fold_normalization(ws, fold)
    rows = window_rows(ws, fold_positions(ws, fold).test)
    out, chosen = add_baselines(ws, fold, stats, rows)
    for ticker, c in raw.items():
        close = pd.Series(
            c["close"].to_numpy(np.float64),
            index=c["timestamp"].dt.tz_convert("America/New_York").dt.tz_localize(None).dt.normalize(),
        )
        opens = pd.Series(c["open"].to_numpy(np.float64), index=close.index)
        mine = out[out["ticker"] == ticker].set_index("date")
        expected_momentum = np.log(close / close.shift(h)).reindex(mine.index)  # as of close t: a feature
        # next_open (the default): bought at open t+1; the one-day return to open t+2, the target to open t+1+h
        expected_next = np.log(opens.shift(-2) / opens.shift(-1)).reindex(mine.index)
        expected_target = np.log(opens.shift(-1 - h) / opens.shift(-1)).reindex(mine.index)
        np.testing.assert_allclose(mine["momentum"], expected_momentum, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(mine["next_return"], expected_next, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(mine["target"], expected_target, atol=1e-6)
    assert (out["zero"] == 0).all() and chosen["ridge_alpha"] in [float(a) for a in chosen["ridge_tune_mse"]]


def test_ridge_alpha_is_chosen_on_the_tuning_block_and_solves_the_augmented_least_squares(universe):
    _, ws = universe
    fold = compute_folds(ws, SPEC)[1]
    stats = fit_fold_normalization(ws, fold)
    pos = fold_positions(ws, fold)
    out, chosen = add_baselines(ws, fold, stats, window_rows(ws, pos.test))
    alpha = chosen["ridge_alpha"]
    assert chosen["ridge_tune_mse"][str(alpha)] == min(chosen["ridge_tune_mse"].values())
    # Independent solution: least squares on [X 1; sqrt(a) I 0] [w; b] = [y; 0] (the intercept unpenalized).
    x = (ws.values[pos.train + ws.window - 1].astype(np.float64) - stats.mean) / stats.std
    y = ws.y(pos.train).astype(np.float64)
    f = x.shape[1]
    design = np.vstack(
        [np.hstack([x, np.ones((len(x), 1))]), np.hstack([np.sqrt(alpha) * np.eye(f), np.zeros((f, 1))])]
    )
    coef, *_ = np.linalg.lstsq(design, np.concatenate([y, np.zeros(f)]), rcond=None)
    x_test = (ws.values[pos.test + ws.window - 1].astype(np.float64) - stats.mean) / stats.std
    np.testing.assert_allclose(out["ridge"].to_numpy(), x_test @ coef[:-1] + coef[-1], rtol=1e-6, atol=1e-9)


def test_ridge_on_a_hand_case_equals_lstsq():
    from fin_pipeline.training.baselines import fit_ridge

    x = np.array([[1.0, 2.0], [2.0, 0.0], [3.0, 1.0], [4.0, 3.0]])
    y = np.array([1.0, 2.0, 2.5, 4.0])
    alpha = 0.7
    w, b = fit_ridge(x, y, alpha)
    design = np.vstack([np.hstack([x, np.ones((4, 1))]), np.hstack([np.sqrt(alpha) * np.eye(2), np.zeros((2, 1))])])
    coef, *_ = np.linalg.lstsq(design, np.concatenate([y, [0.0, 0.0]]), rcond=None)
    np.testing.assert_allclose(np.append(w, b), coef, rtol=1e-10)


def test_uneven_universe_honours_min_tickers_and_counts_tickers_per_fold():
    frames = {
        "AAPL": build_feature_frame(candles("AAPL", "2014-01-02", "2020-12-31"), "AAPL"),
        "LATE": build_feature_frame(candles("LATE", "2016-06-01", "2020-12-31"), "LATE"),  # lists late
        "GONE": build_feature_frame(candles("GONE", "2014-01-02", "2019-06-28"), "GONE"),  # delists early
        "MSFT": build_feature_frame(candles("MSFT", "2014-01-02", "2020-12-31"), "MSFT"),
    }
    ws = build_windows(frames)
    spec = FoldSpec(first_test_date=dt.date(2020, 4, 1), tune_days=40, min_train_days=100)  # 3 quarterly folds
    assert spec.tickers_needed(4) == 2
    folds = compute_folds(ws, spec)
    last_day = {t: ws.index.loc[ws.index["ticker"] == t, "date"].max().date() for t in frames}
    for fold in folds:
        record = fold_record(ws, fold)
        test = ws.index[fold.test_mask(ws.index["date"].to_numpy())]
        assert record["test_tickers"] == test["ticker"].nunique()
        assert record["test_min_tickers_per_day"] == test.groupby("date", observed=True).size().min() >= 2
    assert fold_record(ws, folds[-1])["test_tickers"] == 3  # GONE delisted before the last test block
    assert folds[-1].test_start > last_day["GONE"]
    # with min_tickers = 4, only the days when all four trade are cut into folds (up to GONE's last quarter)
    four = compute_folds(ws, dataclasses.replace(spec, min_tickers=4, first_test_date=dt.date(2019, 1, 1)))
    assert [f.fold for f in four] == ["2019-01-01", "2019-04-01"]
    first_late = ws.index.loc[ws.index["ticker"] == "LATE", "date"].min().date()
    assert four[0].train_start == first_late and four[-1].test_end == last_day["GONE"]
    with pytest.raises(ValueError, match="min_tickers=5 is more than the universe's 4"):
        compute_folds(ws, dataclasses.replace(spec, min_tickers=5))


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        (FoldSpec(tune_days=2), "tune_days must be >= 5, got 2"),
        (FoldSpec(min_tickers=0), "min_tickers must be >= 1, got 0"),
        (
            FoldSpec(purge_days=1),
            r"purge_days=1 must be >= the target's span h \+ L = 2 \(horizon h=1, execution 'next_open'",
        ),
        (FoldSpec(mode="sliding"), "mode must be one of"),
        (FoldSpec(period="week"), r"period \(FIN_PIPELINE_FOLD_PERIOD\) must be one of .*got 'week'"),
        (FoldSpec(first_test_date=dt.date(2024, 2, 1)), "2024-02-01 is not the first day of a quarter"),
        (FoldSpec(mode="rolling", train_days=30, tune_days=63), "rolling train_days=30 is shorter than the tuning"),
    ],
)
def test_bad_fold_config_names_field_and_value(spec, named):
    with pytest.raises(ValueError, match=named):
        spec.validate(horizon=1, universe_size=3)


def test_a_loss_whose_output_size_the_model_does_not_produce_is_rejected():
    with pytest.raises(ValueError, match="loss 'quantile' does not fit model 'cnn'"):
        TrainSpec(model="cnn", loss="quantile").validate()
    TrainSpec(model="cnn", loss="quantile", model_config={"output_size": 3}).validate()
    with pytest.raises(ValueError, match="loss 'mse' does not fit model 'cnn'"):
        TrainSpec(model="cnn", loss="mse", model_config={"output_size": 3}).validate()


def test_quantile_model_predicts_its_median_column(universe, tmp_path):
    _, ws = universe
    fold = compute_folds(ws, SPEC)[1]
    stats = fit_fold_normalization(ws, fold)
    spec = dataclasses.replace(
        TRAIN, loss="quantile", model_config={"channels": (16, 16, 16, 16), "output_size": 3}, epochs=1
    )
    train_fold(ws, fold, stats, spec, tmp_path)
    pred = predict_fold(ws, tmp_path / "best.pt")
    model, _ = fold_training.load_checkpoint(tmp_path / "best.pt")
    test = fold_positions(ws, fold).test
    x = (torch.from_numpy(ws.X(test[:50]).copy()) - torch.from_numpy(stats.mean)) / torch.from_numpy(stats.std)
    with torch.no_grad():
        median = model.eval()(x)[:, 1].numpy() * stats.target_scale  # quantiles (0.1, 0.5, 0.9): column 1
    np.testing.assert_allclose(pred["model"].to_numpy()[:50], median, rtol=1e-4, atol=1e-7)


def test_fold_normalization_is_the_mean_and_std_of_each_covered_row_once(universe):
    _, ws = universe
    fold = compute_folds(ws, SPEC)[0]
    pos = fold_positions(ws, fold)
    stats = fit_fold_normalization(ws, fold)
    # by hand: the set of rows that some training or tuning window covers, each once (window k: rows k .. k + W - 1)
    rows = sorted({r for k in np.concatenate([pos.train, pos.tune]) for r in range(k, k + ws.window)})
    values = ws.values[rows].astype(np.float64)
    assert stats.rows == len(rows) < (len(pos.train) + len(pos.tune)) * ws.window  # not once per window
    np.testing.assert_allclose(stats.mean, values.mean(axis=0), rtol=1e-6, atol=1e-6)
    expected_std = values.std(axis=0)
    np.testing.assert_allclose(stats.std, np.where(expected_std < 1e-8, 1.0, expected_std), rtol=1e-5)
    assert stats.target_scale == pytest.approx(float(np.std(ws.y(np.concatenate([pos.train, pos.tune])))))


def test_a_scale_free_model_forecasts_in_return_units_by_the_tuning_blocks_line(universe, tmp_path):
    """The IC loss leaves the output's scale free: the forecast is a + b·output with (a, b) the least-squares line of
    the tuning block's realized returns on its outputs (np.polyfit here), not the test block's."""
    _, ws = universe
    fold = compute_folds(ws, SPEC)[1]
    stats = fit_fold_normalization(ws, fold)
    train_fold(ws, fold, stats, dataclasses.replace(TRAIN, loss="ic", epochs=1), tmp_path)
    pred = predict_fold(ws, tmp_path / "best.pt")
    model, _ = fold_training.load_checkpoint(tmp_path / "best.pt")
    pos = fold_positions(ws, fold)

    def outputs(positions):
        x = (torch.from_numpy(ws.X(positions).copy()) - torch.from_numpy(stats.mean)) / torch.from_numpy(stats.std)
        with torch.no_grad():
            return model.eval()(x)[:, 0].double().numpy()

    slope, intercept = np.polyfit(outputs(pos.tune), ws.y(pos.tune).astype(np.float64), 1)
    assert slope != 0
    np.testing.assert_allclose(pred["model"], intercept + slope * outputs(pos.test), rtol=1e-4, atol=1e-9)
    # the line through the test block's own returns is another one: the forecast did not look there
    test_slope, _ = np.polyfit(outputs(pos.test), ws.y(pos.test).astype(np.float64), 1)
    assert not np.isclose(test_slope, slope, rtol=1e-3)
