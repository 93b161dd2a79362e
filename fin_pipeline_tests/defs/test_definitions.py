import datetime as dt

from dagster import Definitions

from fin_pipeline.core.calendar import period_start
from fin_pipeline.core.settings import Settings, load_settings
from fin_pipeline.definitions import defs
from fin_pipeline.defs.partitions import fold_partitions_def
from fin_pipeline.defs.resources import SyntheticMarketResource

ASSET_NAMES = {
    "raw_candles",
    "feature_windows",
    "walk_forward_folds",
    "normalization_stats",
    "trained_model",
    "fold_metrics",
    "walk_forward_report",
    "live_model",
    "forecasts",
    "live_record",
    "board_predictions",
    "leaderboard",
}


def test_defs_load_and_every_job_schedule_and_asset_resolves():
    Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    assert {"candles_job", "walk_forward_job", "fold_rescore_job", "forecast_job", "report_job"} <= set(repo.job_names)
    assert {"board_job", "leaderboard_job"} <= set(repo.job_names)
    for name in repo.job_names:
        job = defs.resolve_job_def(name)
        assert job.graph.node_defs, f"job {name} has no steps"
    assert [s.name for s in repo.schedule_defs] == ["nightly_retrain"]
    assert repo.get_schedule_def("nightly_retrain").job_name == "candles_job"
    assert [s.name for s in repo.sensor_defs] == ["nightly_retrain_followup"]
    keys = {key.to_user_string() for key in repo.asset_graph.get_all_asset_keys()}
    assert keys == ASSET_NAMES
    for key in repo.asset_graph.get_all_asset_keys():
        resolved, node = defs.resolve_assets_def(key), repo.asset_graph.get(key)
        assert key in resolved.keys, f"{key} resolves to the definition of {resolved.keys}"
        assert resolved.partitions_def == node.partitions_def, key
        assert resolved.asset_deps[key] == node.parent_keys, key


def test_partitions_follow_the_settings_and_the_default_source_is_offline():
    settings = load_settings()
    tickers = defs.resolve_job_def("candles_job").partitions_def.get_partition_keys()
    folds = defs.resolve_job_def("walk_forward_job").partitions_def.get_partition_keys()
    assert list(tickers) == list(settings.universe)
    # conftest: quarterly folds from 2020-10-01, the history ending 2021-06-30 (its quarter is the last fold)
    assert (settings.fold_period, str(settings.first_test_date)) == ("quarter", "2020-10-01")
    assert list(folds) == ["2020-10-01", "2021-01-01", "2021-04-01"]
    assert isinstance(defs.resources["candle_source"], SyntheticMarketResource)


def test_an_end_date_inside_the_running_period_keeps_its_open_fold():
    """FIN_PIPELINE_END in the period under way (a replay as of yesterday): that period's fold is a partition."""
    today = dt.date.today()
    start = period_start(today, "quarter")
    first = period_start(start - dt.timedelta(days=200), "quarter")
    settings = Settings(start=dt.date(2015, 1, 2), end=today, first_test_date=first)
    keys = fold_partitions_def(settings).get_partition_keys()
    expected, day = [], first
    while day <= today:  # every quarter from the first test date to the one holding today, by hand
        expected.append(day.isoformat())
        day = dt.date(day.year + (day.month + 2) // 12, (day.month + 2) % 12 + 1, 1)
    assert keys == expected and keys[-1] == start.isoformat()
