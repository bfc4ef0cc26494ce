"""Indicators on plain frames: warm-up rows dropped, causal (later data changes no earlier feature)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from stockpredictor.features.indicators import INDICATORS, WARMUP_ROWS, compute_indicators
from stockpredictor.features.panel import build_panel
from tests.features.conftest import RandomWalk, sessions

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


# A tiny series, 45 sessions: the last row is the only one scored, against the indicators' textbook
# definitions written out below in plain Python (loops and `math`, no pandas, no `ta`).
N = 45
CLOSE = [100 + 3 * math.sin(t) + 0.2 * t for t in range(N)]
HIGH = [c + 1 + 0.5 * (t % 3) for t, c in enumerate(CLOSE)]
LOW = [c - 1 - 0.3 * (t % 2) for t, c in enumerate(CLOSE)]
VOLUME = [1000.0 + 37 * (t % 7) for t in range(N)]


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def _std(xs: list[float], ddof: int) -> float:
    m = _mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - ddof))


def _recursive_mean(xs: list[float], alpha: float) -> list[float]:
    """y_0 = x_0, y_t = (1 - alpha) y_(t-1) + alpha x_t."""
    ys = [xs[0]]
    for x in xs[1:]:
        ys.append((1 - alpha) * ys[-1] + alpha * x)
    return ys


def _by_hand(t: int) -> dict[str, float]:
    c, h, lo, v = CLOSE, HIGH, LOW, [math.log1p(x) for x in VOLUME]
    returns = [math.log(c[i] / c[i - 1]) for i in range(1, t + 1)]
    # RSI (Wilder): gains and losses smoothed with alpha 1/14, from day 0 (whose move `ta` counts as 0)
    gains = _recursive_mean([0.0] + [max(c[i] - c[i - 1], 0.0) for i in range(1, t + 1)], 1 / 14)[-1]
    losses = _recursive_mean([0.0] + [max(c[i - 1] - c[i], 0.0) for i in range(1, t + 1)], 1 / 14)[-1]
    # MACD: EMA 12 - EMA 26 of the close (alpha 2 / (span + 1)); its signal, an EMA 9 of the MACD from
    # the first day the EMA 26 is defined (day 25)
    macd = [
        f - s
        for f, s in zip(_recursive_mean(c[: t + 1], 2 / 13), _recursive_mean(c[: t + 1], 2 / 27), strict=True)
    ]
    signal = _recursive_mean(macd[25:], 2 / 10)[-1]
    # Bollinger bands: 20-day mean +- 2 population standard deviations
    window = c[t - 19 : t + 1]
    low_band, high_band = _mean(window) - 2 * _std(window, 0), _mean(window) + 2 * _std(window, 0)
    # ATR (Wilder): the true range (high - low on day 0), smoothed with alpha 1/14
    true_range = [h[0] - lo[0]] + [
        max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1])) for i in range(1, t + 1)
    ]
    return {
        "log_return_1": math.log(c[t] / c[t - 1]),
        "log_return_5": math.log(c[t] / c[t - 5]),
        "rsi_14": 1 - 1 / (1 + gains / losses),
        "macd_diff": (macd[t] - signal) / c[t],
        "bb_pband": (c[t] - low_band) / (high_band - low_band),
        "bb_wband": 100 * (high_band - low_band) / _mean(window),
        "atr_14": _recursive_mean(true_range, 1 / 14)[-1] / c[t],
        "stoch_k": (c[t] - min(lo[t - 13 : t + 1])) / (max(h[t - 13 : t + 1]) - min(lo[t - 13 : t + 1])),
        "volatility_20": _std(returns[-20:], 1),
        "volume_z_20": (v[t] - _mean(v[t - 19 : t + 1])) / (_std(v[t - 19 : t + 1], 1) + 1e-9),
        "sma_ratio_20": c[t] / _mean(window) - 1,
        "close": c[t],
    }


def test_each_indicator_equals_its_definition_worked_by_hand() -> None:
    frame = pd.DataFrame(
        {"open": CLOSE, "high": HIGH, "low": LOW, "close": CLOSE, "volume": VOLUME},
        index=pd.DatetimeIndex(pd.to_datetime(sessions("2010-01-04", N)), name="date"),
    )
    computed = compute_indicators(frame, tuple(INDICATORS)).iloc[-1].to_dict()
    expected = _by_hand(N - 1)
    assert computed == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert set(expected) == set(INDICATORS)  # every indicator has its hand computation
