"""The cost inputs travel from the candles to the books: feature files, the window set, the predictions, and the
paper record, always as of the decision day."""

import math
import types

import numpy as np
import pandas as pd
import pytest

from fin_pipeline.core.costs import CostModel
from fin_pipeline.evaluation.live import score_forecasts
from fin_pipeline.evaluation.scoring import score_fold
from fin_pipeline.features.assemble import build_windows
from fin_pipeline.features.cost_inputs import COST_INPUTS, cost_inputs
from fin_pipeline.features.frame import build_feature_frame
from fin_pipeline.training.fold_training import window_rows
from fin_pipeline_tests.features import synthetic_candles

TICKERS = ("AAPL", "MSFT", "XOM")


@pytest.fixture(scope="module")
def market():
    candles = {t: synthetic_candles(200, t) for t in TICKERS}
    return candles, build_windows({t: build_feature_frame(c, t) for t, c in candles.items()})


def inputs_on(candles: pd.DataFrame, day) -> pd.Series:
    """cost_inputs of the candles, read on the session ``day`` (a naive date)."""
    dates = candles["timestamp"].dt.tz_convert("America/New_York").dt.tz_localize(None).dt.normalize()
    return cost_inputs(candles).loc[int(np.flatnonzero(dates == pd.Timestamp(day))[0])]


def test_predictions_carry_the_decision_days_cost_inputs(market):
    candles, ws = market
    positions = ws.indices[::37]
    rows = window_rows(ws, positions)
    for row in rows.itertuples():
        expected = inputs_on(candles[row.ticker], row.date)
        np.testing.assert_allclose([getattr(row, c) for c in COST_INPUTS], expected[list(COST_INPUTS)], rtol=1e-12)
    assert ws.tickers_without_costs() == []


def test_feature_files_without_cost_inputs_are_refused_before_any_work(market):
    candles, _ = market
    frames = {t: build_feature_frame(c, t) for t, c in candles.items()}
    frames["MSFT"] = frames["MSFT"].drop(columns=list(COST_INPUTS))  # written before the cost inputs existed
    old = build_windows(frames)
    assert old.tickers_without_costs() == ["MSFT"]
    assert window_rows(old, old.select(tickers=["MSFT"])[:3])["adv"].isna().all()
    fold = types.SimpleNamespace(fold="2020-10-01")  # nothing of the fold is read before the refusal
    with pytest.raises(ValueError, match=r"2020-10-01: the feature files of \['MSFT'\] carry no cost inputs"):
        score_fold(old, fold, None, "no-such-checkpoint.pt", "no-such-folder", costs=CostModel())


def test_the_paper_record_charges_the_as_of_days_spread_and_impact(market):
    candles, ws = market
    days = sorted(set(ws.index["date"]))[-3:-1]  # two forecast days whose targets are realized
    signs = {"AAPL": 1.0, "MSFT": -1.0, "XOM": 1.0}
    forecasts = pd.DataFrame(
        [
            {
                "as_of": d,
                "forecast_date": d,
                "made_at": pd.Timestamp(d).tz_localize("America/New_York") + pd.Timedelta(hours=9),  # before the open
                "ticker": t,
                "model": signs[t] * (1 if k == 0 or t != "MSFT" else -1),  # MSFT flips short → long on day 2
                "weight_sign": signs[t] * (1 if k == 0 or t != "MSFT" else -1) / 3,
                "weight_long_only": max(signs[t] * (1 if k == 0 or t != "MSFT" else -1), 0) / 3,
                "weight_neutral": 0.0,
            }
            for k, d in enumerate(days)
            for t in TICKERS
        ]
    )
    costs = CostModel(capital=5e7, impact_k=0.8, spread_floor_bps=0.0)
    record = score_forecasts(forecasts, ws, horizon=1, costs=costs)
    flat = score_forecasts(forecasts, ws, horizon=1, costs=CostModel(cost_model="flat", cost_bps=0.0))
    trades = [{t: 1 / 3 for t in TICKERS}, {"MSFT": 2 / 3}]  # entry, then MSFT from −1/3 to +1/3
    for k, day in enumerate(days):
        cost = 0.0
        for t, dw in trades[k].items():
            x = inputs_on(candles[t], day)
            cost += dw * (x["half_spread"] + 0.8 * x["sigma"] * math.sqrt(dw * 5e7 / x["adv"]))
        assert flat["net_sign"].iloc[k] - record["net_sign"].iloc[k] == pytest.approx(cost, rel=1e-9)


