"""The trigger's significance tests against hand-computed values and scipy's distributions."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats  # a reference only: scipy comes with scikit-learn, the package does not use it

from stockpredictor.models.significance import (
    binomial_cdf,
    diebold_mariano,
    direction_test,
    long_run_variance,
    newey_west_lag,
    student_t_sf,
)

# Losses of five sessions: d = model - baseline = 1, -1, 2, 0, 3; mean 1, centred 0, -2, 1, -1, 2.
#   gamma_0 = (0 + 4 + 1 + 1 + 4) / 5 = 2
#   gamma_1 = (-2*0 + 1*-2 + -1*1 + 2*-1) / 5 = -1
#   lag 1 (Bartlett weight 1/2): LRV = 2 + 2 * 1/2 * -1 = 1 -> DM = 1 / sqrt(1/5) = sqrt(5)
#   HLN, h = 1: sqrt((5 + 1 - 2) / 5) -> DM* = sqrt(5) * sqrt(4/5) = 2, against t with 4 df
MODEL = np.array([2.0, 1.0, 3.0, 2.0, 4.0])
BASELINE = np.array([1.0, 2.0, 1.0, 2.0, 1.0])
T4_SF_AT_2 = 0.05805826175840778  # P(t_4 > 2) = 1/2 - 5 / (4 sqrt(8)), the closed form for 4 df


def test_diebold_mariano_by_hand() -> None:
    assert long_run_variance(MODEL - BASELINE, 0) == pytest.approx(2.0)
    assert long_run_variance(MODEL - BASELINE, 1) == pytest.approx(1.0)
    result = diebold_mariano(MODEL, BASELINE, max_lag=1)
    assert result.statistic == pytest.approx(2.0)
    assert result.p_value == pytest.approx(T4_SF_AT_2, rel=1e-12)
    assert result.n == 5
    without_lag = diebold_mariano(MODEL, BASELINE, max_lag=0)  # LRV 2: DM* = 1/sqrt(2/5) * sqrt(4/5)
    assert without_lag.statistic == pytest.approx(math.sqrt(2))


def test_diebold_mariano_is_one_sided() -> None:
    worse = diebold_mariano(MODEL, BASELINE, max_lag=1)
    better = diebold_mariano(BASELINE, MODEL, max_lag=1)
    assert better.statistic == pytest.approx(-worse.statistic)
    assert worse.p_value + better.p_value == pytest.approx(1.0)
    assert worse.significant(0.1) and not worse.significant(0.05) and not better.significant(0.5)


def test_diebold_mariano_on_equal_and_constant_losses() -> None:
    same = diebold_mariano(MODEL, MODEL)
    assert (same.statistic, same.p_value) == (-math.inf, 1.0)
    always_worse = diebold_mariano(BASELINE + 1, BASELINE)
    assert (always_worse.statistic, always_worse.p_value) == (math.inf, 0.0)
    with pytest.raises(ValueError, match="length >= 2"):
        diebold_mariano(MODEL[:1], BASELINE[:1])
    with pytest.raises(ValueError, match="NaN"):
        diebold_mariano(np.array([1.0, np.nan]), np.array([1.0, 1.0]))


def test_diebold_mariano_detects_a_worse_model_and_not_an_equal_one() -> None:
    rng = np.random.default_rng(0)
    noise = np.abs(rng.normal(size=(2, 250)))
    assert diebold_mariano(noise[0] * 1.5, noise[1]).p_value < 0.01
    assert diebold_mariano(noise[0], noise[1]).p_value > 0.05


def test_newey_west_lag_rule() -> None:
    assert [newey_west_lag(n) for n in (1, 2, 5, 20, 100)] == [0, 1, 2, 2, 4]


@pytest.mark.parametrize(("x", "df"), [(0.0, 3), (0.5, 3), (-1.2, 10), (2.5, 19), (5.0, 1), (1.7, 200)])
def test_student_t_tail_matches_scipy(x: float, df: int) -> None:
    assert student_t_sf(x, df) == pytest.approx(stats.t.sf(x, df), rel=1e-10, abs=1e-15)


def test_binomial_tail_is_exact_on_small_n() -> None:
    for n in range(1, 13):
        for k in range(-1, n + 1):
            for p in (Fraction(1, 2), Fraction(3, 10), Fraction(9, 10)):
                exact = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))
                assert binomial_cdf(k, n, float(p)) == pytest.approx(float(exact), rel=1e-12, abs=1e-300)
    assert binomial_cdf(2, 10, 0.5) == pytest.approx(56 / 1024, rel=1e-14)


def test_binomial_tail_on_large_n_and_edge_probabilities() -> None:
    assert binomial_cdf(400, 1000, 0.45) == pytest.approx(stats.binom.cdf(400, 1000, 0.45), rel=1e-10)
    assert binomial_cdf(10, 5000, 0.5) == pytest.approx(stats.binom.cdf(10, 5000, 0.5), rel=1e-8)
    assert (binomial_cdf(3, 5, 0.0), binomial_cdf(3, 5, 1.0), binomial_cdf(5, 5, 1.0)) == (1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="p must lie"):
        binomial_cdf(1, 2, 1.5)


def test_direction_test_is_the_binomial_lower_tail() -> None:
    result = direction_test(hits=2, n=10, baseline_rate=0.5)
    assert (result.statistic, result.p_value, result.n) == (pytest.approx(-0.3), pytest.approx(56 / 1024), 10)
    assert result.significant(0.06) and not result.significant(0.05)
    assert direction_test(hits=10, n=10, baseline_rate=0.5).p_value == 1.0
    with pytest.raises(ValueError, match="hits"):
        direction_test(hits=11, n=10, baseline_rate=0.5)
