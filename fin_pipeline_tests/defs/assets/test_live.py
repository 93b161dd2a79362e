"""The nightly product: simulated nights on the synthetic market (the data's end advanced a session at a time).

Night 1 has data to Wednesday 2021-05-12 and forecasts Thursday 2021-05-13; night 2 has data to Friday 2021-05-14
and forecasts Monday 2021-05-17. With h = 1 and the default execution (next_open) night 1's forecast is bought at
Thursday's open and sold at Friday's, so night 2's record scores it (a night with data to Thursday could not).
Each night's forecast is made at 21:30 New York that evening (the clock is set: a night replayed today would be
made after its session and never scored as on time).
"""

import contextlib

import numpy as np
import pandas as pd
import pytest
import torch
from dagster import DagsterInstance, materialize
from scipy.stats import rankdata

import fin_pipeline.defs.assets.live as live_assets
from fin_pipeline.core.calendar import nyse_sessions
from fin_pipeline.core.settings import load_settings
from fin_pipeline.definitions import build_definitions
from fin_pipeline.defs.assets.live import live_record
from fin_pipeline.defs.resources import DataStore, SyntheticMarketResource
from fin_pipeline.features.cost_inputs import cost_inputs
from fin_pipeline.store.parquet import read_parquet, write_parquet

TICKERS = list(load_settings().universe)
START = "2019-01-02"
# (the data's last day, the forecast date). Under the default execution (next_open) the first night's forecast is
# bought at the open of 2021-05-13 and sold at the open of 2021-05-14: the second night's data realizes it.
NIGHTS = [("2021-05-12", "2021-05-13"), ("2021-05-14", "2021-05-17")]
LIVE = {"epochs": 1, "model": "cnn", "batch_size": 128, "seed": 3}


def candles(end: str) -> dict:
    return {"ops": {"raw_candles": {"config": {"start": START, "end": end}}}}


def run(defs, job, partition, run_config, instance, ok=True):
    result = defs.resolve_job_def(job).execute_in_process(
        partition_key=partition, run_config=run_config, instance=instance, raise_on_error=False
    )
    assert result.success == ok, (job, partition, _errors(result))
    return result


def _errors(result) -> str:
    out = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None:
            out.append(error.message)
            error = error.cause
    return "\n".join(out)


def evening(day: str) -> pd.Timestamp:
    """21:30 New York on ``day``, in UTC: when the nightly schedule makes that night's forecast."""
    return pd.Timestamp(f"{day} 21:30", tz="America/New_York").tz_convert("UTC")


@contextlib.contextmanager
def clock(when: pd.Timestamp):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(live_assets, "utc_now", lambda: when)
        yield


def forecast_night(defs, instance, night, config=None, tickers=TICKERS, ok=True, made_at=None):
    end, date = night
    for t in tickers:
        run(defs, "candles_job", t, candles(end), instance)
    instance.add_dynamic_partitions("forecast_dates", [date])
    live = {"ops": {"live_model": {"config": {**LIVE, **(config or {})}}}}
    with clock(made_at if made_at is not None else evening(end)):
        return run(defs, "forecast_job", date, live, instance, ok=ok)


def record(defs, instance):
    result = materialize([live_record], resources={"store": defs.resources["store"]}, instance=instance)
    assert result.success
    return result


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    root = tmp_path_factory.mktemp("live") / "data"
    store = DataStore(root=str(root))
    defs = build_definitions({"candle_source": SyntheticMarketResource(seed=7), "store": store})
    instance = DagsterInstance.ephemeral()
    forecast_night(defs, instance, NIGHTS[0])
    record(defs, instance)
    first_record, _ = read_parquet(root / "live_record" / "record.parquet")
    forecast_night(defs, instance, NIGHTS[1])
    record(defs, instance)
    return root, defs, instance, first_record


