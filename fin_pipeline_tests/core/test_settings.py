import datetime as dt
from pathlib import Path

import pytest

from fin_pipeline.core.settings import DEFAULT_UNIVERSE, Settings, SettingsError, default_end


def test_defaults_run_offline_on_the_synthetic_market():
    s = Settings.from_env({})
    assert s.source == "synthetic"
    assert s.universe == DEFAULT_UNIVERSE and len(s.universe) == 8
    assert (s.fold_period, s.first_test_date) == ("quarter", dt.date(2024, 1, 1))
    assert s.data_dir == Path("data")
    assert s.signal_ic == 0.0  # no planted signal unless asked for


def test_every_variable_overrides_its_default(tmp_path):
    s = Settings.from_env(
        {
            "FIN_PIPELINE_UNIVERSE": " aapl, MSFT ,brk.b",
            "FIN_PIPELINE_START": "2015-03-02",
            "FIN_PIPELINE_END": "2020-12-31",
            "FIN_PIPELINE_DATA_DIR": str(tmp_path),
            "FIN_PIPELINE_FOLD_PERIOD": "Half",
            "FIN_PIPELINE_FIRST_TEST_DATE": "2019-07-01",
            "FIN_PIPELINE_SEED": "11",
            "FIN_PIPELINE_POLYGON_BASE_URL": "http://127.0.0.1:9/",
            "FIN_PIPELINE_POLYGON_RPM": "0",
            "FIN_PIPELINE_SIGNAL_IC": "0.05",
            "FIN_PIPELINE_EXECUTION": "Next_Close",
            "FIN_PIPELINE_MIN_TICKERS": "3",
        }
    )
    assert s.min_tickers == 3
    assert s.universe == ("AAPL", "MSFT", "BRK.B")
    assert (s.start, s.end) == (dt.date(2015, 3, 2), dt.date(2020, 12, 31))
    assert s.data_dir == tmp_path
    assert (s.fold_period, s.first_test_date) == ("half", dt.date(2019, 7, 1))
    assert (s.seed, s.polygon_requests_per_minute) == (11, 0.0)
    assert s.polygon_base_url == "http://127.0.0.1:9"
    assert s.signal_ic == 0.05
    assert s.execution == "next_close"
    assert s.end_date() == dt.date(2020, 12, 31)


