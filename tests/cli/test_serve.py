"""`stockpredictor serve` refuses limits it cannot honour and stores it cannot read, in one line (exit 2)."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn

from stockpredictor.api.shedding import LoadShedding
from stockpredictor.config import DATABASE_URL_ENV
from tests.support.cli import invoke


@pytest.mark.parametrize(
    ("option", "value", "line"),
    [
        ("--port", "70000", "error: --port 70000 is outside 1..65535"),
        ("--port", "0", "error: --port 0 is outside 1..65535"),
        ("--concurrency", "0", "error: --concurrency 0 is outside 1..1000"),
        ("--queue", "-1", "error: --queue -1 is outside 0..100000"),
        ("--request-timeout", "0", "error: --request-timeout 0 is outside 0.1..3600"),
    ],
)
def test_out_of_range_limits_are_refused_in_one_line(option: str, value: str, line: str) -> None:
    result = invoke("serve", option, value)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [line]


@pytest.mark.parametrize(
    ("url", "line"),
    [
        ("::::", "error: STOCKPREDICTOR_DATABASE_URL='::::' is not a URL"),
        (
            "postgresql://u@h:port/db",
            "error: STOCKPREDICTOR_DATABASE_URL='postgresql://u@h:port/db' is malformed",
        ),
        (
            "mysql://u:secret@h/db",
            "error: STOCKPREDICTOR_DATABASE_URL='mysql://u:***@h/db' has the unsupported scheme",
        ),
    ],
)
def test_a_store_url_the_api_cannot_read_is_refused_in_one_line(url: str, line: str) -> None:
    result = invoke("serve", env={DATABASE_URL_ENV: url})
    assert result.exit_code == 2
    [shown] = result.stderr.strip().splitlines()
    assert shown.startswith(line)


def test_the_readmes_defaults_reach_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """README: 16 requests at work, 64 more waiting up to a second, 504 after 10 s, on 127.0.0.1:8000.

    uvicorn's `run` is replaced by a recorder (the server itself is started in tests/api): what it is
    handed is the application `serve` built and where it would listen."""
    handed: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: handed.update(app=app, **options))
    result = invoke("serve")
    assert result.exit_code == 0, result.output
    assert (handed["host"], handed["port"]) == ("127.0.0.1", 8000)
    [shedding] = [m for m in handed["app"].user_middleware if m.cls is LoadShedding]
    limits = shedding.kwargs["limits"]
    assert (limits.concurrency, limits.queue, limits.queue_wait_seconds, limits.request_timeout_seconds) == (
        16,
        64,
        1.0,
        10.0,
    )