def test_each_night_writes_one_forecast_per_ticker_for_the_next_session(nights):
    root, _, _, _ = nights
    for end, date in NIGHTS:
        table, meta = read_parquet(root / "forecasts" / f"{date}.parquet")
        assert sorted(table["ticker"]) == sorted(TICKERS)
        assert set(table["forecast_date"]) == {pd.Timestamp(date)} and set(table["as_of"]) == {pd.Timestamp(end)}
        assert (meta["as_of"], meta["forecast_date"]) == (end, date)
        # ranks and books from the predictions, by hand: a ticker's average rank is 1 + the number of lower
        # predictions + half the number of other equal ones (1 = lowest), and scipy's rankdata agrees
        p = table.set_index("ticker")["model"]
        values = list(p)
        by_hand = {t: 1 + sum(q < v for q in values) + (sum(q == v for q in values) - 1) / 2 for t, v in p.items()}
        assert table.set_index("ticker")["rank"].to_dict() == by_hand
        np.testing.assert_allclose(list(by_hand.values()), rankdata(values, method="average"))
        assert sum(by_hand.values()) == len(p) * (len(p) + 1) / 2
        np.testing.assert_allclose(table["weight_sign"], np.sign(table["model"]) / len(table))
        np.testing.assert_allclose(table["weight_long_only"], np.maximum(np.sign(table["model"]), 0) / len(table))
        ranks = pd.Series(by_hand)
        dev = ranks - ranks.mean()
        np.testing.assert_allclose(table.set_index("ticker")["weight_neutral"], (dev / dev.abs().sum())[p.index])
        assert meta["data_version"] and meta["code_version"] and meta["model_version"]


def test_the_live_model_never_saw_an_unrealized_target(nights):
    root, _, _, _ = nights
    for end, date in NIGHTS:
        ckpt = torch.load(root / "live" / date / "best.pt", weights_only=True)
        fold = ckpt["extra"]["fold"]
        assert fold["test_start"] == end == ckpt["extra"]["as_of"]
        # the last tuning window's target ends at the open h + 1 sessions after its day (next_open: bought at the
        # next open, held h sessions): it must be known by `end`
        h = fold["horizon"]
        assert fold["execution"] == "next_open"
        sessions = nyse_sessions(pd.Timestamp(fold["tune_end"]).date(), pd.Timestamp(end).date())
        assert len(sessions) - 1 >= h + 1  # at least h + 1 sessions after the last tuning day, up to the data's end
        assert fold["tune_end"] < end and fold["train_end"] < fold["tune_start"]


def test_the_record_scores_a_forecast_once_its_target_is_realized(nights):
    root, _, _, first_record = nights
    assert first_record.empty  # night 1: nothing realized yet
    rec, _ = read_parquet(root / "live_record" / "record.parquet")
    assert list(rec["as_of"]) == [pd.Timestamp(NIGHTS[0][0])] and list(rec["forecast_date"]) == [
        pd.Timestamp(NIGHTS[0][1])
    ]
    # Independently: the realized log return from the stored raw candles (open of the forecast date to the next
    # open: the default execution), and the stored predictions.
    forecast, _ = read_parquet(root / "forecasts" / f"{NIGHTS[0][1]}.parquet")
    realized, inputs = {}, {}
    as_of = pd.Timestamp(NIGHTS[0][0]).date()
    for t in TICKERS:
        bars, _ = read_parquet(root / "raw_candles" / f"{t}.parquet")
        day = bars.set_index(bars["timestamp"].dt.tz_convert("America/New_York").dt.date)
        opens = day["open"]
        realized[t] = np.log(opens[pd.Timestamp(NIGHTS[1][0]).date()] / opens[pd.Timestamp(NIGHTS[0][1]).date()])
        inputs[t] = cost_inputs(bars).set_axis(day.index).loc[as_of]  # as of the forecast's close
    r = forecast["ticker"].map(realized).to_numpy()
    p = forecast["model"].to_numpy()
    row = rec.iloc[0]
    assert row["ic"] == pytest.approx(np.corrcoef(p, r)[0, 1], abs=1e-6)
    assert row["hit_rate"] == pytest.approx(np.mean(np.sign(p) == np.sign(r)))
    costs = load_settings().costs  # the default: half-spread + square-root impact at $10M
    x = pd.DataFrame([inputs[t] for t in forecast["ticker"]])
    half = np.maximum(x["half_spread"].to_numpy(), costs.spread_floor_bps / 1e4)
    for book in ("sign", "long_only", "neutral"):
        w = np.abs(forecast[f"weight_{book}"].to_numpy())
        # one day of a new book: its gross return, less the cost of entering it, Σ|w|(s + kσ√(|w|C/ADV))
        impact = costs.impact_k * x["sigma"].to_numpy() * np.sqrt(w * costs.capital / x["adv"].to_numpy())
        expected = np.sum(forecast[f"weight_{book}"].to_numpy() * np.expm1(r)) - np.sum(w * (half + impact))
        assert row[f"net_{book}"] == pytest.approx(expected, abs=1e-6)
        assert row[f"equity_{book}"] == pytest.approx(1 + expected, abs=1e-6)


