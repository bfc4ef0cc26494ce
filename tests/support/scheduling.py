"""The order the test files start in: the slowest first, so that the two xdist workers finish together.

pytest-xdist (`--dist loadfile --no-loadscope-reorder`, pyproject.toml) hands whole files to the worker
that runs out of work first, in collection order. Its default order (most tests first) started the few
files that run pipelines last, and one worker ran them alone at the end. Longest first leaves only short
files for the end. The list is what `pytest --junitxml` measured per file on a quiet 2-core machine; a
file not listed starts after these, in collection order.
"""

from __future__ import annotations

import pytest

SLOWEST_FIRST = (  # seconds per file, 2026-12-07
    "tests/pipelines/test_local_runs.py",  # 142
    "tests/api/test_demo.py",  # 103
    "tests/pipelines/test_image_contract.py",  # 74 (165 while it builds its cached dependency layer)
    "tests/test_registry_tampering.py",  # 30
    "tests/stages/test_replay_degradation.py",  # 27
    "tests/stages/test_regime_shift.py",  # 23
    "tests/stages/test_killed_training.py",  # 19
    "tests/api/test_fuzz.py",  # 17 (the shared replay, when its worker's first)
    "tests/cli/test_daily.py",  # 17 (the same)
    "tests/cluster/test_mlflow_accounts.py",  # 12
    "tests/test_registry_outage.py",  # 12
    "tests/pipelines/test_compile_image.py",  # 12
    "tests/cli/test_training.py",  # 11
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the items of the files in `SLOWEST_FIRST` first, in that order (stable otherwise)."""
    rank = {path: position for position, path in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))
