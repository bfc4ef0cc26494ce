"""The scale-free loss and the shared paired test against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stockpredictor.models.loss import session_losses, significant, versus_persistence

# Three sessions, two tickers, every last close 100 (ticker B's prices are scaled by 10 below):
# actual and predicted log returns a, p; the model's loss |p - a|, persistence's |a|.
#   session 1: A a=+0.02 p=+0.01 -> .01 / .02    B a=-0.01 p=0    -> .01 / .01   means .010 / .015
#   session 2: A a=0     p=+0.01 -> .01 / 0      B a=+0.03 p=+.01 -> .02 / .03   means .015 / .015
#   session 3: A a=-0.02 p=-0.01 -> .01 / .02    B a=+0.01 p=+.03 -> .02 / .01   means .015 / .015
SESSIONS = np.array([1, 1, 2, 2, 3, 3])
ACTUAL_RETURN = np.array([0.02, -0.01, 0.0, 0.03, -0.02, 0.01])
PREDICTED_RETURN = np.array([0.01, 0.0, 0.01, 0.01, -0.01, 0.03])
SCALE = np.array([1.0, 10.0, 1.0, 10.0, 1.0, 10.0])  # ticker B trades at 1000
LAST = 100.0 * SCALE
ACTUAL = LAST * np.exp(ACTUAL_RETURN)
PREDICTED = LAST * np.exp(PREDICTED_RETURN)


def test_session_losses_weigh_every_ticker_the_same_whatever_its_price() -> None:
    model, persistence = session_losses(SESSIONS, PREDICTED, ACTUAL, LAST)
    np.testing.assert_allclose(model, [0.010, 0.015, 0.015], atol=1e-12)
    np.testing.assert_allclose(persistence, [0.015, 0.015, 0.015], atol=1e-12)


def test_ratio_and_the_one_sided_diebold_mariano_p_values_by_hand() -> None:
    result = versus_persistence(SESSIONS, PREDICTED, ACTUAL, LAST)
    assert result.log_mae == pytest.approx(0.04 / 3)
    assert result.persistence_log_mae == pytest.approx(0.045 / 3)
    assert result.ratio == pytest.approx(8 / 9)
    assert (result.n_sessions, result.n_cells) == (3, 6)
    # d = -0.005, 0, 0: mean -1/600; Newey-West lag 1: gamma0 1/180000, gamma1 -1/1080000,
    # LRV 1/216000; DM^2 = (1/360000) / (1/648000) = 1.8, HLN factor 2/3: DM* = -sqrt(1.2);
    # Student t with 2 df: P(T > x) = (1 - x / sqrt(x^2 + 2)) / 2.
    assert result.statistic == pytest.approx(-math.sqrt(1.2))
    better = (1 - math.sqrt(1.2 / 3.2)) / 2
    assert result.p_better == pytest.approx(better)
    assert result.p_worse == pytest.approx(1 - better)
    metrics = result.as_metrics("test_")
    assert metrics["test_log_mae_ratio"] == result.ratio and metrics["test_loss_p_worse"] == result.p_worse


def test_prices_in_other_units_give_the_same_loss() -> None:
    dollars = versus_persistence(SESSIONS, PREDICTED, ACTUAL, LAST)
    cents = versus_persistence(SESSIONS, 100 * PREDICTED, 100 * ACTUAL, 100 * LAST)
    assert cents.ratio == pytest.approx(dollars.ratio) and cents.p_worse == pytest.approx(dollars.p_worse)


def test_persistence_itself_is_ratio_one_and_never_significant() -> None:
    result = versus_persistence(SESSIONS, LAST, ACTUAL, LAST)
    assert (result.ratio, result.p_worse, result.p_better) == (1.0, 1.0, 1.0)
    assert not significant(result.p_worse, 0.05) and not significant(result.p_better, 0.05)


def test_one_session_has_no_test_and_is_never_significant() -> None:
    result = versus_persistence(SESSIONS[:2], PREDICTED[:2], ACTUAL[:2], LAST[:2])
    assert result.ratio == pytest.approx(0.010 / 0.015)
    assert math.isnan(result.p_worse) and not significant(result.p_worse, 0.5)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="no forecast cell"):
        versus_persistence(SESSIONS[:0], PREDICTED[:0], ACTUAL[:0], LAST[:0])
    with pytest.raises(ValueError, match="> 0"):
        versus_persistence(SESSIONS, -PREDICTED, ACTUAL, LAST)
