import datetime as dt

import numpy as np
import pytest
from dagster import DagsterInstance, materialize

from fin_pipeline.core.calendar import nyse_sessions
from fin_pipeline.defs.assets.candles import raw_candles
from fin_pipeline.defs.assets.features import FEATURE_CHECKS, feature_windows
from fin_pipeline.defs.resources import DataStore, SyntheticMarketResource
from fin_pipeline.features.assemble import load_window_set
from fin_pipeline.features.cost_inputs import COST_INPUTS
from fin_pipeline.features.frame import min_candles
from fin_pipeline.features.indicators import FEATURE_COLUMNS, FEATURE_VERSION, WARMUP, WINDOW
from fin_pipeline.store.parquet import read_parquet


def run(tmp_path, start="2019-01-01", end="2020-12-31", ticker="AAPL", assets=None, horizon=None, execution=None):
    ops = {"raw_candles": {"config": {"start": start, "end": end}}}
    if horizon is not None:
        ops["feature_windows"] = {"config": {"horizon": horizon}}
    if execution is not None:
        ops.setdefault("feature_windows", {"config": {}})["config"]["execution"] = execution
    return materialize(
        assets or [raw_candles, feature_windows],
        partition_key=ticker,
        resources={"candle_source": SyntheticMarketResource(seed=3), "store": DataStore(root=str(tmp_path / "data"))},
        run_config={"ops": ops},
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def meta_of(result, node):
    (mat,) = result.asset_materializations_for_node(node)
    return {k: v.value for k, v in mat.metadata.items()}


def failure_message(result):
    (failure,) = result.get_step_failure_events()
    return failure.step_failure_data.error.message


def test_materializes_features_after_candles_with_passing_checks(tmp_path):
    result = run(tmp_path)
    assert result.success
    checks = {
        e.check_name: e.passed for e in result.get_asset_check_evaluations() if e.asset_key.path == ["feature_windows"]
    }
    assert checks == dict.fromkeys(FEATURE_CHECKS, True)

    raw = meta_of(result, "raw_candles")
    meta = meta_of(result, "feature_windows")
    rows = raw["rows"]
    assert meta["rows"] == rows == 505
    assert meta["usable_windows"] == rows - min_candles() + 1
    assert meta["warmup_rows"] == WARMUP
    assert (
        (meta["first_date"], meta["last_date"]) == (raw["first_date"], raw["last_date"]) == ("2019-01-02", "2020-12-31")
    )
    first_usable = nyse_sessions(dt.date(2019, 1, 1), dt.date(2019, 12, 31))[WARMUP + WINDOW - 1]
    assert meta["first_usable_date"] == str(first_usable.date())  # the first window after the warm-up ends there
    assert meta["horizon"] == 1 and meta["feature_version"] == FEATURE_VERSION

    path = tmp_path / "data" / "feature_windows" / "AAPL.parquet"
    frame, file_meta = read_parquet(path)
    assert list(frame.columns) == ["timestamp", *FEATURE_COLUMNS, "target", "next_return", "window_ok", *COST_INPUTS]
    assert (frame[list(FEATURE_COLUMNS)].dtypes == np.float32).all() and frame["window_ok"].dtype == bool
    assert file_meta["ticker"] == "AAPL" and file_meta["window"] == WINDOW and file_meta["horizon"] == 1
    assert file_meta["feature_version"] == FEATURE_VERSION and file_meta["feature_columns"] == list(FEATURE_COLUMNS)
    ws = load_window_set({"AAPL": path})
    assert len(ws) == meta["usable_windows"] and str(ws.index["date"].iloc[0].date()) == meta["first_usable_date"]


def test_horizon_comes_from_run_config(tmp_path):
    result = run(tmp_path, horizon=5)
    assert result.success
    meta = meta_of(result, "feature_windows")
    assert meta["horizon"] == 5 and meta["usable_windows"] == meta["rows"] - min_candles(horizon=5) + 1
    frame, file_meta = read_parquet(tmp_path / "data" / "feature_windows" / "AAPL.parquet")
    candles, _ = read_parquet(tmp_path / "data" / "raw_candles" / "AAPL.parquet")
    opens = candles["open"].to_numpy()  # next_open, the default: open t+1 -> open t+6
    np.testing.assert_allclose(frame["target"].to_numpy()[:-6], np.log(opens[6:] / opens[1:-5]), rtol=1e-6)
    assert file_meta["horizon"] == 5 and file_meta["execution"] == "next_open"


def test_execution_comes_from_run_config_and_an_unknown_one_fails_naming_it(tmp_path):
    result = run(tmp_path, execution="close")
    assert result.success
    meta = meta_of(result, "feature_windows")
    assert "not executable from a run after the close" in meta["execution"] and meta["untradable_days"] == 0
    frame, file_meta = read_parquet(tmp_path / "data" / "feature_windows" / "AAPL.parquet")
    close = read_parquet(tmp_path / "data" / "raw_candles" / "AAPL.parquet")[0]["close"].to_numpy()
    np.testing.assert_allclose(frame["target"].to_numpy()[:-1], np.log(close[1:] / close[:-1]), rtol=1e-6)
    assert file_meta["execution"] == "close"
    bad = run(tmp_path / "bad", execution="at_noon")
    assert not bad.success
    assert "feature_windows config execution (FIN_PIPELINE_EXECUTION)='at_noon' is not one of" in failure_message(bad)


def test_missing_raw_candles_fail_naming_ticker_and_path(tmp_path):
    result = materialize(
        [raw_candles, feature_windows],
        selection=[feature_windows],
        partition_key="MSFT",
        resources={"candle_source": SyntheticMarketResource(), "store": DataStore(root=str(tmp_path / "data"))},
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    message = failure_message(result)
    expected_path = tmp_path / "data" / "raw_candles" / "MSFT.parquet"
    assert "MSFT" in message and str(expected_path) in message and "materialize raw_candles" in message
    assert not (tmp_path / "data" / "feature_windows").exists()


@pytest.mark.parametrize("end", ["2020-03-31"])
def test_too_short_a_history_fails_naming_ticker_and_count(tmp_path, end):
    result = run(tmp_path, start="2020-01-01", end=end)
    assert not result.success
    rows = meta_of(result, "raw_candles")["rows"]
    assert f"AAPL: {rows} candle(s), need at least {min_candles()}" in failure_message(result)


def test_a_leaking_feature_fails_the_blocking_look_ahead_check(tmp_path, monkeypatch):
    import fin_pipeline.defs.assets.features as module
    from fin_pipeline.features.columns import compute_features
    from fin_pipeline.features.lookahead import lookahead_violations

    def leaky(candles):
        close = candles["close"]
        return compute_features(candles).assign(tomorrow=(close.shift(-1) / close).to_numpy())

    # the asset checks the features and the cost inputs, each in one call: both see the leaky features here
    monkeypatch.setattr(
        module, "lookahead_violations", lambda c, compute=None, cuts=None: lookahead_violations(c, leaky, cuts)
    )
    result = run(tmp_path)
    assert not result.success  # blocking: nothing downstream would run on leaking features
    (check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "no_look_ahead"]
    assert not check.passed and "tomorrow" in check.metadata["leaking_columns"].value
