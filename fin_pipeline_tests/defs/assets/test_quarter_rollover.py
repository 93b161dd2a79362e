"""Simulated nights through a quarter rollover and the first ten sessions of the new quarter.

The conftest's folds are the quarters 2020-10-01, 2021-01-01 and 2021-04-01 on the synthetic market. The chain is
built as of Wednesday 2021-03-31; then each night adds one session from 2021-04-01 (Good Friday 2021-04-02 is no
session) and runs what ``fin-pipeline run`` runs after the data refresh: the fold plan
(:func:`~fin_pipeline.evaluation.nightly.plan_folds`, one run per fold to train or re-score), then the CLI's
end of the night
(:func:`~fin_pipeline.cli.night.finish_night`: the forecast, the paper record, the report). The window of session
D has its target with D+1's close under the execution ``close``, one session later under ``next_open`` (D+2's
open), so the fold 2021-04-01 begins on the night of 2021-04-05 (2021-04-06) with one test day and has n test days
n nights later; the nights run until it has ten. Its statistics read "n/a (n days)" until the days define them (a
Newey–West t from 2 days, a bootstrap interval from 8), and no night fails. The checkpoints of the folds are reused
across nights: only the new fold and each night's live model are trained.
"""

import numpy as np
import pandas as pd
from dagster import DagsterInstance

from fin_pipeline.cli.night import Night, finish_night
from fin_pipeline.cli.results import errors as _errors
from fin_pipeline.cli.results import metadata as _metadata
from fin_pipeline.core.calendar import nyse_sessions
from fin_pipeline.core.choices import LAG as LAG_OF
from fin_pipeline.core.formatting import text_table
from fin_pipeline.core.limits import block_length_defined
from fin_pipeline.core.settings import load_settings
from fin_pipeline.definitions import build_definitions
from fin_pipeline.defs.assets.folds import FoldConfig
from fin_pipeline.defs.assets.universe import data_fold_keys, load_universe
from fin_pipeline.defs.resources import DataStore, SyntheticMarketResource
from fin_pipeline.evaluation.live import data_end, next_session
from fin_pipeline.evaluation.nightly import plan_folds
from fin_pipeline.report.tables import shown_per_fold
from fin_pipeline.store.parquet import read_parquet
from fin_pipeline_tests.defs.assets.test_live import clock, evening

TICKERS = list(load_settings().universe)
START, BUILT = "2019-01-02", "2021-03-31"
NEW = "2021-04-01"
# The execution's lag L (next_open: 1): the target of session D is known L sessions after D+1, so the new fold's
# first test day is scored L nights later; the nights run until it has ten test days.
LAG = LAG_OF[load_settings().execution]
SESSIONS = nyse_sessions(pd.Timestamp(NEW).date(), pd.Timestamp("2021-04-30").date())
NIGHTS = [f"{d:%Y-%m-%d}" for d in SESSIONS[: 11 + LAG]]
TRAIN = {"model": "cnn", "epochs": 1, "batch_size": 256, "seed": 3}