def test_rerunning_a_night_reproduces_its_forecast_and_keeps_only_the_newest_checkpoints(nights):
    root, defs, instance, _ = nights
    path = root / "forecasts" / f"{NIGHTS[1][1]}.parquet"
    before = path.read_bytes()
    result = forecast_night(defs, instance, NIGHTS[1], config={"keep_nights": 1})
    (event,) = result.asset_materializations_for_node("forecasts")
    assert event.metadata["status"].value.startswith("reproduced")
    assert path.read_bytes() == before  # not rewritten
    assert sorted(p.name for p in (root / "live").iterdir()) == [NIGHTS[1][1]]  # the older night removed


def test_a_forecast_that_changed_on_disk_is_an_error_not_an_overwrite(nights):
    root, defs, instance, _ = nights
    path = root / "forecasts" / f"{NIGHTS[1][1]}.parquet"
    original = path.read_bytes()
    table, meta = read_parquet(path)
    table.loc[0, "model"] += 0.01
    write_parquet(table, path, meta=meta)  # a valid file with another number in it
    try:
        result = run(defs, "forecast_job", NIGHTS[1][1], {"ops": {"live_model": {"config": LIVE}}}, instance, ok=False)
        message = _errors(result)
        assert f"forecasts[{NIGHTS[1][1]}]" in message and "already holds a different forecast" in message
        path.write_bytes(path.read_bytes()[:-100])  # and a damaged (truncated) file names itself
        result = run(defs, "forecast_job", NIGHTS[1][1], {"ops": {"live_model": {"config": LIVE}}}, instance, ok=False)
        assert "the stored forecast is damaged" in _errors(result) and str(path.name) in _errors(result)
    finally:
        path.write_bytes(original)


def test_a_stale_or_premature_forecast_is_refused_naming_what_to_do(tmp_path):
    store = DataStore(root=str(tmp_path / "data"))
    defs = build_definitions({"candle_source": SyntheticMarketResource(seed=7), "store": store})
    instance = DagsterInstance.ephemeral()
    for t in TICKERS:
        run(defs, "candles_job", t, candles(NIGHTS[0][0]), instance)
    instance.add_dynamic_partitions("forecast_dates", ["2021-05-14", NIGHTS[0][1]])
    # a forecast date that is not the session after the data's last day
    result = run(defs, "forecast_job", "2021-05-14", {"ops": {"live_model": {"config": LIVE}}}, instance, ok=False)
    assert "the data ends on 2021-05-12, so tonight's forecast is for 2021-05-13" in _errors(result)
    # forecasts before the live model exists
    from fin_pipeline.defs.assets.live import forecasts

    result = materialize(
        [forecasts], partition_key=NIGHTS[0][1], resources={"store": store}, instance=instance, raise_on_error=False
    )
    assert not result.success
    assert f"materialize live_model[{NIGHTS[0][1]}] first" in _errors(result)


def test_a_ticker_without_todays_bar_is_left_out_and_named(tmp_path):
    store = DataStore(root=str(tmp_path / "data"))
    defs = build_definitions({"candle_source": SyntheticMarketResource(seed=7), "store": store})
    instance = DagsterInstance.ephemeral()
    for t in TICKERS[1:]:
        run(defs, "candles_job", t, candles(NIGHTS[1][0]), instance)
    run(defs, "candles_job", TICKERS[0], candles(NIGHTS[0][0]), instance)  # a day behind
    result = forecast_night(defs, instance, NIGHTS[1], tickers=[])
    (event,) = result.asset_materializations_for_node("forecasts")
    assert f"{TICKERS[0]} (no bar on {NIGHTS[1][0]}" in event.metadata["missing_tickers"].value
    table, meta = read_parquet(tmp_path / "data" / "forecasts" / f"{NIGHTS[1][1]}.parquet")
    assert sorted(table["ticker"]) == sorted(TICKERS[1:]) and TICKERS[0] in meta["missing"]