def test_the_report_shows_the_capacity_of_the_models_books(tmp_path):
    from fin_pipeline.backtest.metrics import sharpe_ratio
    from fin_pipeline.report.text import provenance_for
    from fin_pipeline.report.walk_forward import write_report
    from fin_pipeline.store.parquet import read_parquet_meta
    from fin_pipeline_tests.backtest.test_costs import spread_and_impact_by_hand
    from fin_pipeline_tests.report.test_tearsheets import fold_results, synthetic_record

    record = synthetic_record(ic=0.3, seed=4)
    rng = np.random.default_rng(4)
    record = record.assign(
        half_spread=rng.uniform(0.0, 4e-4, len(record)),
        sigma=rng.uniform(0.01, 0.02, len(record)),
        adv=np.exp(rng.uniform(np.log(5e7), np.log(5e9), len(record))),
    )
    header = provenance_for(["synthetic"], ["AAA"], "close", CostModel())
    report = write_report(fold_results(record), tmp_path, tearsheets=False, costs=CostModel(), provenance=header)
    text = (tmp_path / "report.md").read_text()
    assert "## Capacity: the model's books at other capitals" in text
    assert "net of costs: half-spread (Corwin–Schultz from daily high/low, floor 1 bps)" in text
    table = pd.read_parquet(tmp_path / "capacity.parquet").set_index("capital")
    assert list(table.index) == ["C→0 (spread only)", "$1M", "$10M", "$100M", "$1B"]
    # At the configured $10M the table is the book the report scored; at C → 0 the spread alone, by hand.
    model = report.stitched.books["model"]
    assert table.loc["$10M", "model net Sharpe"] == pytest.approx(report.stitched.backtest.loc["model", "sharpe"])
    turnover, spread, _ = spread_and_impact_by_hand(record, 1.0, 1.0)  # from the predictions, not the book
    np.testing.assert_allclose(model.daily["turnover"], turnover, rtol=1e-12)
    gross = model.daily["gross_return"].to_numpy()
    assert table.loc["C→0 (spread only)", "model net Sharpe"] == pytest.approx(sharpe_ratio(gross - spread))
    halving = next(c for c in report.capacity if c.book == "model")
    assert f"model: {halving.note}" in text
    assert read_parquet_meta(tmp_path / "capacity.parquet")["halving"].startswith(f"model: {halving.note}")
    flat_header = provenance_for(["synthetic"], ["AAA"], "close", CostModel(cost_model="flat"))
    flat = write_report(fold_results(record), tmp_path, tearsheets=False, provenance=flat_header)  # flat costs
    assert flat.capacity == [] and "Not measured: flat costs" in (tmp_path / "report.md").read_text()
    assert not (tmp_path / "capacity.parquet").exists()  # no capacity left from the earlier report


def test_the_runs_cost_config_defaults_to_the_settings_and_refuses_a_bad_value_by_name():
    from dagster import Failure

    from fin_pipeline.core.settings import load_settings
    from fin_pipeline.defs.assets.report import ReportConfig
    from fin_pipeline.defs.costs import CostsConfig

    assert CostsConfig().costs("fold_metrics") == load_settings().costs
    assert ReportConfig(capital=1e9).costs("walk_forward_report") == load_settings().costs.with_capital(1e9)
    with pytest.raises(Failure, match=r"live_record config rejected before any work: capital \(FIN_PIPELINE_CAPITAL\)"):
        CostsConfig(capital=-1.0).costs("live_record")
    with pytest.raises(Failure, match=r"fold_metrics config rejected.*cost_model \(FIN_PIPELINE_COST_MODEL\) 'sqrt'"):
        CostsConfig(cost_model="sqrt").costs("fold_metrics")