def one_night(defs, instance, end: str, capsys, report: bool = True) -> dict:
    """The data refreshed to ``end``, then the fold plan and the end of the night, as the CLI runs them.

    ``report=False`` (to keep the test cheap: the report costs ~4 s a night here) runs tonight's forecast and the
    paper record as the CLI does when a fold failed (``forecast_job``, then ``record_job``), without the report."""
    store, runs = defs.resources["store"], []

    def execute(job, partition, run_config):
        result = defs.resolve_job_def(job).execute_in_process(
            partition_key=partition, run_config=run_config, instance=instance, raise_on_error=False
        )
        runs.append((job, partition, result.success))
        return result, 0.0

    for t in TICKERS:
        result, _ = execute("candles_job", t, {"ops": {"raw_candles": {"config": {"start": START, "end": end}}}})
        assert result.success, _errors(result)
    universe = load_universe(store, "test")
    plans = plan_folds(universe.windows, FoldConfig().spec(), store, data_fold_keys(universe), universe.horizon)
    failed, fold_meta = [], {}
    for plan in plans:
        if plan.action == "skip":
            continue
        job = "walk_forward_job" if plan.action == "train" else "fold_rescore_job"
        config = {"ops": {"trained_model": {"config": TRAIN}}} if plan.action == "train" else {}
        result, _ = execute(job, plan.fold, config)
        assert result.success, (end, plan.fold, _errors(result))
        fold_meta[plan.fold] = _metadata(result, "fold_metrics")
    capsys.readouterr()
    with clock(evening(end)):
        if report:
            night = Night(execute, store, universe, TRAIN, len(fold_meta), failed)
            code, report_dir, date = finish_night(night, instance, _metadata, _errors)
        else:
            date = next_session(data_end(universe.windows)).isoformat()
            instance.add_dynamic_partitions("forecast_dates", [date])
            code = sum(
                not execute(job, key, config)[0].success
                for job, key, config in [
                    ("forecast_job", date, {"ops": {"live_model": {"config": TRAIN}}}),
                    ("record_job", None, {}),
                ]
            )
            report_dir = "not built tonight"
    printed = capsys.readouterr().out
    assert code == 0 and report_dir is not None, (end, printed, runs)
    return {"plans": {p.fold: p.action for p in plans}, "runs": runs, "folds": fold_meta, "date": date, "out": printed}


def test_every_night_through_a_quarter_rollover_forecasts_and_rescores_the_open_fold(tmp_path, capsys):
    root = tmp_path / "data"
    defs = build_definitions({"candle_source": SyntheticMarketResource(seed=7), "store": DataStore(root=str(root))})
    instance = DagsterInstance.ephemeral()
    first = one_night(defs, instance, BUILT, capsys)
    assert first["plans"] == {"2020-10-01": "train", "2021-01-01": "train"}
    models = {f: (root / "models" / f / "best.pt").read_bytes() for f in first["plans"]}
    for i, end in enumerate(NIGHTS):
        # the report on the nights where its statistics change (1, 2, 7 and 8 test days) and the last
        reported = i - LAG in (0, 1, 2, 7, 8) or i == len(NIGHTS) - 1
        night = one_night(defs, instance, end, capsys, report=reported)
        # a forecast every night, for the session after the data's last day, made before that session's open
        forecast, meta = read_parquet(root / "forecasts" / f"{night['date']}.parquet")
        assert meta["as_of"] == end and sorted(forecast["ticker"]) == sorted(TICKERS)
        assert (forecast["made_at"] < pd.Timestamp(f"{night['date']} 09:30", tz="America/New_York")).all()
        live = _metadata_of(night, "forecast_job")
        assert live == [(night["date"], True)]  # tonight's live model trained once (the data changed)
        # closed folds are never retrained; the fold of the new quarter is trained once, on its first night
        trained = [p for j, p, _ in night["runs"] if j == "walk_forward_job"]
        assert trained == ([NEW] if end == NIGHTS[1 + LAG] else []), (end, night["plans"])
        assert all((root / "models" / f / "best.pt").read_bytes() == b for f, b in models.items())
        if i <= LAG:  # data to 04-01 (and 04-05 under next_open): 04-01's target is not known, no new fold yet
            assert night["plans"] == {"2020-10-01": "skip", "2021-01-01": "rescore"}
            continue
        # the open fold re-scored every night, with one more test day: n = i - L (its first night is i = 1 + L)
        n = i - LAG
        meta = night["folds"][NEW]
        assert meta["test_days"] == n and meta["test_start"] == NEW
        predictions, _ = read_parquet(root / "metrics" / NEW / "predictions.parquet")
        assert predictions["date"].nunique() == n
        stored, _ = read_parquet(root / "metrics" / NEW / "metrics.parquet")
        model = stored.set_index("predictor").loc["model"]
        assert model["n_days"] == n
        # a Newey-West t needs 2 days; the bootstrap interval needs the 8 that its block length reads
        assert np.isnan(model["ic_nw_t"]) == (n < 2), (n, model["ic_nw_t"])
        assert np.isnan(model["ic_ci_low"]) == (not block_length_defined(n)) == (n < 8), (n, model["ic_ci_low"])
        # and what a person reads says why: the fold's tables in the UI, the per-fold table of the report
        unit = "day" if n == 1 else "days"
        assert (f"n/a ({n} {unit})" in meta["metrics"]) == (n < 8)  # the bootstrap interval's columns
        if not reported:
            continue
        summary, _ = read_parquet(root / "reports" / "fold_summary.parquet")
        row = shown_per_fold(summary).set_index("fold").loc[NEW]
        assert (row["ic_ci"] == f"n/a ({n} {unit})") == (n < 8), row["ic_ci"]
        assert (row["nw_t"] == f"n/a ({n} {unit})") == (n < 2), row["nw_t"]
        assert (f"n/a ({n} {unit})" in text_table(shown_per_fold(summary))) == (n < 8)
        assert "[live record]" in night["out"] and "no missed session" in night["out"]
    # the tenth session of the new quarter (2021-04-15) has its target: ten test days on the last night
    assert n == 10 and NIGHTS[9] == "2021-04-15"
    record, meta = read_parquet(root / "live_record" / "record.parquet")
    # every forecast on time and scored once realized: all but the last 1 + L nights' (made before their targets)
    assert len(record) == len(NIGHTS) + 1 - (1 + LAG) and meta["missed"] == {}
    # The last night run again, unchanged: the data refresh finds nothing new, nothing trains, nothing is written.
    files = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*") if p.is_file()}
    again = one_night(defs, instance, NIGHTS[-1], capsys)
    assert {j for j, _, _ in again["runs"]} == {"candles_job"}
    assert set(again["plans"].values()) == {"skip"}
    assert "up to date: nothing trained, nothing written" in again["out"]
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in root.rglob("*") if p.is_file()} == files


