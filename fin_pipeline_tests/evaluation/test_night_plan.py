"""The night's planner: which job runs for each fold, then the forecast, then the record or the report, in order.

Every expectation is written out by hand from the night's rules (a fold to train gets ``walk_forward_job``, one to
re-score ``fold_rescore_job``, one left alone nothing; the forecast whatever the folds did; the report only when
every fold run succeeded, else the record alone)."""

from fin_pipeline.evaluation.nightly import (
    FAILED,
    RUNNING,
    SUCCESS,
    FoldPlan,
    Tonight,
    data_runs,
    plan_night,
    retrain_all,
)

PLANS = [
    FoldPlan("2020-01-01", "skip", "unchanged", False, "2020-06-30"),
    FoldPlan("2020-07-01", "skip", "closed; its rows were restated since: kept as recorded", False, "2020-12-31", True),
    FoldPlan("2021-01-01", "train", "new fold", False, "2021-06-30"),
    FoldPlan("2021-07-01", "rescore", "new test rows (to 2021-07-09); the model is unchanged", True, "2021-07-09"),
]


def jobs(step):
    return [(r.job, r.partition) for r in step.runs]


def test_the_data_stage_is_one_candles_run_per_ticker_in_order():
    assert [(r.job, r.partition) for r in data_runs(["MSFT", "AAPL"])] == [
        ("candles_job", "MSFT"),
        ("candles_job", "AAPL"),
    ]


def test_folds_to_train_or_rescore_get_their_job_and_folds_left_alone_get_none():
    step = plan_night(PLANS, Tonight())
    assert jobs(step) == [("walk_forward_job", "2021-01-01"), ("fold_rescore_job", "2021-07-01")]
    assert [r.plan.fold for r in step.runs] == ["2021-01-01", "2021-07-01"]


def test_retrain_trains_every_fold_but_one_kept_as_recorded():
    step = plan_night(retrain_all(PLANS), Tonight())
    assert jobs(step) == [
        ("walk_forward_job", "2020-01-01"),
        ("walk_forward_job", "2021-01-01"),
        ("walk_forward_job", "2021-07-01"),
    ]
    assert [p.reason for p in retrain_all(PLANS)] == ["--retrain", PLANS[1].reason, "--retrain", "--retrain"]


def test_the_stages_follow_each_other_once_the_one_before_has_finished():
    running = Tonight(folds_planned=True, folds_ran=2, folds_pending=("2021-07-01",))
    step = plan_night(PLANS, running)
    assert step.runs == () and step.reason == "fold runs not finished yet: ['2021-07-01']"
    folds_done = Tonight(folds_planned=True, folds_ran=2)
    assert jobs(plan_night(PLANS, folds_done)) == [("forecast_job", None)]
    step = plan_night(PLANS, Tonight(folds_planned=True, folds_ran=2, forecast=RUNNING))
    assert step.runs == () and step.reason == "the forecast run is not finished yet"
    assert jobs(plan_night(PLANS, Tonight(folds_planned=True, folds_ran=2, forecast=SUCCESS))) == [("report_job", None)]
    step = plan_night(PLANS, Tonight(folds_planned=True, folds_ran=2, forecast=SUCCESS, report=RUNNING))
    assert step.runs == () and step.reason == "the report_job run is not finished yet"
    step = plan_night(PLANS, Tonight(folds_planned=True, folds_ran=2, forecast=SUCCESS, report=SUCCESS))
    assert step.runs == () and step.reason == "forecast, paper record and report done" and not step.up_to_date


def test_a_failed_fold_holds_back_the_report_but_not_the_forecast_or_the_record():
    failed = Tonight(folds_planned=True, folds_ran=2, folds_failed=("2021-07-01", "2021-01-01"))
    step = plan_night(PLANS, failed)
    assert jobs(step) == [("forecast_job", None)] and step.failed == ("2021-01-01", "2021-07-01")
    failed_forecast = Tonight(folds_planned=True, folds_ran=2, folds_failed=("2021-01-01",), forecast=FAILED)
    assert jobs(plan_night(PLANS, failed_forecast)) == [("record_job", None)]
    done = Tonight(folds_planned=True, folds_ran=2, folds_failed=("2021-01-01",), forecast=SUCCESS, record=SUCCESS)
    step = plan_night(PLANS, done)
    assert step.runs == ()
    assert step.reason == "fold runs failed: ['2021-01-01']; forecast and paper record done, no report"


def test_a_night_with_nothing_to_run_goes_straight_to_the_forecast_and_report():
    alone = [p for p in PLANS if p.action == "skip"]
    assert jobs(plan_night(alone, Tonight())) == [("forecast_job", None)]
    assert jobs(plan_night(alone, Tonight(forecast=SUCCESS))) == [("report_job", None)]


def test_what_is_stored_and_current_is_not_run_again():
    alone = [p for p in PLANS if p.action == "skip"]
    # the forecast of tonight's model is stored: no forecast run; the report still runs unless stored too
    assert jobs(plan_night(alone, Tonight(folds_planned=True), forecast_current=True)) == [("report_job", None)]
    step = plan_night(alone, Tonight(folds_planned=True), forecast_current=True, report_current=True)
    assert step.runs == () and step.up_to_date and step.reason == "up to date"
    # a fold ran tonight: the report is rebuilt although one is stored
    ran = Tonight(folds_planned=True, folds_ran=1)
    assert jobs(plan_night(alone, ran, forecast_current=True, report_current=True)) == [("report_job", None)]
    # the forecast ran tonight: likewise
    forecast = Tonight(folds_planned=True, forecast=SUCCESS)
    assert jobs(plan_night(alone, forecast, report_current=True)) == [("report_job", None)]
