"""`stockpredictor serve` refuses limits it cannot honour, in one line with exit code 2."""

from __future__ import annotations

import pytest

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