@pytest.mark.parametrize(
    ("env", "source"),
    [
        ({"POLYGON_API_KEY": "k"}, "polygon"),
        ({"FIN_PIPELINE_CSV_DIR": "/x"}, "csv"),
        ({"FIN_PIPELINE_CSV_DIR": "/x", "POLYGON_API_KEY": "k"}, "csv"),
        ({"FIN_PIPELINE_SOURCE": "synthetic", "POLYGON_API_KEY": "k"}, "synthetic"),
    ],
)
def test_auto_source(env, source):
    assert Settings.from_env(env).source == source


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"FIN_PIPELINE_FOLDS": "12"}, "FIN_PIPELINE_FOLDS is no longer read.*FIN_PIPELINE_FOLD_PERIOD"),
        ({"FIN_PIPELINE_FOLD_PERIOD": "week"}, "FIN_PIPELINE_FOLD_PERIOD='week' is not one of"),
        (
            {"FIN_PIPELINE_FIRST_TEST_DATE": "2024-02-01"},
            "FIN_PIPELINE_FIRST_TEST_DATE=2024-02-01 is not the first day of a quarter",
        ),
        (
            {"FIN_PIPELINE_FIRST_TEST_DATE": "2024-01-01", "FIN_PIPELINE_END": "2023-06-30"},
            "FIN_PIPELINE_FIRST_TEST_DATE=2024-01-01 is after the data's end",
        ),
        ({"FIN_PIPELINE_FIRST_TEST_DATE": "2009-01-01"}, "FIN_PIPELINE_FIRST_TEST_DATE=2009-01-01 leaves no history"),
        ({"FIN_PIPELINE_START": "2020-13-01"}, "FIN_PIPELINE_START"),
        ({"FIN_PIPELINE_END": "yesterday"}, "FIN_PIPELINE_END"),
        ({"FIN_PIPELINE_START": "2020-01-01", "FIN_PIPELINE_END": "2019-01-01"}, "before start"),
        ({"FIN_PIPELINE_SEED": "1.5"}, "FIN_PIPELINE_SEED"),
        ({"FIN_PIPELINE_POLYGON_RPM": "fast"}, "FIN_PIPELINE_POLYGON_RPM"),
        ({"FIN_PIPELINE_UNIVERSE": "AAPL,$$$"}, "'$$$'"),
        ({"FIN_PIPELINE_UNIVERSE": "AAPL,aapl"}, "twice"),
        ({"FIN_PIPELINE_UNIVERSE": " , "}, "empty"),
        ({"FIN_PIPELINE_SOURCE": "yahoo"}, "FIN_PIPELINE_SOURCE"),
        ({"FIN_PIPELINE_SOURCE": "polygon"}, "POLYGON_API_KEY"),
        ({"FIN_PIPELINE_SOURCE": "csv"}, "FIN_PIPELINE_CSV_DIR"),
        ({"FIN_PIPELINE_SIGNAL_IC": "strong"}, "FIN_PIPELINE_SIGNAL_IC"),
        ({"FIN_PIPELINE_SIGNAL_IC": "-0.1"}, "FIN_PIPELINE_SIGNAL_IC"),
        ({"FIN_PIPELINE_SIGNAL_IC": "0.5"}, "FIN_PIPELINE_SIGNAL_IC"),
        ({"FIN_PIPELINE_SIGNAL_IC": "nan"}, "FIN_PIPELINE_SIGNAL_IC"),
        ({"FIN_PIPELINE_SIGNAL_IC": "inf"}, "FIN_PIPELINE_SIGNAL_IC"),
        ({"FIN_PIPELINE_SIGNAL_IC": "0.1", "POLYGON_API_KEY": "k"}, "FIN_PIPELINE_SIGNAL_IC"),
        ({"FIN_PIPELINE_EXECUTION": "open"}, r"FIN_PIPELINE_EXECUTION \(execution\)='open' is not one of"),
        ({"FIN_PIPELINE_EXECUTION": "vwap"}, "FIN_PIPELINE_EXECUTION"),
        ({"FIN_PIPELINE_MIN_TICKERS": "1"}, r"FIN_PIPELINE_MIN_TICKERS=1 must be between 2 and the universe's 8"),
        (
            {"FIN_PIPELINE_MIN_TICKERS": "4", "FIN_PIPELINE_UNIVERSE": "AAPL,MSFT,XOM"},
            r"FIN_PIPELINE_MIN_TICKERS=4 must be between 2 and the universe's 3 ticker\(s\) \(AAPL, MSFT, XOM\)",
        ),
        ({"FIN_PIPELINE_MIN_TICKERS": "two"}, "FIN_PIPELINE_MIN_TICKERS='two' is not an integer"),
        # beyond one process (core/deployment.py)
        (
            {"FIN_PIPELINE_EXECUTOR": "spark"},
            r"FIN_PIPELINE_EXECUTOR='spark' is not one of \['default', 'celery', 'k8s'\]",
        ),
        ({"FIN_PIPELINE_CELERY_BROKER": "mq-host:5672"}, "FIN_PIPELINE_CELERY_BROKER='mq-host:5672' is not a URL"),
        ({"FIN_PIPELINE_CELERY_BACKEND": "redis host"}, "FIN_PIPELINE_CELERY_BACKEND='redis host' is not a URL"),
        ({"FIN_PIPELINE_S3_ENDPOINT": "minio:9000"}, "FIN_PIPELINE_S3_ENDPOINT='minio:9000' is not an http"),
        ({"FIN_PIPELINE_TORCH_THREADS": "0"}, "FIN_PIPELINE_TORCH_THREADS=0 is not a positive integer"),
        ({"FIN_PIPELINE_TORCH_THREADS": "-2"}, "FIN_PIPELINE_TORCH_THREADS='-2' is not a positive integer"),
        ({"FIN_PIPELINE_TORCH_THREADS": "two"}, "FIN_PIPELINE_TORCH_THREADS='two' is not a positive integer"),
        ({"FIN_PIPELINE_TORCH_THREADS": "1.5"}, "FIN_PIPELINE_TORCH_THREADS='1.5' is not a positive integer"),
        ({"FIN_PIPELINE_GPU_IMAGE": "my image:latest"}, "FIN_PIPELINE_GPU_IMAGE='my image:latest' is not an image"),
        ({"DAGSTER_PG_URL": "mysql://u:pw@db/dagster"}, "DAGSTER_PG_URL is not a postgresql://"),
    ],
)
def test_bad_values_name_the_variable(env, named):
    with pytest.raises(SettingsError, match=named.replace("$", r"\$")):
        Settings.from_env(env)


