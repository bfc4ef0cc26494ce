"""Indicators on plain frames: warm-up rows dropped, causal (later data changes no earlier feature)."""

from __future__ import annotations

import numpy as np

from stockpredictor.features.indicators import INDICATORS, WARMUP_ROWS, compute_indicators
from stockpredictor.features.panel import build_panel
from tests.features.conftest import RandomWalk

ALL = tuple(name for name in INDICATORS if name != "close")


def test_warmup_dropped_and_no_nan(random_walk: RandomWalk) -> None:
    features = compute_indicators(random_walk(300, 1), ALL)
    assert len(features) == 300 - WARMUP_ROWS
    assert np.isfinite(features.to_numpy()).all()


def test_appending_later_data_changes_no_earlier_feature_or_target(random_walk: RandomWalk) -> None:
    full = {t: random_walk(400, seed) for seed, t in enumerate(["A", "B", "C"])}
    early = {t: frame.iloc[:300] for t, frame in full.items()}
    before = build_panel(early, ALL)
    after = build_panel(full, ALL)
    n = len(before.dates)
    np.testing.assert_array_equal(after.dates[:n], before.dates)
    np.testing.assert_array_equal(after.features[:n], before.features)
    np.testing.assert_array_equal(after.targets[: n - 1], before.targets[: n - 1])
    assert np.isnan(before.targets[-1]).all() and np.isfinite(after.targets[n - 1]).all()
