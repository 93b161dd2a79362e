"""The web UI path, end to end: ``dagster-webserver`` + ``dagster-daemon`` in subprocesses, driven through GraphQL.

A temporary project home gets the repo's ``dagster.yaml`` and ``workspace.yaml``; the ticker data is built first
in one plain subprocess (no UI needed), then the webserver and the daemon start against the same instance. Through
the webserver's GraphQL API the test checks that the code location loads with its seven assets and two fold
partitions, then launches one fold partition the way the UI's **Materialize** button does (``launchRun`` with an
asset selection and a ``dagster/partition`` tag). Runs launched through the webserver start ``QUEUED``; the daemon
dequeues them, so the run only succeeds when both processes work together.

The field names of the queries below were checked against ``dagster_graphql``'s schema of Dagster 1.13.28.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from fin_pipeline_tests.conftest import REPO_ROOT
from fin_pipeline_tests.ui.server import free_port

BIN = Path(sys.executable).parent
LOCATION = "fin_pipeline"
REPOSITORY = "__repository__"  # the name Dagster gives the repository built from a module's ``defs``
TICKERS = ("AAPL", "MSFT")
FOLDS = ["2020-07-01", "2021-01-01"]  # half-year folds (env below)
FOLD_ASSETS = ["walk_forward_folds", "normalization_stats", "trained_model", "fold_metrics"]
ALL_ASSETS = {
    "raw_candles",
    "feature_windows",
    *FOLD_ASSETS,
    "walk_forward_report",
    "live_model",
    "forecasts",
    "live_record",
    "board_predictions",
    "leaderboard",
}
# Short training (CPU): one epoch of the small CNN.
RUN_CONFIG = {"ops": {"trained_model": {"config": {"epochs": 1, "model": "cnn", "batch_size": 64}}}}
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}

SERVER_DEADLINE_S = 90  # webserver up and the code location loaded
RUN_DEADLINE_S = 240  # the launched run, from QUEUED to a terminal status

# Upstream ticker data, in one process: candles_job per ticker, recorded in the same instance as the UI's runs.
UPSTREAM = """
import sys
from dagster import DagsterInstance
from fin_pipeline.definitions import defs

job = defs.resolve_job_def("candles_job")
with DagsterInstance.get() as instance:
    for ticker in sys.argv[1:]:
        result = job.execute_in_process(partition_key=ticker, instance=instance, raise_on_error=False)
        print(ticker, "success" if result.success else "FAILED", flush=True)
        if not result.success:
            sys.exit(1)
"""

WORKSPACE_QUERY = """
query Workspace {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { name repositories { name jobs { name } } }
          ... on PythonError { message stack }
        }
      }
    }
    ... on PythonError { message stack }
  }
}
"""

ASSETS_QUERY = """
query RepositoryAssets($selector: RepositorySelector!) {
  repositoryOrError(repositorySelector: $selector) {
    __typename
    ... on Repository {
      assetNodes {
        assetKey { path }
        isPartitioned
        partitionKeysByDimension { name partitionKeys }
      }
    }
    ... on RepositoryNotFoundError { message }
    ... on PythonError { message stack }
  }
}
"""

# What the UI's Materialize button sends (and what dagster_graphql's client submits): launchRun with an
# ExecutionParams whose selector names the job and the selected assets, the run config, and the partition tag.
LAUNCH_MUTATION = """
mutation LaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on RunConfigValidationInvalid { errors { __typename message path reason } }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { stepKey invalidOutputName }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}
"""

RUN_QUERY = """
query RunStatus($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run {
      runId
      status
      jobName
      tags { key value }
      assetMaterializations { assetKey { path } partition }
    }
    ... on RunNotFoundError { message }
    ... on PythonError { message }
  }
}
"""

LOGS_QUERY = """
query RunLogs($runId: ID!) {
  logsForRun(runId: $runId, limit: 2000) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { message stepKey level }
        ... on ErrorEvent { error { message stack } }
      }
    }
    ... on PythonError { message }
  }
}
"""


def env_for(home: Path) -> dict[str, str]:
    """The test process's environment (PYTHONPATH included) without FIN_PIPELINE_*/DAGSTER_HOME, then ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIN_PIPELINE_", "DAGSTER_HOME"))}
    env.pop("POLYGON_API_KEY", None)
    env.update(
        DAGSTER_HOME=str(home),
        FIN_PIPELINE_DATA_DIR=str(home / "data"),
        FIN_PIPELINE_UNIVERSE=",".join(TICKERS),
        FIN_PIPELINE_FOLD_PERIOD="half",
        FIN_PIPELINE_FIRST_TEST_DATE=FOLDS[0],
        FIN_PIPELINE_START="2018-01-02",
        FIN_PIPELINE_END="2021-06-30",
    )
    return env