def test_deployment_variables_override_their_defaults(tmp_path):
    defaults = Settings.from_env({}).deployment
    assert (defaults.executor, defaults.torch_threads, defaults.s3_endpoint, defaults.gpu_image) == (
        "default",
        None,
        None,
        None,
    )
    assert defaults.celery_broker.startswith("pyamqp://") and defaults.celery_backend.startswith("redis://")
    d = Settings.from_env(
        {
            "FIN_PIPELINE_EXECUTOR": "Celery",
            "FIN_PIPELINE_CELERY_BROKER": "redis://mq:6379/1",
            "FIN_PIPELINE_CELERY_BACKEND": "redis://cache:6379/0",
            "FIN_PIPELINE_S3_ENDPOINT": "http://127.0.0.1:9000",
            "FIN_PIPELINE_CACHE_DIR": str(tmp_path / "cache"),  # need not exist yet
            "FIN_PIPELINE_TORCH_THREADS": " 3 ",
            "FIN_PIPELINE_GPU_IMAGE": "ghcr.io/fin-pipeline/fin-pipeline:0.1.0-cuda",
            "DAGSTER_PG_URL": "postgresql://postgres:secret@db:5432/dagster",
        }
    ).deployment
    assert (d.executor, d.celery_broker, d.celery_backend) == ("celery", "redis://mq:6379/1", "redis://cache:6379/0")
    assert (d.s3_endpoint, d.cache_dir, d.torch_threads) == ("http://127.0.0.1:9000", tmp_path / "cache", 3)
    assert d.gpu_image == "ghcr.io/fin-pipeline/fin-pipeline:0.1.0-cuda"
    assert "secret" not in repr(d)  # the instance's URL is checked, not kept


def test_a_cache_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "cache").write_text("not a folder")
    with pytest.raises(SettingsError, match="FIN_PIPELINE_CACHE_DIR=.* is a file, not a folder"):
        Settings.from_env({"FIN_PIPELINE_CACHE_DIR": str(tmp_path / "cache")})


def test_a_bad_instance_url_is_refused_without_echoing_it():
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"DAGSTER_PG_URL": "postgres-host:5432 password=hunter2"})
    assert "DAGSTER_PG_URL" in str(info.value) and "hunter2" not in str(info.value)


def test_default_end_waits_for_the_final_daily_bar():
    # 19:59 New York (EST, UTC-5) on 2024-01-10: that day's bar is not final yet.
    assert default_end(dt.datetime(2024, 1, 11, 0, 59, tzinfo=dt.UTC)) == dt.date(2024, 1, 9)
    assert default_end(dt.datetime(2024, 1, 11, 1, 0, tzinfo=dt.UTC)) == dt.date(2024, 1, 10)


def test_signal_ic_reaches_the_synthetic_market():
    from fin_pipeline.defs.resources import SyntheticMarketResource, candle_source_resource

    resource = candle_source_resource(Settings.from_env({"FIN_PIPELINE_SIGNAL_IC": "0.1", "FIN_PIPELINE_SEED": "3"}))
    assert isinstance(resource, SyntheticMarketResource)
    market = resource.build()
    assert (market.seed, market.signal_ic) == (3, 0.1)
    assert candle_source_resource(Settings.from_env({})).build().signal_ic == 0.0
    with pytest.raises(SettingsError, match="FIN_PIPELINE_SIGNAL_IC"):
        Settings(signal_ic=0.5)
