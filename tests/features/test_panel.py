"""The panel on plain frames: next-day targets (one shift), alignment on the days all tickers share."""

from __future__ import annotations

import numpy as np

from stockpredictor.features.indicators import WARMUP_ROWS
from stockpredictor.features.panel import build_panel, next_day_targets, targets_to_close
from tests.features.conftest import RandomWalk


def test_target_is_next_day_log_return_one_shift() -> None:
    close = np.array([[100.0], [110.0], [99.0]])
    targets = next_day_targets(close, "log_return")
    np.testing.assert_allclose(targets[:2, 0], [np.log(1.1), np.log(0.9)], rtol=1e-6)
    assert np.isnan(targets[2, 0])
    np.testing.assert_allclose(targets_to_close(targets[:1], close[:1], "log_return"), [[110.0]], rtol=1e-6)


def test_panel_aligns_on_shared_days(random_walk: RandomWalk) -> None:
    late = random_walk(200, 2, start="2010-03-01")
    panel = build_panel({"A": random_walk(300, 1), "B": late}, ("log_return_1", "rsi_14"))
    assert panel.dates[0] == np.datetime64(late.index[WARMUP_ROWS].date())
    assert panel.features.shape == (len(panel.dates), 2, 2)
    assert panel.features.dtype == np.float32