def tail(path: Path, chars: int = 4000) -> str:
    text = path.read_text(errors="replace") if path.is_file() else "(no file)"
    return f"--- {path.name} (last {chars} chars) ---\n{text[-chars:]}"


@dataclass
class Ui:
    home: Path
    url: str
    logs: list[Path]
    procs: dict[str, subprocess.Popen]

    def diagnostics(self) -> str:
        states = ", ".join(
            f"{name}: {'running' if p.poll() is None else f'exited {p.returncode}'}" for name, p in self.procs.items()
        )
        return "\n".join([f"processes: {states}", *(tail(log) for log in self.logs)])

    def gql(self, query: str, **variables) -> dict:
        response = requests.post(f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=60)
        assert response.status_code == 200, f"HTTP {response.status_code}: {response.text[:2000]}"
        body = response.json()
        assert not body.get("errors"), f"GraphQL errors: {body['errors']}"
        return body["data"]

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode}\n{self.diagnostics()}")


def stop(proc: subprocess.Popen) -> None:
    """Stop a process started with ``start_new_session=True`` and everything in its process group."""
    gone = (ProcessLookupError, PermissionError)
    if proc.poll() is None:
        with contextlib.suppress(*gone):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
    with contextlib.suppress(*gone):  # the group may outlive its leader (code servers, run workers)
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


