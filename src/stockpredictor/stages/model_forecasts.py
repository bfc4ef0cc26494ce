"""A model's forecasts in price space: run on windows, unscaled, turned into next-day closes and paired
with the actual closes (`evaluation.PricePredictions`); `train` scores the test windows with
`forecast`, `promote` recent raw data with `recent_forecasts`. The torch part of scoring.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

import numpy as np
from sqlalchemy import Connection
from torch import nn

from stockpredictor.calendar import next_trading_days
from stockpredictor.config import Params
from stockpredictor.errors import InputWindowError
from stockpredictor.features.panel import targets_to_close
from stockpredictor.features.scaling import MinMaxScaler
from stockpredictor.features.sequences import Windows
from stockpredictor.models import predict
from stockpredictor.models.baseline import exact_persistence
from stockpredictor.stages.evaluation import PricePredictions, model_input_panel


def forecast(
    model: nn.Module,
    windows: Windows,
    *,
    y_scaler: MinMaxScaler,
    close: np.ndarray,
    dates: Sequence[date],
    tickers: tuple[str, ...],
    target: str,
    persistence: np.ndarray | None = None,
) -> PricePredictions:
    """Predict every window, unscale, turn into next-session closes and pair with that session's close.

    `persistence` (bool per ticker): the tickers forecast by persistence, whose predicted close is the
    last close itself (the baseline version, or tickers a trained version does not serve).

    A cell is scored only when the window is complete for the ticker and the panel's next day is the
    next exchange session with the ticker present on it (a stored panel that skipped a session never
    scores a two-session move).
    """
    ends = windows.end_days
    if len(ends) == 0 or int(ends.max()) + 1 >= len(close):
        raise ValueError("every window needs a known next day to be scored")
    target_dates = next_trading_days([dates[e] for e in ends])
    on_next_session = np.array([dates[e + 1] == d for e, d in zip(ends, target_dates, strict=True)])
    last_close, actual = close[ends], close[ends + 1]
    after_previous = next_trading_days([dates[max(e - 1, 0)] for e in ends])
    previous_known = np.array([e > 0 and dates[e] == d for e, d in zip(ends, after_previous, strict=True)])
    previous_close = np.where(previous_known[:, None], close[np.maximum(ends - 1, 0)], np.nan)
    scored = windows.complete() & on_next_session[:, None] & np.isfinite(last_close) & np.isfinite(actual)
    unscaled = y_scaler.inverse_transform(predict(model, windows))
    predicted = targets_to_close(unscaled, np.where(scored, last_close, 1.0), target)
    if persistence is not None:
        predicted = exact_persistence(predicted, last_close, persistence[None, :])
    return PricePredictions(
        tickers=tickers,
        as_of_dates=[dates[e] for e in ends],
        target_dates=target_dates,
        last_close=last_close,
        previous_close=previous_close,
        predicted=predicted,
        actual=actual,
        scored=np.ones_like(scored),
    ).masked(scored)


def recent_forecasts(
    conn: Connection,
    model: nn.Module,
    dataset_run_id: str,
    params: Params,
    as_of: date,
    window_days: int,
    input_shape: tuple[int, ...] | None = None,
    persistence_for: Callable[[Sequence[str]], np.ndarray] | None = None,
) -> PricePredictions:
    """Forecasts of `model` (trained on `dataset_run_id`) for the last `window_days` trading days <= as_of.

    `input_shape` is the model's logged input shape (batch first): InputWindowError when its windows
    have another shape (a model trained before inputs had a presence channel). `persistence_for`
    (e.g. `ModelVersionRef.served_by_persistence`) says which tickers persistence forecasts.
    """
    data = model_input_panel(conn, dataset_run_id, params, as_of, n_days=window_days + 1)
    ends = np.arange(data.sequence_length - 1, len(data.dates) - 1)
    windows = data.windows(ends)
    shape = (data.sequence_length, len(data.tickers), windows.n_inputs)
    if input_shape is not None and tuple(input_shape[1:]) != shape:
        raise InputWindowError(
            f"the model takes inputs of shape {tuple(input_shape[1:])}, its dataset's windows are {shape}"
        )
    return forecast(
        model,
        windows,
        y_scaler=data.y_scaler,
        close=data.close,
        dates=data.dates,
        tickers=data.tickers,
        target=data.target,
        persistence=persistence_for(data.tickers) if persistence_for is not None else None,
    )
