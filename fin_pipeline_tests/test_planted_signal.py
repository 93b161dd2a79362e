"""End to end on data where the answer is known: the synthetic market with a planted signal of IC 0.1.

The whole path (features, folds, normalization, a fresh CNN per fold early-stopped on its tuning block, test-block
predictions, baselines) and the statistics (Newey–West t of the stitched IC, the verdict in words) must find the
signal when it is there and claim no skill when it is not. Sized for CI: 8 tickers × 9 years, 3 folds, a small CNN
for 3 epochs. Found on the way (issue 14, left open): at the quick-start settings the CNN itself does not learn the
planted IC-0.1 signal (its stitched IC is about 0), while momentum and ridge find it with t > 5.
"""

from __future__ import annotations

import datetime as dt

from fin_pipeline.features.indicators import build_feature_frame
from fin_pipeline.features.windows import build_windows
from fin_pipeline.report import FoldResult, write_report
from fin_pipeline.scoring import score_fold
from fin_pipeline.sources.synthetic import SyntheticMarket
from fin_pipeline.training.walkforward import FoldSpec, TrainSpec, compute_folds, fit_fold_normalization, train_fold

TICKERS = ("AAPL", "MSFT", "AMZN", "GOOGL", "META", "NVDA", "JPM", "XOM")
TRAIN = TrainSpec(model="cnn", epochs=3, batch_size=256, seed=0, model_config={"channels": (32, 32, 32, 32)})


def stitched_report(tmp_path, signal_ic: float):
    market = SyntheticMarket(seed=7, signal_ic=signal_ic)
    start, end = dt.date(2012, 1, 3), dt.date(2020, 12, 31)
    ws = build_windows({t: build_feature_frame(market.fetch(t, start, end), t) for t in TICKERS})
    results = []
    for fold in compute_folds(ws, FoldSpec(num_folds=3)):
        stats = fit_fold_normalization(ws, fold)
        outcome = train_fold(ws, fold, stats, TRAIN, tmp_path / fold.fold)
        scores, pred, _ = score_fold(ws, fold, stats, outcome.best_path, tmp_path / "metrics" / fold.fold)
        f, b = scores.forecasts.reset_index(), scores.backtest.reset_index()
        results.append(FoldResult(fold.fold, fold.to_dict(), f, pred, b, scores.comparison, outcome.history))
    return write_report(results, tmp_path / "report")


def test_a_planted_signal_is_found_by_the_statistics(tmp_path):
    report = stitched_report(tmp_path, 0.1)
    forecasts = report.stitched.forecasts
    # Momentum (yesterday's return) is exactly the planted predictor; ridge sees it among 40 features. Both are
    # found significant on the stitched test blocks.
    assert forecasts.loc["momentum", "ic_nw_t"] > 3 and forecasts.loc["momentum", "ic_ci_low"] > 0
    assert forecasts.loc["ridge", "ic_nw_t"] > 3 and forecasts.loc["ridge", "ic"] > 0.03
    # The verdict on the model is whatever its own test says, never more: a claim only with p < 5% and IC > 0.
    model = forecasts.loc["model"]
    claims = report.stitched.verdict[0].startswith("**Ranking skill: yes.**")
    assert claims == bool(model["ic_nw_p"] < 0.05 and model["ic"] > 0)


def test_without_a_signal_the_report_claims_no_skill(tmp_path):
    report = stitched_report(tmp_path, 0.0)
    forecasts = report.stitched.forecasts
    assert report.stitched.verdict[0].startswith("**Ranking skill: not shown.**")
    assert (forecasts.loc[["momentum", "ridge"], "ic_nw_p"] > 0.05).all()
    text = (tmp_path / "report" / "report.md").read_text()
    assert "beats the zero baseline" not in text and "no claim of skill" in text