@pytest.fixture
def ui(tmp_path) -> Iterator[Ui]:
    """A project home with upstream data, and a webserver + daemon serving it; both always stopped."""
    home = tmp_path / "home"
    home.mkdir()
    for name in ("dagster.yaml", "workspace.yaml"):
        shutil.copy(REPO_ROOT / name, home / name)
    env = env_for(home)
    logs_dir = tmp_path / "logs"
    logs_dir.mkdir()

    upstream_log = logs_dir / "upstream.log"
    with upstream_log.open("w") as out:
        upstream = subprocess.run(
            [sys.executable, "-c", UPSTREAM, *TICKERS],
            cwd=home,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=240,
        )
    assert upstream.returncode == 0, tail(upstream_log, 8000)
    for ticker in TICKERS:
        assert (home / "data" / "feature_windows" / f"{ticker}.parquet").is_file(), tail(upstream_log)

    port = free_port()
    commands = {
        "webserver": [BIN / "dagster-webserver", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
        "daemon": [BIN / "dagster-daemon", "run", "-w", "workspace.yaml"],
    }
    procs: dict[str, subprocess.Popen] = {}
    logs = [upstream_log]
    try:
        for name, cmd in commands.items():
            log = logs_dir / f"{name}.log"
            logs.append(log)
            with log.open("w") as out:  # the child keeps its own copy of the descriptor
                procs[name] = subprocess.Popen(
                    cmd,
                    cwd=home,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
        yield Ui(home=home, url=f"http://127.0.0.1:{port}", logs=logs, procs=procs)
    finally:
        for proc in procs.values():
            stop(proc)


def wait_for_location(ui: Ui) -> dict:
    """Poll until the webserver answers and the code location has finished loading; return its entry."""
    deadline = time.monotonic() + SERVER_DEADLINE_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        ui.check_alive()
        try:
            if requests.get(f"{ui.url}/server_info", timeout=5).status_code == 200:
                workspace = ui.gql(WORKSPACE_QUERY)["workspaceOrError"]
                assert workspace["__typename"] == "Workspace", workspace
                entries = {e["name"]: e for e in workspace["locationEntries"]}
                assert LOCATION in entries, f"locations: {list(entries)}"
                if entries[LOCATION]["loadStatus"] == "LOADED":
                    return entries[LOCATION]
                last = f"location {LOCATION} is {entries[LOCATION]['loadStatus']}"
        except requests.RequestException as exc:
            last = repr(exc)
        time.sleep(0.5)
    pytest.fail(f"webserver not ready within {SERVER_DEADLINE_S} s ({last})\n{ui.diagnostics()}")


def run_log_tail(ui: Ui, run_id: str, lines: int = 40) -> str:
    try:
        logs = ui.gql(LOGS_QUERY, runId=run_id)["logsForRun"]
    except (AssertionError, requests.RequestException) as exc:
        return f"(run log unavailable: {exc})"
    if logs["__typename"] != "EventConnection":
        return f"(run log unavailable: {logs})"
    out = []
    for event in logs["events"]:
        out.append(f"{event['__typename']} [{event.get('stepKey') or '-'}] {event.get('message', '')}")
        if event.get("error"):
            out.append(event["error"]["message"] + "".join(event["error"]["stack"]))
    return "\n".join(out[-lines:])


def wait_for_run(ui: Ui, run_id: str) -> dict:
    deadline = time.monotonic() + RUN_DEADLINE_S
    run: dict = {}
    while time.monotonic() < deadline:
        ui.check_alive()
        run = ui.gql(RUN_QUERY, runId=run_id)["runOrError"]
        assert run["__typename"] == "Run", run
        if run["status"] in TERMINAL:
            return run
        time.sleep(1)
    pytest.fail(
        f"run {run_id} still {run.get('status')} after {RUN_DEADLINE_S} s\n"
        f"--- run events ---\n{run_log_tail(ui, run_id)}\n{ui.diagnostics()}"
    )


@pytest.mark.timeout(400)
def test_webserver_loads_the_location_and_materializes_a_fold_through_graphql(ui):
    # The code location loads, with its jobs.
    entry = wait_for_location(ui)
    location = entry["locationOrLoadError"]
    assert location["__typename"] == "RepositoryLocation", f"code location failed to load: {location}"
    repos = {r["name"]: r for r in location["repositories"]}
    assert list(repos) == [REPOSITORY]
    assert {"candles_job", "walk_forward_job", "report_job"} <= {j["name"] for j in repos[REPOSITORY]["jobs"]}

    # Its assets, partitioned as the settings say: tickers for the data, folds for the fold chain.
    selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
    repo = ui.gql(ASSETS_QUERY, selector=selector)["repositoryOrError"]
    assert repo["__typename"] == "Repository", repo
    nodes = {"/".join(n["assetKey"]["path"]): n for n in repo["assetNodes"]}
    assert set(nodes) == ALL_ASSETS

    def keys(asset: str) -> list[str]:
        dims = nodes[asset]["partitionKeysByDimension"]
        assert len(dims) == 1, dims
        return dims[0]["partitionKeys"]

    for asset in FOLD_ASSETS:
        assert nodes[asset]["isPartitioned"] and keys(asset) == FOLDS, (asset, nodes[asset])
    for asset in ("raw_candles", "feature_windows"):
        assert keys(asset) == list(TICKERS), (asset, nodes[asset])
    assert not nodes["walk_forward_report"]["isPartitioned"] and not nodes["live_record"]["isPartitioned"]
    assert nodes["live_model"]["isPartitioned"] and nodes["forecasts"]["isPartitioned"]  # by forecast date

    # Materialize the first fold of the fold chain, as the UI's Materialize button does.
    execution_params = {
        "selector": {**selector, "jobName": "walk_forward_job", "assetSelection": [{"path": [a]} for a in FOLD_ASSETS]},
        "runConfigData": RUN_CONFIG,
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": FOLDS[0]}]},
        "mode": "default",
    }
    launched = ui.gql(LAUNCH_MUTATION, executionParams=execution_params)["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", f"launch refused: {launched}"
    run_id = launched["run"]["runId"]

    run = wait_for_run(ui, run_id)  # QUEUED until the daemon dequeues it
    assert run["status"] == "SUCCESS", (
        f"run {run_id} ended {run['status']}\n--- run events ---\n{run_log_tail(ui, run_id)}\n{ui.diagnostics()}"
    )
    assert run["jobName"] == "walk_forward_job"
    assert {"key": "dagster/partition", "value": FOLDS[0]} in run["tags"]
    materialized = {("/".join(m["assetKey"]["path"]), m["partition"]) for m in run["assetMaterializations"]}
    assert materialized == {(a, FOLDS[0]) for a in FOLD_ASSETS}

    data = ui.home / "data"
    assert (data / "models" / FOLDS[0] / "best.pt").is_file()
    assert (data / "metrics" / FOLDS[0] / "metrics.parquet").is_file()
    assert not (data / "models" / FOLDS[1]).exists()  # one fold partition only
