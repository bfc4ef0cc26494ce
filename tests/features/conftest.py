"""Synthetic price frames for the feature tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from stockpredictor.calendar import trading_days

RandomWalk = Callable[..., pd.DataFrame]


def sessions(start: str, count: int) -> list[date]:
    """The first `count` exchange sessions on or after `start`."""
    first = date.fromisoformat(start)
    return trading_days(first, first + timedelta(days=2 * count + 10))[:count]


def _random_walk(days: int, seed: int, start: str = "2010-01-04") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, days)))
    spread = np.abs(rng.normal(0, 0.01, days)) * close
    return pd.DataFrame(
        {
            "open": close * (1 + rng.normal(0, 0.005, days)),
            "high": close + spread,
            "low": close - spread,
            "close": close,
            "volume": rng.integers(1_000_000, 5_000_000, days).astype(float),
        },
        index=pd.DatetimeIndex(pd.to_datetime(sessions(start, days)), name="date"),
    )


@pytest.fixture
def random_walk() -> RandomWalk:
    """(days, seed, start="2010-01-04") -> OHLCV frame of a geometric random walk on exchange sessions."""
    return _random_walk
