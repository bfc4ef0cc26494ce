"""Evaluation in price space, always next to the baselines: persistence for the errors, "always up" and
"last move" for the direction.

Direction is measured against the last actual close: a forecast calls sign(predicted - last_close),
up or down, and the outcome is sign(actual - last_close), up / down / no change. The directional
accuracy is the share of the calls that equal the outcome (calling a move on a flat day is wrong); a
forecast equal to the last close calls nothing and is left out, so a model served beside persistence
is judged on its own calls. A forecaster that calls no move anywhere (persistence: tomorrow's close =
today's) has no directional accuracy: it is NaN, shown as "no call", never a number. Persistence is
no direction baseline; the direction baselines are "always up" (the share of up days) and "last move"
(the sign of last_close - previous_close, the move into the last day, repeated).
"""

from __future__ import annotations

import numpy as np

METRIC_NAMES: tuple[str, ...] = ("mae", "rmse", "mape", "directional_accuracy")

#: Baseline metrics reported next to the model's (keys of `price_metrics`).
BASELINE_METRIC_NAMES: tuple[str, ...] = (
    "persistence_mae",
    "persistence_rmse",
    "persistence_mape",
    "always_up_directional_accuracy",
    "last_move_directional_accuracy",
)


def _validated(
    predicted: np.ndarray, actual: np.ndarray, last_close: np.ndarray, previous_close: np.ndarray
) -> tuple[np.ndarray, ...]:
    arrays = tuple(np.asarray(a, dtype=np.float64) for a in (predicted, actual, last_close, previous_close))
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1 or arrays[0].ndim != 2 or arrays[0].size == 0:
        raise ValueError(
            f"expected four non-empty (n, stocks) arrays of one shape, got {[a.shape for a in arrays]}"
        )
    for name, array in zip(("predicted", "actual", "last_close"), arrays[:3], strict=True):
        if not np.isfinite(array).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    if np.isinf(arrays[3]).any():
        raise ValueError("previous_close contains infinite values")
    if (arrays[1] <= 0).any() or (arrays[2] <= 0).any():
        raise ValueError("actual and last_close prices must be > 0")
    return arrays


def _errors(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    error = predicted - actual
    return {
        "mae": float(np.abs(error).mean()),
        "rmse": float(np.sqrt(np.square(error).mean())),
        "mape": float(100.0 * np.abs(error / actual).mean()),
    }


def _hit_rate(called: np.ndarray, outcome: np.ndarray) -> float:
    """Share of the calls (NaN: no call known, left out) equal to the outcome; NaN when there is none."""
    known = np.isfinite(called)
    return float((called[known] == outcome[known]).mean()) if known.any() else float("nan")


def price_metrics(
    predicted: np.ndarray, actual: np.ndarray, last_close: np.ndarray, previous_close: np.ndarray
) -> dict[str, float]:
    """MAE, RMSE, MAPE (%), directional accuracy of `predicted`, the baselines, and `mae_ratio`.

    All arrays are (n, stocks) prices; `last_close[i, j]` is the last actual close before the day
    `actual[i, j]` belongs to and `previous_close[i, j]` the close of the session before that (NaN
    where unknown: that cell is left out of the last-move baseline only). Keys: the four
    `METRIC_NAMES`, the `BASELINE_METRIC_NAMES`, and `mae_ratio` = mae / persistence_mae (< 1 beats
    persistence; inf when persistence is exact and the model is not, 1.0 when both are exact).
    Raises ValueError on NaN/inf, non-positive prices or mismatched shapes.
    """
    predicted, actual, last_close, previous_close = _validated(predicted, actual, last_close, previous_close)
    outcome = np.sign(actual - last_close)
    called = np.sign(predicted - last_close)
    model = {  # over the calls made: a cell where the forecast is the last close calls nothing
        **_errors(predicted, actual),
        "directional_accuracy": _hit_rate(np.where(called != 0, called, np.nan), outcome),
    }
    persistence = _errors(last_close, actual)
    if persistence["mae"] > 0:
        ratio = model["mae"] / persistence["mae"]
    else:
        ratio = float("inf") if model["mae"] > 0 else 1.0
    return {
        **model,
        **{f"persistence_{k}": v for k, v in persistence.items()},
        "always_up_directional_accuracy": float((outcome > 0).mean()),
        "last_move_directional_accuracy": _hit_rate(np.sign(last_close - previous_close), outcome),
        "mae_ratio": ratio,
    }


def shown_accuracy(value: float) -> str:
    """A directional accuracy for people: `no call` when it is NaN (the forecasts called no move)."""
    return "no call" if np.isnan(value) else f"{value:.3f}"


def returns_to_prices(pred_log_return: np.ndarray, last_close: np.ndarray) -> np.ndarray:
    """Prices implied by predicted log returns: last_close * exp(r) (numpy broadcasting applies)."""
    return np.asarray(last_close) * np.exp(np.asarray(pred_log_return))
