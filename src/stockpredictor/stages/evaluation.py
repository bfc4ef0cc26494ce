"""Scoring a model in price space: its inputs rebuilt from raw prices, and its forecasts next to the truth.

`model_input_panel` computes a trained model's features for recent days with the same code as
`process` (on enough raw history for every indicator's warm-up), restricted to the model's dataset's
tickers and feature columns and scaled with that dataset's x scaler. `PricePredictions` holds
next-day closes next to the actual closes and scores them (`model_forecasts` runs a model to make
them; this module needs no torch, so `prepare_input` and the monitor's ranges do not load it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from sqlalchemy import Connection

from stockpredictor.calendar import trading_days
from stockpredictor.config import Params
from stockpredictor.db.datasets import as_numpy_dates, load_processed, load_scaled
from stockpredictor.db.prices import load_price_rows
from stockpredictor.errors import MissingDataError
from stockpredictor.features.panel import build_panel
from stockpredictor.features.scaling import MinMaxScaler
from stockpredictor.features.sequences import Windows
from stockpredictor.models import price_metrics
from stockpredictor.models.loss import LossComparison, versus_persistence
from stockpredictor.models.metrics import direction_confusions


@dataclass(frozen=True)
class ModelInput:
    """A model's scaled features (NaN where absent) on the last `sequence_length - 1 + n_days` sessions."""

    dataset_run_id: str
    tickers: tuple[str, ...]
    feature_columns: tuple[str, ...]
    target: str
    sequence_length: int
    dates: list[date]  # (days,)
    scaled: np.ndarray  # (days, stocks, features) float32, scaled with the dataset's x scaler
    close: np.ndarray  # (days, stocks) float64
    y_scaler: MinMaxScaler

    def windows(self, end_days: np.ndarray) -> Windows:
        """Windows ending on the given day indices (their targets are unknown: NaN)."""
        unknown = np.full(self.close.shape, np.nan, dtype=np.float32)
        return Windows(self.scaled, unknown, np.asarray(end_days, dtype=np.int64), self.sequence_length)


def model_input_panel(
    conn: Connection, dataset_run_id: str, params: Params, as_of: date, n_days: int = 1
) -> ModelInput:
    """Features for the model trained on `dataset_run_id`: enough days for `n_days` windows ending <= as_of.

    The panel runs on the exchange calendar up to the last session <= as_of; a ticker without a row
    on a session is absent there (NaN). Reads `params.features.warmup_days` extra trading days of
    raw history so that the indicators match the training rows. Raises MissingDataError when no
    ticker has data or the history is too short.
    """
    processed = load_processed(conn, dataset_run_id)
    scaled = load_scaled(conn, dataset_run_id)
    tickers, columns = processed.panel.tickers, processed.panel.feature_columns
    needed = scaled.sequence_length - 1 + n_days
    prices = load_price_rows(
        conn, tickers, as_of, start=_history_start(as_of, params.features.warmup_days + needed)
    )
    if not prices.lengths.any():
        raise MissingDataError(f"no raw data up to {as_of} for {', '.join(tickers)}: run `ingest` first")
    panel = build_panel(prices, columns, processed.target, until=as_of)
    if len(panel.dates) < needed:
        raise MissingDataError(
            f"only {len(panel.dates)} trading days with features up to {as_of} for "
            f"{', '.join(tickers)}; {needed} are needed "
            f"(sequence_length {scaled.sequence_length}, {n_days} window(s))"
        )
    return ModelInput(
        dataset_run_id=dataset_run_id,
        tickers=tickers,
        feature_columns=columns,
        target=processed.target,
        sequence_length=scaled.sequence_length,
        dates=as_numpy_dates(panel.dates[-needed:]),
        scaled=scaled.x_scaler.transform(panel.features[-needed:]),
        close=panel.close[-needed:],
        y_scaler=scaled.y_scaler,
    )


def _history_start(as_of: date, n_trading_days: int) -> date:
    """The first of the last `n_trading_days` trading days up to `as_of`."""
    sessions = trading_days(as_of - timedelta(days=2 * n_trading_days + 30), as_of)
    return sessions[-min(n_trading_days, len(sessions))]


