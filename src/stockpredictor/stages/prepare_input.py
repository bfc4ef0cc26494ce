"""Stage `prepare-input`: the production model's input window for as_of, computed exactly as in training.

Features come from the same code as `process` (`features.panel.build_panel`) on enough raw history
for every indicator's warm-up, restricted to the dataset's tickers and feature columns and scaled
with the dataset's own x scaler; the window length is the dataset's, not today's params.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine

from stockpredictor.atomic import write_bytes_atomic, write_json_atomic
from stockpredictor.calendar import trading_days_after
from stockpredictor.config import Params, Settings
from stockpredictor.db.codec import array_to_bytes
from stockpredictor.db.prices import load_prices
from stockpredictor.evaluation import model_input_panel
from stockpredictor.stages.common import resolve_as_of
from stockpredictor.stages.process import MissingDataError

log = logging.getLogger(__name__)


class InputWindowError(ValueError):
    """An input window file or its sidecar is missing or does not match its model."""


class StaleDataError(MissingDataError):
    """The newest stored day of a ticker is more trading days before as_of than allowed."""


@dataclass(frozen=True)
class PreparedInput:
    """Where the (1, sequence_length, stocks, features) float32 window was saved, and what it stands on.

    A JSON sidecar with the same stem (`sidecar_path`) holds the dataset run id, tickers, feature
    columns, target kind, last observed day and last close per ticker.
    """

    path: Path
    as_of: date
    last_day: date
    tickers: tuple[str, ...]
    dataset_run_id: str
    last_close: dict[str, float]

    @property
    def sidecar_path(self) -> Path:
        return sidecar_path(self.path)


def sidecar_path(input_path: Path) -> Path:
    """The JSON description saved next to an input window."""
    return input_path.with_suffix(".json")


def load_input(input_path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """An input window saved by `prepare_input` and its sidecar (never unpickles)."""
    sidecar = sidecar_path(input_path)
    for path in (input_path, sidecar):
        if not path.is_file():
            raise InputWindowError(f"{path} not found: run `prepare-input` to create the input window")
    window = np.load(input_path, allow_pickle=False)
    description: dict[str, Any] = json.loads(sidecar.read_text())
    if list(window.shape) != description["shape"] or window.dtype != np.float32:
        raise InputWindowError(
            f"{input_path}: a {window.dtype} array of shape {window.shape}, its sidecar says float32 "
            f"{description['shape']}"
        )
    return window, description


def prepare_input(
    engine: Engine,
    params: Params,
    dataset_run_id: str,
    as_of: date | None = None,
    output_dir: Path | None = None,
) -> PreparedInput:
    """Save the scaled window ending on the last trading day <= as_of for the model of `dataset_run_id`.

    Raises MissingDataError when a ticker of the model has no data up to as_of (or too little history),
    StaleDataError when a ticker's newest day, or the newest day all tickers share, is more than
    `serving.max_stale_trading_days` trading days before as_of.
    """
    as_of = resolve_as_of(as_of, params)
    with engine.connect() as conn:
        window = model_input_panel(conn, dataset_run_id, params, as_of)
        last_day = window.dates[-1]
        # Every ticker has the window's last day, so its newest day <= as_of is in this short read.
        newest = {
            t: frame.index.max().date()
            for t, frame in load_prices(conn, window.tickers, as_of, last_day).items()
        }
    limit = params.serving.max_stale_trading_days
    for label, day in [
        *newest.items(),
        (f"the newest day all of {', '.join(window.tickers)} share", last_day),
    ]:
        stale = trading_days_after(day, as_of)
        if stale > limit:
            raise StaleDataError(
                f"{label}: {day} is {stale} trading days before {as_of} "
                f"(serving.max_stale_trading_days={limit}): ingest newer data first"
            )
    path = (output_dir or Settings.from_env().data_dir / "inputs") / f"{as_of}_{dataset_run_id}.npy"
    last_close = dict(zip(window.tickers, map(float, window.close[-1]), strict=True))
    write_bytes_atomic(path, array_to_bytes(window.scaled[None].astype(np.float32)))
    write_json_atomic(
        sidecar_path(path),
        {
            "dataset_run_id": dataset_run_id,
            "as_of": as_of.isoformat(),
            "last_day": last_day.isoformat(),
            "tickers": list(window.tickers),
            "feature_columns": list(window.feature_columns),
            "target": window.target,
            "shape": [1, *window.scaled.shape],
            "last_close": last_close,
        },
    )
    log.info(
        "prepare-input %s: window %s..%s of dataset %s -> %s",
        as_of,
        window.dates[0],
        last_day,
        dataset_run_id,
        path,
    )
    return PreparedInput(path.resolve(), as_of, last_day, window.tickers, dataset_run_id, last_close)
