"""Keep yfinance's on-disk caches out of the user's home and its in-process response cache per test."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator

import pytest
import yfinance as yf
from yfinance.data import YfData


def pytest_configure(config: pytest.Config) -> None:
    """Point yfinance's time-zone and cookie caches at a throwaway folder (before any test uses them)."""
    cache_dir = tempfile.mkdtemp(prefix="yfinance-cache-")
    yf.set_tz_cache_location(cache_dir)
    config.add_cleanup(lambda: shutil.rmtree(cache_dir, ignore_errors=True))


@pytest.fixture(autouse=True)
def _fresh_yfinance_responses() -> Iterator[None]:
    """yfinance memoises chart responses per URL for the whole process: no test sees another's answers."""
    YfData.cache_get.cache_clear()
    yield
    YfData.cache_get.cache_clear()
