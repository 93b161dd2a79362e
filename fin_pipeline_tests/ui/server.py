"""``dagster dev`` (webserver + daemon) against a project home, for the browser test and ``scripts/ui_screenshot.py``.

The server runs in its own process group (``dagster dev`` starts the webserver, the daemon and a code server as
children), so that stopping it stops all of them. It is ready when the webserver answers and the code location has
finished loading (GraphQL ``workspaceOrError``); a server that dies or is not ready by the deadline is stopped and
reported with the tail of its log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests

BIN = Path(sys.executable).parent
LOCATION = "fin_pipeline"
READY_DEADLINE_S = 120  # webserver up and the code location loaded (10-30 s on 2 busy cores)
RELOADS = 2

WORKSPACE_QUERY = """
query Workspace {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
    ... on PythonError { message }
  }
}
"""


RELOAD_MUTATION = """
mutation Reload($name: String!) {
  reloadRepositoryLocation(repositoryLocationName: $name) { __typename }
}
"""


class ServerError(RuntimeError):
    """``dagster dev`` exited, or was not ready in time; the message ends with its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(path: Path, chars: int = 6000) -> str:
    text = path.read_text(errors="replace") if path.is_file() else "(no log)"
    return f"--- {path} (last {chars} chars) ---\n{text[-chars:]}"


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the process group (``dagster dev`` treats it as Ctrl-C and stops its services), then SIGKILL to
    whatever is left."""
    gone = (ProcessLookupError, PermissionError)
    if proc.poll() is None:
        with contextlib.suppress(*gone):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
    with contextlib.suppress(*gone):  # the group may outlive its leader (code server, daemon)
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def location_status(url: str) -> tuple[str, str | None]:
    """The code location's load status (``LOADED`` when ready) and its load error, if any."""
    if requests.get(f"{url}/server_info", timeout=5).status_code != 200:
        return "webserver not answering yet", None
    workspace = graphql(url, WORKSPACE_QUERY)["workspaceOrError"]
    if workspace["__typename"] != "Workspace":
        raise ServerError(f"workspace failed to load: {workspace}")
    entries = {e["name"]: e for e in workspace["locationEntries"]}
    if LOCATION not in entries:
        raise ServerError(f"no code location {LOCATION!r} in the workspace, only {list(entries)}")
    entry = entries[LOCATION]
    error = entry["locationOrLoadError"]
    return entry["loadStatus"], error["message"] if error and error["__typename"] == "PythonError" else None


def graphql(url: str, query: str, **variables) -> dict:
    response = requests.post(f"{url}/graphql", json={"query": query, "variables": variables}, timeout=30)
    response.raise_for_status()
    return response.json()["data"]


@contextlib.contextmanager
def dagster_dev(
    home: Path, env: dict[str, str], log: Path, workspace: Path | None = None, deadline_s: float = READY_DEADLINE_S
) -> Iterator[str]:
    """Run ``dagster dev`` from ``home`` (``env`` should set ``DAGSTER_HOME``) until the block ends; yield its URL.

    A code location that fails to load is reloaded (the UI's *Reload definitions*) up to ``RELOADS`` times before
    the failure is reported with every load error: a one-off load failure was seen once on the busy shared 2-core
    machine (the next start loaded fine; its cause was not captured), and each error is printed to stderr.
    """
    port = free_port()
    workspace = workspace or home / "workspace.yaml"
    cmd = [str(BIN / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", str(workspace)]
    env = {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"}  # its children are this venv's commands too
    with log.open("w") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            cmd,
            cwd=home,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            # A parent started in the background may ignore SIGINT, and dagster dev maps SIGTERM to SIGINT's handler:
            # restore the default, so that SIGTERM shuts it down cleanly.
            preexec_fn=_default_sigint,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        end, last, errors = time.monotonic() + deadline_s, "not started", []
        while True:
            if proc.poll() is not None:
                raise ServerError(f"dagster dev exited with {proc.returncode}\n{log_tail(log)}")
            try:
                last, error = location_status(url)
            except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
                last, error = repr(exc), None
            except ServerError as exc:
                raise ServerError(f"{exc}\n{log_tail(log)}") from None
            if last == "LOADED" and error is None:
                break
            if error is not None:
                errors.append(error)
                print(f"code location {LOCATION} failed to load ({len(errors)}): {error}", file=sys.stderr)
                if len(errors) > RELOADS:
                    raise ServerError(
                        f"code location {LOCATION} failed to load: {list(dict.fromkeys(errors))}\n{log_tail(log)}"
                    )
                with contextlib.suppress(requests.RequestException):  # the next poll says how it went
                    graphql(url, RELOAD_MUTATION, name=LOCATION)
            if time.monotonic() > end:
                raise ServerError(
                    f"dagster dev not ready within {deadline_s:.0f} s ({last}; load errors: {errors})\n{log_tail(log)}"
                )
            time.sleep(0.5)
        yield url
    finally:
        stop(proc)
