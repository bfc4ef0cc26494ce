"""Stage `predict`: next-day closes from a registered model and a prepared input window.

A prediction stands on the last observed trading day of its input (`as_of_date`) and targets the
next XNYS trading day. It is stored in `latest_predictions` (kind `daily`, tagged with the model's
MLflow run id) and in `predictions/latest_predictions.json` and `predictions/historical/{as_of_date}.json`.
Rerunning the same day changes nothing when the forecasts are the same; other forecasts are refused
unless `replace`, which keeps the stored ones in `prediction_history` (see `db.predictions`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import torch
from sqlalchemy import Engine

from stockpredictor import registry, registry_models
from stockpredictor.calendar import next_trading_day
from stockpredictor.config import Params, Settings
from stockpredictor.db.datasets import load_scalers
from stockpredictor.db.engine import take_turns, write_transaction
from stockpredictor.db.predictions import store_daily_predictions
from stockpredictor.errors import InputWindowError
from stockpredictor.features.panel import targets_to_close
from stockpredictor.models.baseline import exact_persistence
from stockpredictor.stages.files import load_input, write_json_atomic
from stockpredictor.stages.ranges import ForecastRange, forecast_ranges

log = logging.getLogger(__name__)

LATEST_FILE = "latest_predictions.json"


@dataclass(frozen=True)
class Prediction:
    """One ticker's forecast."""

    ticker: str
    last_close: float
    predicted_close: float
    volatility: float | None = None  # forecast sd of the next log return (None: too little history)
    intervals: dict[str, list[float]] | None = None  # level ("0.8") -> [lower, upper] close
    baseline_volatility: dict[str, float] | None = None  # the EWMA and rolling baselines' sd

    @property
    def change(self) -> str:
        """The forecast's change from the last close (`+1.23%`); `no call` for the last close itself."""
        if self.predicted_close == self.last_close:
            return "no call"
        return f"{100 * (self.predicted_close / self.last_close - 1):+.2f}%"


@dataclass(frozen=True)
class PredictResult:
    """Forecasts of one model for the day after `last_day`, and where they were written."""

    as_of: date
    last_day: date
    target_date: date
    model_uri: str
    mlflow_run_id: str
    model_version: int
    predictions: list[Prediction]
    json_path: Path
    stale: dict[str, str]  # ticker -> why it was not predicted (see `prepare_input`)
    baseline: str | None = None  # `persistence` when the registered baseline made the forecasts