def test_an_unchanged_rerun_trains_nothing_and_writes_nothing(nights):
    root, defs, instance, _ = nights
    night = root / "live" / NIGHTS[1][1]
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in night.iterdir()}
    result = forecast_night(defs, instance, NIGHTS[1])
    (event,) = result.asset_materializations_for_node("live_model")
    assert event.metadata["status"].value == "up to date (not retrained)"
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in night.iterdir()} == before
    ckpt = torch.load(night / "best.pt", weights_only=True)
    assert event.metadata["model_version"].value == ckpt["extra"]["model_version"]


def test_the_same_seed_and_data_give_the_same_model_version(nights, tmp_path):
    """A second store trained on the same night: a new training (its epoch timings differ), the same identity."""
    root, _, _, _ = nights
    store = DataStore(root=str(tmp_path / "data"))
    defs = build_definitions({"candle_source": SyntheticMarketResource(seed=7), "store": store})
    forecast_night(defs, DagsterInstance.ephemeral(), NIGHTS[1])
    ours = torch.load(root / "live" / NIGHTS[1][1] / "best.pt", weights_only=True)
    again = torch.load(tmp_path / "data" / "live" / NIGHTS[1][1] / "best.pt", weights_only=True)
    timings = [[h["seconds"] for h in c["history"]] for c in (ours, again)]
    assert timings[0] != timings[1]  # measured while training: differs between the two trainings
    assert ours["content_hash"] != again["content_hash"]  # so the checkpoint files' hashes differ
    assert ours["extra"]["model_version"] == again["extra"]["model_version"]
    for key, tensor in ours["model"].items():
        assert torch.equal(tensor, again["model"][key]), key  # the same seed and data: the same weights
    metas = [read_parquet(r / "forecasts" / f"{NIGHTS[1][1]}.parquet")[1] for r in (root, tmp_path / "data")]
    assert metas[0]["model_version"] == metas[1]["model_version"] == ours["extra"]["model_version"]


def test_the_record_scores_only_forecasts_made_before_their_session_and_lists_missed_ones(nights):
    from fin_pipeline.defs.assets.universe import load_universe
    from fin_pipeline.evaluation.live import missed_sessions, score_forecasts

    root, defs, _, _ = nights
    ws = load_universe(defs.resources["store"], "test").windows  # data to Friday 2021-05-14
    # The nights simulated here skip Thursday evening: no forecast was made for Friday 2021-05-14.
    friday = [("2021-05-14", "no forecast")]

    def listed(forecasts: pd.DataFrame) -> list[tuple[str, str]]:
        return [(f"{d:%Y-%m-%d}", why) for d, why in missed_sessions(forecasts, ws).itertuples(index=False)]

    first, _ = read_parquet(root / "forecasts" / f"{NIGHTS[0][1]}.parquet")  # for 2021-05-13, made 05-12 evening
    assert set(first["made_at"]) == {evening(NIGHTS[0][0])}
    assert len(score_forecasts(first, ws)) == 1 and listed(first) == friday
    # the same forecast made at 09:31 New York on the session it forecasts: after the open, not scored
    late = first.assign(made_at=pd.Timestamp(f"{NIGHTS[0][1]} 09:31", tz="America/New_York").tz_convert("UTC"))
    assert score_forecasts(late, ws).empty
    (row, _) = missed_sessions(late, ws).itertuples(index=False)
    assert row.session == pd.Timestamp(NIGHTS[0][1]) and row.why.startswith("made late (2021-05-13 13:31 UTC")
    # one minute earlier it is on time (09:30 is the open)
    early = late.assign(made_at=late["made_at"] - pd.Timedelta(minutes=2))
    assert len(score_forecasts(early, ws)) == 1
    # a forecast stored for Tuesday 2021-05-11 and none after it: the next three sessions were missed
    tuesday = first.assign(forecast_date=pd.Timestamp("2021-05-11"), made_at=evening("2021-05-10"))
    assert listed(tuesday) == [("2021-05-12", "no forecast"), ("2021-05-13", "no forecast"), *friday]
    # the asset says it: Friday, which no night forecast, is listed as missed
    assert read_parquet(root / "live_record" / "record.parquet")[1]["missed"] == dict(friday)
