"""The candle source goes with the run: chosen where the run is launched, served (or refused) where it runs.

A "worker" here is this process with another environment: the resource it would build from its own settings,
and its own ``POLYGON_API_KEY`` (or none).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import requests
from dagster import DagsterEventType, DagsterInstance, build_schedule_context, instance_for_test, materialize

from fin_pipeline.core.settings import Settings
from fin_pipeline.defs.assets.candles import raw_candles
from fin_pipeline.defs.resources import DataStore, PolygonResource, SyntheticMarketResource, candle_source_resource
from fin_pipeline.defs.run_source import SOURCE_CONFIG_TAG, SOURCE_TAG, carry_source, source_for_run, source_tags
from fin_pipeline.defs.schedules import nightly_retrain
from fin_pipeline.sources.polygon import PolygonSource
from fin_pipeline.sources.synthetic import SyntheticMarket

# Nothing listens on port 9 (discard): a request that got out would fail differently, and the test also stops it.
LAUNCH_ENV = {"POLYGON_API_KEY": "launch-key", "FIN_PIPELINE_POLYGON_BASE_URL": "http://127.0.0.1:9"}


def launched_on_polygon() -> dict[str, str]:
    """The tags a process with a Polygon key gives the runs it launches (FIN_PIPELINE_SOURCE=auto)."""
    return source_tags(candle_source_resource(Settings.from_env(LAUNCH_ENV)))


def test_the_tags_name_the_source_and_its_configuration_but_never_the_key():
    tags = launched_on_polygon()
    assert tags[SOURCE_TAG] == "polygon"
    config = json.loads(tags[SOURCE_CONFIG_TAG])
    assert config["base_url"] == "http://127.0.0.1:9"
    assert config["requests_per_minute"] == Settings().polygon_requests_per_minute
    assert "api_key" not in config and "launch-key" not in json.dumps(tags)
    assert source_tags(SyntheticMarketResource(seed=5, signal_ic=0.1)) == {
        SOURCE_TAG: "synthetic",
        SOURCE_CONFIG_TAG: json.dumps({"seed": 5, "signal_ic": 0.1, "signal_temporal_ic": 0.0}, sort_keys=True),
    }


def test_a_polygon_run_on_a_worker_without_the_key_fails_naming_it_before_any_request(tmp_path, monkeypatch):
    monkeypatch.delenv("POLYGON_API_KEY", raising=False)
    worker = candle_source_resource(Settings.from_env({}))  # what this worker's own settings choose
    assert isinstance(worker, SyntheticMarketResource)
    sent = []
    monkeypatch.setattr(requests.Session, "send", lambda self, request, **kw: sent.append(request.url))
    result = materialize(
        [raw_candles],
        partition_key="AAPL",
        resources={"candle_source": worker, "store": DataStore(root=str(tmp_path / "data"))},
        run_config={"ops": {"raw_candles": {"config": {"start": "2020-01-02", "end": "2020-03-31"}}}},
        instance=DagsterInstance.ephemeral(),
        tags=launched_on_polygon(),
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    message = failure.step_failure_data.error.message
    assert "POLYGON_API_KEY" in message and "polygon" in message, message
    assert sent == []  # no request was made
    assert not any(e.event_type == DagsterEventType.STEP_UP_FOR_RETRY for e in result.all_events)  # no retry
    assert not (tmp_path / "data" / "raw_candles").exists() or not any((tmp_path / "data" / "raw_candles").iterdir())
    assert not result.asset_materializations_for_node("raw_candles")  # in particular, no synthetic candles


def test_a_worker_with_the_key_fetches_from_the_launchs_source_with_its_own_key(monkeypatch):
    monkeypatch.setenv("POLYGON_API_KEY", "worker-key")
    source = source_for_run(SyntheticMarketResource(seed=7), launched_on_polygon())
    assert isinstance(source, PolygonSource)
    assert source.base_url == "http://127.0.0.1:9"  # the launch's configuration
    assert source._auth.key == "worker-key"  # the worker's secret


def test_the_launchs_configuration_wins_over_the_workers(monkeypatch):
    tags = source_tags(SyntheticMarketResource(seed=11, signal_ic=0.05))
    source = source_for_run(SyntheticMarketResource(seed=7), tags)  # the worker's seed differs
    assert isinstance(source, SyntheticMarket) and (source.seed, source.signal_ic) == (11, 0.05)


def test_a_worker_configured_like_the_launch_uses_its_own_resource():
    mine = PolygonResource(api_key="literal-key", base_url="http://127.0.0.1:9")
    source = source_for_run(mine, source_tags(mine))
    assert isinstance(source, PolygonSource) and source._auth.key == "literal-key"


def test_a_run_without_the_tags_uses_the_resource():
    source = source_for_run(SyntheticMarketResource(seed=4), {"dagster/partition": "AAPL"})
    assert isinstance(source, SyntheticMarket) and source.seed == 4


@pytest.mark.parametrize(
    ("tags", "named"),
    [
        ({SOURCE_TAG: "yahoo", SOURCE_CONFIG_TAG: "{}"}, "fin_pipeline/source='yahoo'"),
        ({SOURCE_TAG: "synthetic", SOURCE_CONFIG_TAG: "{seed"}, "fin_pipeline/source_config is not JSON"),
        ({SOURCE_TAG: "synthetic", SOURCE_CONFIG_TAG: '{"seed": "x"}'}, "does not configure a synthetic source"),
    ],
)
def test_a_bad_tag_fails_naming_it(tags, named):
    from dagster import Failure

    with pytest.raises(Failure, match=named):
        source_for_run(SyntheticMarketResource(seed=4), tags)


def test_the_nightly_schedule_tags_its_runs_with_the_source_it_resolves(monkeypatch):
    import fin_pipeline.defs.run_source as run_source

    # the code server's settings: a Polygon key in its environment
    monkeypatch.setattr(run_source, "load_settings", lambda: Settings.from_env(LAUNCH_ENV))
    with instance_for_test() as instance:
        context = build_schedule_context(instance=instance, scheduled_execution_time=dt.datetime(2021, 6, 30, 21, 30))
        requests_ = nightly_retrain(context)
    assert sorted(r.partition_key for r in requests_) == ["AAPL", "MSFT", "XOM"]  # the test session's universe
    assert all(r.tags[SOURCE_TAG] == "polygon" for r in requests_)
    assert {json.loads(r.tags[SOURCE_CONFIG_TAG])["base_url"] for r in requests_} == {"http://127.0.0.1:9"}
    assert all("launch-key" not in json.dumps(r.tags) for r in requests_)


def test_the_executor_tags_an_untagged_run_with_this_processs_source_and_keeps_a_tagged_one(tmp_path):
    with instance_for_test() as instance:
        store = DataStore(root=str(tmp_path / "data"))
        config = {"ops": {"raw_candles": {"config": {"start": "2020-01-02", "end": "2020-01-31"}}}}
        plain = materialize(
            [raw_candles],
            partition_key="AAPL",
            resources={"candle_source": SyntheticMarketResource(seed=1), "store": store},
            run_config=config,
            instance=instance,
        )
        run = instance.get_run_by_id(plain.run_id)
        assert SOURCE_TAG not in run.tags
        carry_source(instance, run)
        tags = instance.get_run_by_id(plain.run_id).tags
        # the test session's settings: the synthetic market with the default seed, no planted signal
        assert (tags[SOURCE_TAG], json.loads(tags[SOURCE_CONFIG_TAG])) == (
            "synthetic",
            {"seed": 7, "signal_ic": 0.0, "signal_temporal_ic": 0.0},
        )

        polygon_tags = launched_on_polygon()
        instance.add_run_tags(plain.run_id, polygon_tags)  # as if launched on Polygon
        carry_source(instance, instance.get_run_by_id(plain.run_id))
        assert instance.get_run_by_id(plain.run_id).tags[SOURCE_TAG] == "polygon"