def predict(
    engine: Engine,
    params: Params,
    settings: Settings,
    input_path: Path,
    model_uri: str,
    *,
    replace: bool = False,
) -> PredictResult:
    """Predict with `model_uri` on the window at `input_path` (saved by `prepare-input` for that model).

    Only the tickers the window does not mark stale are predicted. A window whose shape is not the one
    the model was logged with (e.g. a model trained before inputs had a presence channel) is refused.
    `replace`: store forecasts that differ from those already stored for the day (kept as history).
    """
    registry.use_tracking(settings)
    info = registry.model_info(model_uri)
    window, sidecar = load_input(input_path)
    if sidecar["dataset_run_id"] != info.dataset_run_id:
        raise InputWindowError(
            f"{input_path} was prepared for dataset {sidecar['dataset_run_id']}, but {model_uri} was "
            f"trained on {info.dataset_run_id}: run `prepare-input --dataset-run-id {info.dataset_run_id}`"
        )
    with engine.connect() as conn:
        _, y_scaler = load_scalers(conn, info.dataset_run_id)
        model, input_shape = registry_models.load_model(conn, model_uri)
    if input_shape is not None and tuple(input_shape[1:]) != window.shape[1:]:
        raise InputWindowError(
            f"{input_path}: window shape {window.shape[1:]} does not fit {info.name} version "
            f"{info.version}, which takes {tuple(input_shape[1:])} (batch dimension left out): retrain it"
        )
    with torch.inference_mode():
        scaled = model(torch.from_numpy(window)).numpy()[0]
    columns = [j for j, t in enumerate(sidecar["tickers"]) if t in sidecar["last_close"]]
    tickers = [sidecar["tickers"][j] for j in columns]
    last_close = np.array([sidecar["last_close"][t] for t in tickers], dtype=np.float64)
    unscaled = y_scaler.inverse_transform(scaled)[columns]
    predicted = exact_persistence(
        targets_to_close(unscaled, last_close, sidecar["target"]),
        last_close,
        info.served_by_persistence(tickers),
    )
    last_day = date.fromisoformat(sidecar["last_day"])
    with engine.connect() as conn:
        ranges = forecast_ranges(
            conn,
            params,
            str(info.version),
            last_day,
            dict(zip(tickers, last_close.tolist(), strict=True)),
            dict(zip(tickers, predicted.tolist(), strict=True)),
        )
    result = PredictResult(
        as_of=date.fromisoformat(sidecar["as_of"]),
        last_day=last_day,
        target_date=next_trading_day(last_day),
        model_uri=model_uri,
        mlflow_run_id=info.mlflow_run_id,
        model_version=info.version,
        baseline=info.baseline,
        predictions=[
            _prediction(t, float(c), float(p), ranges.get(t))
            for t, c, p in zip(tickers, last_close, predicted, strict=True)
        ],
        json_path=settings.predictions_dir / "historical" / f"{last_day}.json",
        stale=dict(sidecar.get("stale", {})),
    )
    if _store(engine, result, replace) or not result.json_path.is_file():
        _write_files(result, settings.predictions_dir / LATEST_FILE)
    else:
        log.info("predict %s: the same forecasts are already stored; nothing rewritten", last_day)
    log.info(
        "predict %s -> %s with %s: %s",
        last_day,
        result.target_date,
        model_uri,
        ", ".join(f"{p.ticker} {p.predicted_close:.2f}" for p in result.predictions),
    )
    for ticker, why in result.stale.items():
        log.warning("predict %s: %s not predicted: it %s", last_day, ticker, why)
    return result


def _prediction(ticker: str, last_close: float, predicted: float, found: ForecastRange | None) -> Prediction:
    if found is None:
        return Prediction(ticker, last_close, predicted)
    return Prediction(
        ticker, last_close, predicted, found.volatility, found.intervals, found.baseline_volatility
    )


def _store(engine: Engine, result: PredictResult, replace: bool) -> bool:
    now = datetime.now(UTC)
    rows = [
        {
            "kind": "daily",
            "model_run_id": result.mlflow_run_id,
            "model_version": str(result.model_version),
            "ticker": p.ticker,
            "as_of_date": result.last_day,
            "target_date": result.target_date,
            "last_close": p.last_close,
            "predicted_close": p.predicted_close,
            "volatility": p.volatility,
            "intervals": p.intervals,
            "baseline_volatility": p.baseline_volatility,
            "created_at": now,
        }
        for p in result.predictions
    ]
    with write_transaction(engine) as conn:  # a concurrent predict of the day waits, then compares
        take_turns(conn, "predictions", result.mlflow_run_id, result.last_day.isoformat())
        return store_daily_predictions(conn, rows, replace=replace)


def _write_files(result: PredictResult, latest_path: Path) -> None:
    """The historical file of the day, and the latest file unless it already holds a newer day."""
    document = {
        "as_of": result.as_of,
        "as_of_date": result.last_day,
        "target_date": result.target_date,
        "model_uri": result.model_uri,
        "mlflow_run_id": result.mlflow_run_id,
        "model_version": result.model_version,
        "baseline": result.baseline,
        "created_at": datetime.now(UTC).isoformat(),
        "predictions": [asdict(p) for p in result.predictions],
        "stale": result.stale,
    }
    write_json_atomic(result.json_path, document)
    if (
        latest_path.is_file()
        and json.loads(latest_path.read_text()).get("as_of_date", "") > result.last_day.isoformat()
    ):
        return
    write_json_atomic(latest_path, document)
