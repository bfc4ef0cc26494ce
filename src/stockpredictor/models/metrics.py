"""Evaluation in price space, always next to the persistence baseline (tomorrow's close = today's).

Direction is measured against the last actual close: a forecast's direction is
sign(predicted - last_close) and the outcome's is sign(actual - last_close), each one of
up / down / no change. A forecast is directionally correct when the two signs are equal, so a zero
move is its own class: a flat forecast is right only on a flat day, and calling a move on a flat day
is wrong. Persistence always forecasts "no change", so its directional accuracy is the fraction of
cases where actual == last_close (it never calls a move).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

METRIC_NAMES: tuple[str, ...] = ("mae", "rmse", "mape", "directional_accuracy")


def _validated(predicted: np.ndarray, actual: np.ndarray, last_close: np.ndarray) -> tuple[np.ndarray, ...]:
    arrays = tuple(np.asarray(a, dtype=np.float64) for a in (predicted, actual, last_close))
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1 or arrays[0].ndim != 2 or arrays[0].size == 0:
        raise ValueError(
            f"expected three non-empty (n, stocks) arrays of one shape, got {[a.shape for a in arrays]}"
        )
    for name, array in zip(("predicted", "actual", "last_close"), arrays, strict=True):
        if not np.isfinite(array).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    if (arrays[1] <= 0).any() or (arrays[2] <= 0).any():
        raise ValueError("actual and last_close prices must be > 0")
    return arrays


def _errors(predicted: np.ndarray, actual: np.ndarray, last_close: np.ndarray) -> dict[str, float]:
    error = predicted - actual
    return {
        "mae": float(np.abs(error).mean()),
        "rmse": float(np.sqrt(np.square(error).mean())),
        "mape": float(100.0 * np.abs(error / actual).mean()),
        "directional_accuracy": float(
            (np.sign(predicted - last_close) == np.sign(actual - last_close)).mean()
        ),
    }


def price_metrics(predicted: np.ndarray, actual: np.ndarray, last_close: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, MAPE (%), directional accuracy of `predicted` and of persistence, and `mae_ratio`.

    All arrays are (n, stocks) prices; `last_close[i, j]` is the last actual close before the day
    `actual[i, j]` belongs to. Keys: the four `METRIC_NAMES`, the same prefixed `persistence_`, and
    `mae_ratio` = mae / persistence_mae (< 1 beats persistence; inf when persistence is exact and the
    model is not, 1.0 when both are exact). Raises ValueError on NaN/inf, non-positive prices or
    mismatched shapes.
    """
    predicted, actual, last_close = _validated(predicted, actual, last_close)
    model = _errors(predicted, actual, last_close)
    persistence = _errors(last_close, actual, last_close)
    if persistence["mae"] > 0:
        ratio = model["mae"] / persistence["mae"]
    else:
        ratio = float("inf") if model["mae"] > 0 else 1.0
    return {**model, **{f"persistence_{k}": v for k, v in persistence.items()}, "mae_ratio": ratio}


def per_ticker_metrics(
    predicted: np.ndarray, actual: np.ndarray, last_close: np.ndarray, tickers: Sequence[str]
) -> dict[str, dict[str, float]]:
    """`price_metrics` of each column, keyed by ticker (column j is `tickers[j]`)."""
    predicted, actual, last_close = _validated(predicted, actual, last_close)
    if len(tickers) != predicted.shape[1] or len(set(tickers)) != len(tickers):
        raise ValueError(f"need {predicted.shape[1]} distinct tickers, got {list(tickers)}")
    return {
        ticker: price_metrics(predicted[:, [j]], actual[:, [j]], last_close[:, [j]])
        for j, ticker in enumerate(tickers)
    }


def returns_to_prices(pred_log_return: np.ndarray, last_close: np.ndarray) -> np.ndarray:
    """Prices implied by predicted log returns: last_close * exp(r) (numpy broadcasting applies)."""
    return np.asarray(last_close) * np.exp(np.asarray(pred_log_return))
