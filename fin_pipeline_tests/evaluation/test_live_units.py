"""The live forecast of a network whose output is a score (a scale-free loss) is in return units: the line of the
live model's own tuning-block returns on its outputs, as the folds' forecasts are."""

from __future__ import annotations

import datetime as dt

import numpy as np
import torch

from fin_pipeline.evaluation.live import live_boundaries, make_forecast
from fin_pipeline.features.assemble import build_windows
from fin_pipeline.features.frame import build_feature_frame
from fin_pipeline.features.windows import latest_windows
from fin_pipeline.sources.synthetic import SyntheticMarket
from fin_pipeline.training.checkpoint import load_checkpoint
from fin_pipeline.training.folds import FoldSpec, fold_positions
from fin_pipeline.training.normalization import fit_fold_normalization
from fin_pipeline.training.spec import TrainSpec
from fin_pipeline.training.walkforward import train_fold

TICKERS = ("AAPL", "MSFT", "XOM", "JPM")


def test_a_scale_free_live_model_forecasts_returns_by_its_tuning_blocks_line(tmp_path):
    market = SyntheticMarket(seed=11)
    frames = {
        t: build_feature_frame(market.fetch(t, dt.date(2017, 1, 3), dt.date(2020, 6, 30)), t, horizon=1)
        for t in TICKERS
    }
    ws = build_windows(frames)
    fold = live_boundaries(ws, FoldSpec(tune_days=40, min_train_days=100))
    stats = fit_fold_normalization(ws, fold)
    spec = TrainSpec(model="cnn", loss="ic", epochs=1, batch_size=64, seed=2, model_config={"channels": (8, 8, 8, 8)})
    outcome = train_fold(ws, fold, stats, spec, tmp_path)
    forecast, _ = make_forecast(ws, outcome.best_path)
    model, _ = load_checkpoint(outcome.best_path)

    def outputs(positions):
        x = (torch.from_numpy(ws.X(positions).copy()) - torch.from_numpy(stats.mean)) / torch.from_numpy(stats.std)
        with torch.no_grad():
            return model.eval()(x)[:, 0].double().numpy()

    tune = fold_positions(ws, fold).tune
    slope, intercept = np.polyfit(outputs(tune), ws.y(tune).astype(np.float64), 1)
    last, _ = latest_windows(ws)  # each ticker's window ending on the data's last day
    last = last.set_index("ticker").loc[forecast["ticker"]]
    expected = intercept + slope * outputs(last["window"].to_numpy())
    np.testing.assert_allclose(forecast["model"], expected, rtol=1e-4, atol=1e-9)
    assert len(forecast) == len(TICKERS) and slope != 0
