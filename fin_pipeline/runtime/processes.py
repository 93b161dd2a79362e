"""The process that executes a run, named in the run's tags (host, pid, the process's start time).

``fin-pipeline run`` tags its in-process runs with them, and the project's executors tag every run they execute
(:mod:`fin_pipeline.runtime.watch`), whatever started it (``dagster asset materialize``, ``dagster job execute``,
the UI, a schedule or sensor through the daemon). The start time keeps a recycled pid from passing for the process.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

PID_TAG, HOST_TAG, START_TAG = "fin_pipeline/pid", "fin_pipeline/host", "fin_pipeline/proc_start"


def _proc_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux ``/proc``); "" where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 of stat, counted after the command name


def process_tags() -> dict[str, str]:
    """Tags that name this process, for the runs it executes."""
    pid = os.getpid()
    return {PID_TAG: str(pid), HOST_TAG: socket.gethostname(), START_TAG: _proc_start(pid)}


def process_alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's live process
    return not start or not Path("/proc").is_dir() or _proc_start(pid) == start
