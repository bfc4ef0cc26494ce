"""Price-space metrics against numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stockpredictor.models import price_metrics, returns_to_prices

# Two stocks over three days. Cases, read column by column:
#   (0,0) up, called up        (0,1) down, called down    (1,0) flat, called flat: all correct
#   (1,1) up, called down      (2,0) flat, called up      (2,1) up, called flat:   all wrong
LAST = np.array([[10.0, 20.0], [10.0, 20.0], [50.0, 40.0]])
ACTUAL = np.array([[12.0, 18.0], [10.0, 22.0], [50.0, 44.0]])
PREDICTED = np.array([[11.0, 19.0], [10.0, 19.5], [51.0, 40.0]])


# The move into the last day: up, down / down, up / flat, unknown. Last move repeated is right on
# (0,0), (0,1), (1,1), (2,0), wrong on (1,0) (a fall, then flat); (2,1) has no previous close.
PREVIOUS = np.array([[9.0, 21.0], [11.0, 19.0], [50.0, np.nan]])


def test_price_metrics_by_hand() -> None:
    metrics = price_metrics(PREDICTED, ACTUAL, LAST, PREVIOUS)
    # errors predicted - actual: -1, 1, 0, -2.5, 1, -4; persistence last - actual: -2, 2, 0, -2, 0, -4
    expected = {
        "mae": 9.5 / 6,
        "rmse": math.sqrt(25.25 / 6),
        "mape": 100 / 6 * (1 / 12 + 1 / 18 + 0 + 2.5 / 22 + 1 / 50 + 4 / 44),
        "directional_accuracy": 3 / 6,
        "persistence_mae": 10 / 6,
        "persistence_rmse": math.sqrt(28 / 6),
        "persistence_mape": 100 / 6 * (2 / 12 + 2 / 18 + 0 + 2 / 22 + 0 + 4 / 44),
        "always_up_directional_accuracy": 3 / 6,  # (0,0), (1,1), (2,1) went up
        "last_move_directional_accuracy": 4 / 5,
        "mae_ratio": 9.5 / 10,
    }
    assert metrics == pytest.approx(expected, rel=1e-12)
    assert all(type(value) is float for value in metrics.values())


def test_last_move_without_any_previous_close_is_nan() -> None:
    metrics = price_metrics(PREDICTED, ACTUAL, LAST, np.full(LAST.shape, np.nan))
    assert math.isnan(metrics["last_move_directional_accuracy"])
    assert metrics["directional_accuracy"] == 3 / 6


def test_mae_ratio_when_persistence_is_exact() -> None:
    flat = np.full((2, 1), 10.0)
    assert price_metrics(flat, flat, flat, flat)["mae_ratio"] == 1.0
    assert price_metrics(flat + 1, flat, flat, flat)["mae_ratio"] == math.inf


@pytest.mark.parametrize(
    ("predicted", "actual", "last_close", "message"),
    [
        (PREDICTED, ACTUAL, np.where(LAST == 20.0, np.nan, LAST), "last_close contains NaN"),
        (np.where(PREDICTED == 19.0, np.inf, PREDICTED), ACTUAL, LAST, "predicted contains NaN or infinite"),
        (PREDICTED, ACTUAL[:2], LAST, "one shape"),
        (PREDICTED[:, 0], ACTUAL[:, 0], LAST[:, 0], r"\(n, stocks\)"),
        (PREDICTED, ACTUAL - 12.0, LAST, "> 0"),
    ],
)
def test_invalid_inputs_are_rejected(
    predicted: np.ndarray, actual: np.ndarray, last_close: np.ndarray, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        price_metrics(predicted, actual, last_close, np.ones(np.shape(last_close)))


def test_returns_to_prices() -> None:
    prices = returns_to_prices(np.array([[0.0, math.log(2.0)], [math.log(0.9), math.log(1.1)]]), LAST[:2])
    np.testing.assert_allclose(prices, [[10.0, 40.0], [9.0, 22.0]], rtol=1e-12)


def test_a_forecast_that_calls_no_move_has_no_directional_accuracy() -> None:
    metrics = price_metrics(LAST, ACTUAL, LAST, PREVIOUS)
    assert math.isnan(metrics["directional_accuracy"])  # shown as "no call"
    assert metrics["mae"] == metrics["persistence_mae"] and metrics["mae_ratio"] == 1.0
    assert metrics["always_up_directional_accuracy"] == 3 / 6


def test_directional_accuracy_counts_only_the_calls_made() -> None:
    # four days: the model calls up (right), down (wrong), then persistence serves two flat forecasts
    last = np.array([[10.0], [10.0], [10.0], [10.0]])
    actual = np.array([[11.0], [10.5], [9.0], [12.0]])
    predicted = np.array([[10.2], [9.8], [10.0], [10.0]])
    metrics = price_metrics(predicted, actual, last, np.full_like(last, np.nan))
    assert metrics["directional_accuracy"] == pytest.approx(1 / 2)  # 1 of 2 calls, not 1 of 4 cells
