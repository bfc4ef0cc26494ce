"""Synthetic price frames for the feature tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

RandomWalk = Callable[..., pd.DataFrame]


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
        index=pd.bdate_range(start, periods=days, name="date"),
    )


@pytest.fixture
def random_walk() -> RandomWalk:
    """(days, seed, start="2010-01-04") -> OHLCV frame of a geometric random walk on business days."""
    return _random_walk
