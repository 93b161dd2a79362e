"""Stored history, one training configuration, thin universes: the CLI and the nightly schedule in subprocesses on
one store (a project-like folder: the repository's dagster.yaml, data under it)."""

import datetime as dt

import pytest

from fin_pipeline.sources.base import session_dates
from fin_pipeline.store.parquet import read_parquet
from fin_pipeline.training.configuration import configuration_hash, read_configuration
from fin_pipeline_tests.evaluation.store_runs import BIN, DRIVER, call, config_hash_of, digests, env_for, project_home


@pytest.fixture
def home(tmp_path):
    return project_home(tmp_path)


def test_one_configuration_for_cli_and_schedule_and_no_accidental_rewrite(home):
    """The CLI builds (two quarterly folds, tonight's live model); the schedule's night on the same store trains
    tonight's live model with the same configuration (no run config: the file). Then an end date moved back a week
    and a changed flag are refused before anything is written; ``rebuild --from`` archives and rebuilds."""
    settings = dict(
        FIN_PIPELINE_UNIVERSE="AAPL,MSFT",
        FIN_PIPELINE_START="2019-01-02",
        FIN_PIPELINE_FIRST_TEST_DATE="2021-01-01",  # 2021-01-01 (closed) and 2021-04-01 (open)
    )
    data = home / "data"
    cli = [BIN / "fin-pipeline", "run", "--epochs", "1", "--batch-size", "128"]
    first = call(cli, home, env_for(home, FIN_PIPELINE_END="2021-05-13", **settings))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    stored = read_configuration(data / "fin_pipeline.yaml")  # written by the first build, from its flags
    assert {k: stored["training"][k] for k in ("model", "epochs", "batch_size")} == {
        "model": "cnn",
        "epochs": 1,
        "batch_size": 128,
    }
    expected = configuration_hash(stored)
    assert f"2 fold(s) to train (configuration {expected}: " in first.stdout

    night = call([*DRIVER, "2021-05-14"], home, env_for(home, FIN_PIPELINE_END="2021-05-14", **settings))
    assert night.returncode == 0 and night.stdout.rstrip().endswith("done"), night.stdout[-3000:] + night.stderr
    assert "request fold_rescore_job 2021-04-01" in night.stdout and "request forecast_job 2021-05-17" in night.stdout
    trained = [data / "models" / f / "best.pt" for f in ("2021-01-01", "2021-04-01")]
    live = [data / "live" / day / "best.pt" for day in ("2021-05-14", "2021-05-17")]  # the CLI's, the schedule's
    assert {p.relative_to(data).as_posix(): config_hash_of(p) for p in [*trained, *live]} == {
        p.relative_to(data).as_posix(): expected for p in [*trained, *live]
    }

    before = digests(data)
    back = call(cli, home, env_for(home, FIN_PIPELINE_END="2021-05-07", **settings))  # one week before 05-14
    assert back.returncode == 2 and "Traceback" not in back.stdout + back.stderr, back.stdout + back.stderr
    assert (
        "fin-pipeline: the settings (FIN_PIPELINE_START=2019-01-02, FIN_PIPELINE_END=2021-05-07) would rewrite "
        "stored history: AAPL: end 2021-05-07 is earlier than the stored candles, which run to 2021-05-14: the bars "
        "after 2021-05-07 would be dropped; MSFT: end 2021-05-07" in back.stdout
    )
    assert "the stored folds 2021-04-01 and forecasts 2021-05-14, 2021-05-17 would no longer match" in back.stdout
    assert back.stdout.rstrip().endswith(
        "Nothing was written. To do it deliberately (what is replaced is archived, never deleted): "
        "fin-pipeline rebuild --from 2021-05-07"
    )
    assert digests(data) == before
    changed = call([*cli[:2], "--epochs", "2"], home, env_for(home, FIN_PIPELINE_END="2021-05-14", **settings))
    assert changed.returncode == 2 and "Traceback" not in changed.stdout + changed.stderr
    assert "training.epochs: stored 1, requested 2. Nothing was written." in changed.stdout
    assert digests(data) == before

    rebuild = [BIN / "fin-pipeline", "rebuild", "--from", "2021-05-07"]
    again = call(rebuild, home, env_for(home, FIN_PIPELINE_END="2021-05-07", **settings))
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    (archive,) = (data / "archive").iterdir()
    assert archive.name.endswith("-from-2021-05-07")
    archived = digests(archive)
    assert {
        "raw_candles/AAPL.parquet",
        "feature_windows/MSFT.parquet",
        "folds/2021-04-01.json",
        "models/2021-04-01/best.pt",
        "metrics/2021-04-01/predictions.parquet",
        "forecasts/2021-05-17.parquet",
        "live/2021-05-17/best.pt",
        "reports/report.md",
    } <= set(archived)
    assert "fin_pipeline.yaml" not in archived  # the configuration did not change: it stays
    assert all(before[rel] == sha for rel, sha in archived.items())  # moved as they were, nothing lost
    after = digests(data)
    closed = [rel for rel in before if "2021-01-01" in rel and rel.split("/")[0] in ("folds", "models", "metrics")]
    assert closed and all(after[rel] == before[rel] for rel in closed)  # the closed fold was left alone
    candles, _ = read_parquet(data / "raw_candles" / "AAPL.parquet")
    assert session_dates(candles["timestamp"]).max() == dt.date(2021, 5, 7)
    assert "Forecast for 2021-05-10 (data as of 2021-05-07" in again.stdout
    assert config_hash_of(data / "models" / "2021-04-01" / "best.pt") == expected
