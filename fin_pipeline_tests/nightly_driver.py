"""The daemon's night without a daemon: ``python -m fin_pipeline_tests.nightly_driver YYYY-MM-DD``.

(``python -m fin_pipeline_tests.nightly_driver run JOB PARTITION`` executes one job as a UI launch would, with
no run config, and prints ``failed ...`` or ``ok``.)

Evaluates the ``nightly_retrain`` schedule at 21:30 New York on that day, executes its run requests in process
against the instance of ``DAGSTER_HOME`` (as the daemon would: with the requests' tags, and no run config), then
evaluates the ``nightly_retrain_followup`` sensor and executes what it requests, until it skips. Prints one line
per request (``request <job> <partition>``), per failed run (``failed <job> <partition>: <message>``) and the
sensor's skip reason (``skip <reason>``) or ``done`` after the report. The settings come from the
``FIN_PIPELINE_*`` environment, as the CLI's do: a test runs it in a subprocess beside ``fin-pipeline run`` on
the same store.
"""

from __future__ import annotations

import datetime as dt
import sys
from zoneinfo import ZoneInfo

from dagster import DagsterInstance, SensorResult, SkipReason, build_schedule_context, build_sensor_context


def main(night: str) -> int:
    from fin_pipeline.definitions import defs
    from fin_pipeline.defs.schedules import nightly_retrain, nightly_retrain_followup

    day = dt.date.fromisoformat(night)
    tick = dt.datetime(day.year, day.month, day.day, 21, 30, tzinfo=ZoneInfo("America/New_York"))
    instance = DagsterInstance.get()
    store = {"store": defs.resources["store"]}
    requests = nightly_retrain(build_schedule_context(instance=instance, scheduled_execution_time=tick))
    for _ in range(20):  # each evaluation requests the next stage of the night
        failed = False
        for request in requests:
            print(f"request {request.job_name or 'candles_job'} {request.partition_key}", flush=True)
            job = defs.resolve_job_def(request.job_name or "candles_job")
            result = job.execute_in_process(
                partition_key=request.partition_key, instance=instance, tags=request.tags, raise_on_error=False
            )
            if not result.success:
                failed = True
                message = "; ".join(e.step_failure_data.error.message for e in result.get_step_failure_events())
                print(f"failed {request.job_name} {request.partition_key}: {message}", flush=True)
        if failed:
            return 1
        if any(r.job_name == "report_job" for r in requests):  # the night's last stage (the daemon's run key
            print("done", flush=True)  # would not request it again)
            return 0
        answer = nightly_retrain_followup(build_sensor_context(instance=instance, definitions=defs, resources=store))
        if isinstance(answer, SkipReason):
            print(f"skip {answer.skip_message}", flush=True)
            return 0
        if isinstance(answer, SensorResult):
            for add in answer.dynamic_partitions_requests or []:
                instance.add_dynamic_partitions(add.partitions_def_name, list(add.partition_keys))
            requests = answer.run_requests or []
        else:
            requests = answer if isinstance(answer, list) else [answer]
    return 1


def run_one(job: str, partition: str) -> int:
    from fin_pipeline.definitions import defs

    result = defs.resolve_job_def(job).execute_in_process(
        partition_key=partition, instance=DagsterInstance.get(), raise_on_error=False
    )
    if result.success:
        print("ok", flush=True)
        return 0
    message = "; ".join(e.step_failure_data.error.message for e in result.get_step_failure_events())
    print(f"failed {job} {partition}: {message}", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(run_one(*sys.argv[2:4]) if sys.argv[1] == "run" else main(sys.argv[1]))
