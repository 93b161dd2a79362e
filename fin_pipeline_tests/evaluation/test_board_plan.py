"""The night's board stage: the enabled models on tonight's folds (and missing or corrupt board files) after the
forecast, then the leaderboard, then the report; expectations written out by hand from those rules."""

import pandas as pd

from fin_pipeline.defs.resources import DataStore
from fin_pipeline.evaluation.board import plan_board
from fin_pipeline.evaluation.nightly import FAILED, RUNNING, SUCCESS, Tonight, plan_night
from fin_pipeline.store import layout
from fin_pipeline.store.parquet import write_parquet

BOARD = ["2021-01-01|ridge", "2021-01-01|cnn"]
AFTER_FORECAST = Tonight(folds_planned=True, folds_ran=1, forecast=SUCCESS)


def jobs(step):
    return [(r.job, r.partition) for r in step.runs]


def test_the_board_runs_after_the_forecast_then_the_leaderboard_then_the_report():
    # the forecast first, whatever the board holds
    assert jobs(plan_night((), Tonight(folds_planned=True, folds_ran=1), board=BOARD)) == [("forecast_job", None)]
    step = plan_night((), AFTER_FORECAST, board=BOARD)
    assert jobs(step) == [("board_job", "2021-01-01|ridge"), ("board_job", "2021-01-01|cnn")]
    running = Tonight(folds_planned=True, folds_ran=1, forecast=SUCCESS, board_planned=True, board_ran=2)
    waiting = plan_night((), Tonight(**{**running.__dict__, "board_pending": ("2021-01-01|cnn",)}), board=BOARD)
    assert not waiting.runs and "board runs not finished" in waiting.reason
    assert jobs(plan_night((), running, board=BOARD)) == [("leaderboard_job", None)]
    busy = plan_night((), Tonight(**{**running.__dict__, "leaderboard": RUNNING}))
    assert not busy.runs and "leaderboard" in busy.reason
    assert jobs(plan_night((), Tonight(**{**running.__dict__, "leaderboard": SUCCESS}))) == [("report_job", None)]
    # a failed board run holds back the leaderboard, not the report
    failed = Tonight(**{**running.__dict__, "board_failed": ("2021-01-01|cnn",)})
    assert jobs(plan_night((), failed)) == [("report_job", None)]
    # a failed fold: no leaderboard (its board file would be stale), the record alone as before
    fold_failed = Tonight(**{**running.__dict__, "folds_failed": ("2021-01-01",)})
    assert jobs(plan_night((), fold_failed)) == [("record_job", None)]
    # nor any board run on a night whose fold failed: the forecast, then the record alone
    failed_night = Tonight(folds_planned=True, folds_ran=1, folds_failed=("2021-01-01",), forecast=SUCCESS)
    assert jobs(plan_night((), failed_night, board=BOARD)) == [("record_job", None)]


def test_with_no_board_run_the_leaderboard_is_made_only_when_the_stored_one_is_not_intact():
    done = Tonight(folds_planned=True, forecast=None)
    assert plan_night((), done, forecast_current=True, report_current=True).up_to_date
    step = plan_night((), done, forecast_current=True, report_current=True, leaderboard_current=False)
    assert jobs(step) == [("leaderboard_job", None)]
    after = Tonight(folds_planned=True, leaderboard=SUCCESS)
    assert jobs(plan_night((), after, forecast_current=True, report_current=True)) == [("report_job", None)]
    assert jobs(plan_night((), Tonight(folds_planned=True, leaderboard=FAILED), forecast_current=True)) == [
        ("report_job", None)
    ]


def test_plan_board_takes_tonights_folds_and_the_missing_or_corrupt_files(tmp_path):
    store = DataStore(root=str(tmp_path))
    frame = pd.DataFrame({"date": pd.to_datetime(["2021-01-04"]), "ticker": ["AAPL"], "prediction": [0.1]})
    for model in ("ridge", "momentum"):
        for fold in ("2020-10-01", "2021-01-01"):
            write_parquet(frame, store.path(layout.board_predictions(model, fold)))
    corrupt = store.path(layout.board_predictions("momentum", "2020-10-01"))
    data = bytearray(corrupt.read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    folds = ["2020-10-01", "2021-01-01", "2021-04-01"]
    planned = plan_board(store, ["ridge", "momentum"], ["2021-01-01"], folds)
    assert planned == [
        "2020-10-01|momentum",  # corrupt
        "2021-01-01|ridge",  # ran tonight
        "2021-01-01|momentum",
        "2021-04-01|ridge",  # never stored
        "2021-04-01|momentum",
    ]
    assert plan_board(store, ["ridge"], [], folds[:2]) == []  # intact and not run: left alone


def test_a_bad_board_file_names_the_partition_that_writes_it():
    assert layout.writer(("board", "cnn", "2021-01-01.parquet")) == ("board_predictions", "2021-01-01|cnn")
    assert layout.writer(("board", "cnn", "runs", "2021-01-01", "abc", "best.pt")) == (
        "board_predictions",
        "2021-01-01|cnn",
    )
    assert layout.writer(("leaderboard", "leaderboard.parquet")) == ("leaderboard", None)
