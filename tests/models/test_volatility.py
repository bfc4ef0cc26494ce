"""Volatility estimators against hand-worked values, and causal: a forecast never changes with later data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stockpredictor.models.volatility import (
    ESTIMATORS,
    abs_return_mae,
    ewma,
    ewma_mix,
    log_returns,
    qlike,
    range_mix_volatility,
    range_variance,
    range_volatility,
    trailing_mean,
)


def _ohlc(n: int, seed: int = 1) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.standard_normal(n) * 0.015))
    open_ = close * np.exp(rng.standard_normal(n) * 0.005)
    high = np.maximum(open_, close) * np.exp(np.abs(rng.standard_normal(n)) * 0.008)
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.standard_normal(n)) * 0.008)
    return open_, high, low, close


def test_ewma_skips_absent_days_and_corrects_its_start() -> None:
    # lam 0.5: level 2 / weight 0.5 = 4; absent day keeps 4; then (1 + 1) / 0.75
    np.testing.assert_allclose(ewma(np.array([4.0, np.nan, 2.0]), 0.5, min_count=1), [4.0, 4.0, 8 / 3])
    assert np.isnan(ewma(np.array([4.0, 2.0]), 0.5, min_count=3)).all()


def test_ewma_mix_weights_the_ewmas() -> None:
    # lam 0.5: [4, 8/3] (above); lam 0: the last value [4, 2]; halves: [4, (8/3 + 2) / 2]
    mix = ewma_mix(np.array([4.0, 2.0]), ((0.5, 0.5), (0.0, 0.5)), min_count=1)
    np.testing.assert_allclose(mix, [4.0, 7 / 3])


def test_range_mix_is_range_ewma_with_one_memory_and_mixes_variances() -> None:
    o, h, lo, c = _ohlc(600)
    np.testing.assert_allclose(
        range_mix_volatility(o, h, lo, c, ((0.94, 1.0),)), range_volatility(o, h, lo, c)
    )
    short, long = range_volatility(o, h, lo, c, 0.7), range_volatility(o, h, lo, c, 0.99)
    mixed = range_mix_volatility(o, h, lo, c, ((0.7, 0.5), (0.99, 0.5)))
    np.testing.assert_allclose(mixed**2, (short**2 + long**2) / 2, equal_nan=True)


def test_trailing_mean_over_finite_values() -> None:
    values = np.array([1.0, 2.0, 3.0, np.nan, 5.0])
    np.testing.assert_allclose(trailing_mean(values, 2, min_count=1), [1.0, 1.5, 2.5, 3.0, 5.0])


def test_range_variance_is_garman_klass_plus_the_overnight_gap() -> None:
    variance = range_variance(
        *(np.array(v) for v in ([99.0, 100.0], [101.0, 110.0], [98.0, 95.0], [100.0, 105.0]))
    )
    intraday = 0.5 * math.log(110 / 95) ** 2 - (2 * math.log(2) - 1) * math.log(105 / 100) ** 2
    assert np.isnan(variance[0])
    assert variance[1] == pytest.approx(intraday + math.log(100 / 100) ** 2)
    np.testing.assert_allclose(log_returns(np.array([100.0, 105.0])), [np.nan, math.log(1.05)])


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_estimators_are_causal_scale_free_and_finite_after_warm_up(name: str) -> None:
    ohlc = _ohlc(1000)
    full = ESTIMATORS[name](*ohlc)
    cut = ESTIMATORS[name](*(a[:900] for a in ohlc))
    np.testing.assert_allclose(cut, full[:900], equal_nan=True)  # later days change no forecast
    np.testing.assert_allclose(ESTIMATORS[name](*(7.0 * a for a in ohlc)), full, rtol=1e-9, equal_nan=True)
    assert np.isfinite(full[-50:]).all() and (full[-50:] > 0).all()
    assert 0.007 < np.nanmedian(full[-100:]) < 0.03  # near the simulated 1.5 % daily scale


def test_losses_by_hand() -> None:
    # qlike: mean(log s^2 + r^2 / s^2); mae of |r| against s * sqrt(2 / pi)
    assert qlike(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == pytest.approx((0 + 1 + math.log(4) + 1) / 2)
    assert abs_return_mae(np.array([1.0, np.nan]), np.array([-1.0, 3.0])) == pytest.approx(
        1 - math.sqrt(2 / math.pi)
    )