@dataclass(frozen=True)
class PricePredictions:
    """Next-session closes forecast from windows ending on `as_of_dates`, next to the actual closes.

    Arrays are (len(target_dates), len(tickers)); `last_close` is the close of each window's last day,
    `previous_close` the close of the session before it (NaN when absent: the last-move baseline).
    `target_dates[i]` is the exchange session after `as_of_dates[i]`. A cell is `scored` only when the
    ticker is present on every day of the window and on that next session; elsewhere the arrays hold
    NaN and no metric sees the cell.
    """

    tickers: tuple[str, ...]
    as_of_dates: list[date]
    target_dates: list[date]
    last_close: np.ndarray
    previous_close: np.ndarray
    predicted: np.ndarray
    actual: np.ndarray
    scored: np.ndarray  # (days, tickers) bool

    def restricted(self, target_dates: Sequence[date], tickers: Sequence[str]) -> PricePredictions:
        """The same forecasts on a subset of target days and tickers (in the order given)."""
        rows = [self.target_dates.index(d) for d in target_dates]
        cols = [self.tickers.index(t) for t in tickers]
        return PricePredictions(
            tickers=tuple(tickers),
            as_of_dates=[self.as_of_dates[r] for r in rows],
            target_dates=list(target_dates),
            **{name: getattr(self, name)[np.ix_(rows, cols)] for name in _CELL_ARRAYS},
        )

    def masked(self, scored: np.ndarray) -> PricePredictions:
        """The same forecasts scored only where `scored` (and already scored)."""
        keep = self.scored & scored
        return dataclasses.replace(
            self,
            last_close=np.where(keep, self.last_close, np.nan),
            previous_close=np.where(keep, self.previous_close, np.nan),
            predicted=np.where(keep, self.predicted, np.nan),
            actual=np.where(keep, self.actual, np.nan),
            scored=keep,
        )

    def with_walk_forward(self, forecasts: Mapping[tuple[str, date], float]) -> PricePredictions:
        """The same cells with the walk-forward forecasts (predicted closes by (ticker, target day)) up to
        their last target day; there, a cell without one is no longer scored. Later cells keep theirs."""
        last = max(day for _, day in forecasts)
        rows = [[forecasts.get((t, d), np.nan) for t in self.tickers] for d in self.target_dates]
        stored = np.array(rows, dtype=np.float64).reshape(self.predicted.shape)
        later = np.array([d > last for d in self.target_dates], dtype=bool)[:, None]
        predicted = np.where(later, self.predicted, stored)
        return dataclasses.replace(self, predicted=predicted).masked(later | np.isfinite(stored))

    def versus_persistence(self) -> LossComparison:
        """The scale-free loss of the scored cells next to persistence's, with the paired test
        (`models.loss`; each row of target days is a session)."""
        sessions = np.nonzero(self.scored)[0]
        cells = (a[self.scored] for a in (self.predicted, self.actual, self.last_close))
        return versus_persistence(sessions, *cells)

    def cells(self, column: int | None = None) -> tuple[np.ndarray, ...]:
        """(predicted, actual, last_close, previous_close) of the scored cells (of one ticker column),
        each as an (n, 1) array: the arguments of `price_metrics`."""
        mask = self.scored if column is None else self.scored & (np.arange(len(self.tickers)) == column)
        arrays = (self.predicted, self.actual, self.last_close, self.previous_close)
        return tuple(array[mask][:, None] for array in arrays)

    def metrics(self) -> dict[str, float]:
        """`price_metrics` over every scored cell; MissingDataError when there is none."""
        if not self.scored.any():
            raise MissingDataError(
                f"no scored cell in {len(self.target_dates)} day(s) of {', '.join(self.tickers)}"
            )
        return price_metrics(*self.cells())

    def direction_confusions(self) -> dict[str, list[list[int]]]:
        """Up / no change / down confusion matrices of the scored cells: the forecasts ("model") and the
        "always_up" and "last_move" baselines (`models.metrics.direction_confusions`)."""
        return direction_confusions(*(cells[:, 0] for cells in self.cells()))

    def per_ticker(self) -> dict[str, dict[str, float]]:
        """`price_metrics` of each ticker with a scored cell, keyed by ticker."""
        return {
            ticker: price_metrics(*self.cells(j))
            for j, ticker in enumerate(self.tickers)
            if self.scored[:, j].any()
        }


_CELL_ARRAYS = ("last_close", "previous_close", "predicted", "actual", "scored")


def on_common_cells(
    first: PricePredictions, second: PricePredictions
) -> tuple[PricePredictions, PricePredictions]:
    """Both forecast sets restricted to the target days, tickers and scored cells they share."""
    days = sorted(set(first.target_dates) & set(second.target_dates))
    tickers = [t for t in first.tickers if t in second.tickers]
    if not days or not tickers:
        raise MissingDataError(
            f"the two models share no scored day and ticker (tickers {first.tickers} vs {second.tickers})"
        )
    first, second = first.restricted(days, tickers), second.restricted(days, tickers)
    both = first.scored & second.scored
    return first.masked(both), second.masked(both)
