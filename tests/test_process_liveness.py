"""The rule that says a RUNNING run's process is dead, with real processes of this host."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from stockpredictor.process_liveness import (
    HOST_TAG,
    PID_TAG,
    PROCESS_START_TAG,
    STALE_RUN_AGE,
    dead_reason,
    process_tags,
)

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
RECENT = NOW - timedelta(minutes=5)


@pytest.fixture
def finished_process_tags() -> dict[str, str]:
    """The tags a process of this host recorded at its start (it has ended since, and was reaped)."""
    script = "import json, stockpredictor.process_liveness as p; print(json.dumps(p.process_tags()))"
    tags: dict[str, str] = json.loads(
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    )
    assert tags[PROCESS_START_TAG].isdigit()
    return tags


def test_a_live_process_of_this_host_is_alive() -> None:
    assert dead_reason(process_tags(), RECENT, NOW) is None


def test_a_gone_process_of_this_host_is_dead(finished_process_tags: dict[str, str]) -> None:
    pid = finished_process_tags[PID_TAG]
    assert dead_reason(finished_process_tags, RECENT, NOW) == (
        f"its process {pid} on {finished_process_tags[HOST_TAG]} is gone"
    )


def test_a_recycled_pid_is_not_taken_for_the_original_process() -> None:
    reused = {**process_tags(), PROCESS_START_TAG: "1"}  # this pid, but another start time
    assert dead_reason(reused, RECENT, NOW) is not None


def test_runs_of_other_hosts_and_untagged_runs_die_only_of_age() -> None:
    elsewhere = {HOST_TAG: "another-pod", PID_TAG: "1", PROCESS_START_TAG: "1"}
    for tags in (elsewhere, {}):
        assert dead_reason(tags, RECENT, NOW) is None
        old = NOW - STALE_RUN_AGE - timedelta(seconds=1)
        assert dead_reason(tags, old, NOW) == "RUNNING since 2026-11-30T11:59:59+00:00, longer than 24 h"
        assert dead_reason(tags, RECENT, NOW, max_age=timedelta(minutes=1)) is not None
