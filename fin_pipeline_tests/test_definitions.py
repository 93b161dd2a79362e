from dagster import Definitions

from fin_pipeline.definitions import defs
from fin_pipeline.resources import SyntheticMarketResource
from fin_pipeline.settings import DEFAULT_UNIVERSE


def test_defs_load_and_every_job_and_asset_resolves():
    Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    assert "candles_job" in repo.job_names
    for name in repo.job_names:
        job = defs.resolve_job_def(name)
        assert job.graph.node_defs, f"job {name} has no steps"
    keys = {key.to_user_string() for key in repo.asset_graph.get_all_asset_keys()}
    assert keys == {"raw_candles", "feature_windows"}
    for key in repo.asset_graph.get_all_asset_keys():
        assert defs.resolve_assets_def(key) is not None


def test_ticker_partitions_are_the_universe_and_the_default_source_is_offline():
    job = defs.resolve_job_def("candles_job")
    assert list(job.partitions_def.get_partition_keys()) == list(DEFAULT_UNIVERSE)
    assert isinstance(defs.resources["candle_source"], SyntheticMarketResource)