def _metadata_of(night, job):
    return [(p, ok) for j, p, ok in night["runs"] if j == job]


def test_a_failed_fold_leaves_the_forecast_and_the_record_and_holds_back_the_report(tmp_path, capsys):
    """The CLI's end of a night after a fold's run failed: the forecast is made and the paper record written
    (``record_job``), the report is not rebuilt, and the night exits 1 naming the fold."""
    root = tmp_path / "data"
    defs = build_definitions({"candle_source": SyntheticMarketResource(seed=7), "store": DataStore(root=str(root))})
    instance = DagsterInstance.ephemeral()
    one_night(defs, instance, BUILT, capsys)  # the two folds, the forecast, the record, the report
    report = (root / "reports" / "report.md").stat().st_mtime_ns
    store, runs = defs.resources["store"], []
    for t in TICKERS:
        config = {"ops": {"raw_candles": {"config": {"start": START, "end": NIGHTS[0]}}}}
        assert (
            defs.resolve_job_def("candles_job")
            .execute_in_process(partition_key=t, run_config=config, instance=instance)
            .success
        )

    def execute(job, partition, run_config):
        result = defs.resolve_job_def(job).execute_in_process(
            partition_key=partition, run_config=run_config, instance=instance, raise_on_error=False
        )
        runs.append(job)
        return result, 0.0

    capsys.readouterr()
    universe = load_universe(store, "test")
    with clock(evening(NIGHTS[0])):
        night = Night(execute, store, universe, TRAIN, 1, ["2021-01-01"])  # as if its re-scoring had raised
        code, report_dir, date = finish_night(night, instance, _metadata, _errors)
    out = capsys.readouterr().out
    assert (code, report_dir, date) == (1, None, "2021-04-05")
    assert runs == ["forecast_job", "record_job"]
    assert (root / "forecasts" / f"{date}.parquet").is_file()
    _, meta = read_parquet(root / "live_record" / "record.parquet")
    # the forecast for 04-01 is realized by data to 04-01 (close) or 04-05's open (next_open)
    assert meta["forecasts"] == 2 and f"[live record] {1 - LAG} forecast day(s) scored of 2 stored" in out
    assert "1 fold(s) failed: ['2021-01-01']; the report needs every fold" in out
    assert (root / "reports" / "report.md").stat().st_mtime_ns == report
