"""Is the process that started a training run still alive? (for sweeping runs left RUNNING)

A run is tagged at its start with the host name, the process id and the process's start time (from
`/proc`, so that a recycled pid is not taken for the original process). `dead_reason` then says that
a RUNNING run is dead when

- it was started on this host and no process with that pid and start time exists any more (or only
  a zombie), or
- it has been RUNNING for longer than `max_age` (default `STALE_RUN_AGE`, far longer than any
  training): the only rule for runs of other hosts (another pod, another machine), whose processes
  cannot be seen from here, and for runs without these tags.

A run of another host younger than `max_age` is left alone: it may still be training.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from pathlib import Path

HOST_TAG = "stockpredictor.host"
PID_TAG = "stockpredictor.pid"
PROCESS_START_TAG = "stockpredictor.process_start"
#: A RUNNING run older than this is dead wherever it runs.
STALE_RUN_AGE = timedelta(hours=24)
_PROC = Path("/proc")


def process_tags() -> dict[str, str]:
    """The tags that identify the current process: host name, pid and start time (empty without /proc)."""
    pid = os.getpid()
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(pid), PROCESS_START_TAG: _start_time(pid) or ""}


def dead_reason(
    tags: dict[str, str], started: datetime, now: datetime, max_age: timedelta = STALE_RUN_AGE
) -> str | None:
    """Why the run with `tags`, started at `started`, is dead at `now`; None when it may be alive."""
    host, pid = tags.get(HOST_TAG), tags.get(PID_TAG, "")
    if host == socket.gethostname() and pid.isdigit() and not _alive(int(pid), tags.get(PROCESS_START_TAG)):
        return f"its process {pid} on {host} is gone"
    if now - started > max_age:
        return f"RUNNING since {started.isoformat(timespec='seconds')}, longer than {_hours(max_age)}"
    return None


def _alive(pid: int, start_time: str | None) -> bool:
    if not _PROC.is_dir():  # no /proc: the pid alone tells
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # alive, but another user's
            pass
        return True
    stat = _stat_fields(pid)
    if stat is None or stat[0] == "Z":
        return False
    return not start_time or stat[19] == start_time


def _start_time(pid: int) -> str | None:
    stat = _stat_fields(pid)
    return stat[19] if stat else None


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: state, ppid, ... (index 19 is the start time)."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def _hours(age: timedelta) -> str:
    return f"{age.total_seconds() / 3600:g} h"
