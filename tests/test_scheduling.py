"""The scheduling list names files that exist (a renamed file would silently start late)."""

from tests.conftest import REPO
from tests.support.scheduling import SLOWEST_FIRST


def test_every_file_named_for_scheduling_exists() -> None:
    assert [path for path in SLOWEST_FIRST if not (REPO / path).is_file()] == []
