"""Prediction intervals, their online calibration and scores against hand-worked values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats  # a reference only

from stockpredictor.models.intervals import (
    interval_scores,
    kupiec_p_value,
    log_bounds,
    normal_multiplier,
    price_bounds,
    scores,
    track_quantile,
)
from stockpredictor.models.volatility import ewma_volatility


def test_normal_multipliers_are_the_central_quantiles() -> None:
    assert normal_multiplier(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert normal_multiplier(0.8) == pytest.approx(1.281552, abs=1e-6)


def test_bounds_are_symmetric_in_log_returns_and_map_to_prices() -> None:
    bounds = log_bounds(np.array([0.01]), np.array([0.02]), 1.5)  # 0.01 -/+ 0.03
    np.testing.assert_allclose(bounds, [[-0.02, 0.04]])
    np.testing.assert_allclose(
        price_bounds(np.array([100.0]), bounds), [[100 * math.exp(-0.02), 100 * math.exp(0.04)]]
    )


def test_quantile_tracking_steps_up_on_a_miss_and_down_on_a_hit() -> None:
    # level 0.8, alpha 0.2, step 0.1: a miss adds 0.1 * 0.8, a hit takes 0.1 * 0.2
    assert track_quantile(1.0, np.array([True, False, False]), 0.8, step=0.1) == pytest.approx(1.04)
    assert track_quantile(0.01, np.array([False]), 0.8, step=0.1) == 0.0  # never below zero


def test_quantile_tracking_keeps_long_run_coverage_through_a_volatility_shift() -> None:
    """Normal returns whose scale triples on day 1000: EWMA-scaled intervals calibrated online cover ~80 %."""
    rng = np.random.default_rng(0)
    sigma = np.where(np.arange(2000) < 1000, 0.01, 0.03)
    close = 100 * np.exp(np.cumsum(rng.standard_normal(2000) * sigma))
    returns = np.diff(np.log(close))
    volatility = ewma_volatility(close)[:-1]  # the forecast of returns[t] made on day t
    start = np.flatnonzero(np.isfinite(volatility))[0]
    multiplier, misses = normal_multiplier(0.8), []
    for t in range(start, len(returns)):
        bounds = log_bounds(0.0, volatility[t], multiplier)
        misses.append(not bounds[0] <= returns[t] <= bounds[1])
        multiplier = track_quantile(multiplier, np.array(misses[-1:]), 0.8)
    assert abs(np.mean(misses) - 0.2) < 0.02
    assert abs(np.mean(misses[1000 - start + 20 :]) - 0.2) < 0.03  # and after the shift once adapted


def test_scores_are_standardised_distances() -> None:
    np.testing.assert_allclose(
        scores(np.array([0.03, -0.01]), np.array([0.01, 0.0]), np.array([0.01, 0.02])), [2.0, 0.5]
    )


def test_interval_scores_by_hand() -> None:
    # level 0.8: 2 / alpha = 10. Widths 1; Winkler 1, 1 + 10 * 0.5, 1 + 10 * 1, 1 -> mean 19 / 4
    bounds = np.array([[0.0, 1.0]] * 4)
    result = interval_scores(bounds, np.array([0.5, 1.5, -1.0, 0.2]), 0.8)
    assert (result.n, result.coverage, result.mean_width) == (4, 0.5, 1.0)
    assert result.winkler == pytest.approx(4.75)
    assert result.kupiec_p_value == pytest.approx(kupiec_p_value(2, 4, 0.2))


def test_kupiec_against_the_likelihood_ratio_by_hand_and_scipy() -> None:
    # no miss in 10 at alpha 0.1: LR = -2 * 10 * log(0.9) = 2.10721
    assert kupiec_p_value(0, 10, 0.1) == pytest.approx(stats.chi2.sf(-20 * math.log(0.9), 1))
    # 7 misses in 50 at 0.05: LR = -2 [7 log .05 + 43 log .95 - 7 log .14 - 43 log .86]
    lr = -2 * (7 * math.log(0.05) + 43 * math.log(0.95) - 7 * math.log(0.14) - 43 * math.log(0.86))
    assert kupiec_p_value(7, 50, 0.05) == pytest.approx(stats.chi2.sf(lr, 1))
    assert kupiec_p_value(5, 100, 0.05) == pytest.approx(1.0)
    assert math.isnan(kupiec_p_value(0, 0, 0.05))
