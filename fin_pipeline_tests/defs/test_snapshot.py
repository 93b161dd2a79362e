"""The shape of the code location, against a checked-in snapshot: any change to the asset graph, partitions, jobs,
schedules or sensors fails here with a diff, so that it is made on purpose.

After an intended change, regenerate the snapshot and review its diff with the code's:

    UPDATE_DEFINITIONS_SNAPSHOT=1 python -m pytest fin_pipeline_tests/defs/test_snapshot.py

(not a FIN_PIPELINE_* name: conftest clears those). The test then writes ``definitions_snapshot.json`` and
fails once, saying so.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

import pytest
from dagster import (
    DynamicPartitionsDefinition,
    PartitionsDefinition,
    StaticPartitionsDefinition,
    TimeWindowPartitionsDefinition,
)

from fin_pipeline.definitions import defs

SNAPSHOT = Path(__file__).with_name("definitions_snapshot.json")
UPDATE_VAR = "UPDATE_DEFINITIONS_SNAPSHOT"


def partitions(pd: PartitionsDefinition | None) -> dict | None:
    """The partitions definition's type and what its keys are made of (the settings of the test-suite fix them)."""
    if pd is None:
        return None
    if isinstance(pd, TimeWindowPartitionsDefinition):
        return {
            "type": "time_window",
            "cron": pd.cron_schedule,
            "fmt": pd.fmt,
            "end_offset": pd.end_offset,
            "keys": pd.get_partition_keys(),
        }
    if isinstance(pd, DynamicPartitionsDefinition):
        return {"type": "dynamic", "name": pd.name}
    if isinstance(pd, StaticPartitionsDefinition):
        return {"type": "static", "keys": pd.get_partition_keys()}
    return {"type": type(pd).__name__}


def describe(definitions) -> dict:
    """A JSON-able description of a ``Definitions``: assets (dependencies, partitions, group, checks, resources),
    jobs (the assets they select), schedules (cron, timezone, job) and sensors (their jobs)."""
    repo = definitions.get_repository_def()
    graph = repo.asset_graph
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        spec = definitions.resolve_assets_def(key)
        assets[key.to_user_string()] = {
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "partitions": partitions(node.partitions_def),
            "group": node.group_name,
            "checks": sorted(c.name for c in spec.check_keys),
            "resources": sorted(spec.required_resource_keys),
        }
    jobs = {}
    for name in sorted(repo.job_names):
        job = definitions.resolve_job_def(name)
        jobs[name] = sorted(k.to_user_string() for k in job.asset_layer.executable_asset_keys)
    schedules = {
        s.name: {"cron": s.cron_schedule, "timezone": s.execution_timezone, "job": s.job_name}
        for s in repo.schedule_defs
    }
    sensors = {s.name: sorted(t.job_name for t in s.targets) for s in repo.sensor_defs}
    return {"assets": assets, "jobs": jobs, "schedules": schedules, "sensors": sensors}


def test_definitions_match_the_snapshot():
    actual = json.dumps(describe(defs), indent=2, sort_keys=True) + "\n"
    if os.environ.get(UPDATE_VAR):
        SNAPSHOT.write_text(actual)
        pytest.fail(f"{SNAPSHOT.name} rewritten ({UPDATE_VAR} is set): review its diff, then run without it")
    expected = SNAPSHOT.read_text()
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(True), actual.splitlines(True), str(SNAPSHOT.name), "the definitions now"
            )
        )
        pytest.fail(f"the code location changed; if intended, rerun with {UPDATE_VAR}=1 and commit:\n{diff}")


def test_the_description_sees_what_the_definitions_say():
    """The description is built from the definitions, not restated: spot-checks against the asset objects."""
    from fin_pipeline.defs.assets.features import FEATURE_CHECKS
    from fin_pipeline.defs.partitions import forecast_partitions

    described = describe(defs)
    assert described["assets"]["feature_windows"]["deps"] == ["raw_candles"]
    assert described["assets"]["feature_windows"]["checks"] == sorted(FEATURE_CHECKS)
    assert described["assets"]["forecasts"]["partitions"] == {"type": "dynamic", "name": forecast_partitions.name}
    assert described["schedules"]["nightly_retrain"]["job"] == "candles_job"
