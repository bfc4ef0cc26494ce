"""Stage `prepare-input`: the production model's input window for as_of, computed exactly as in training.

Features come from the same code as `process` (`features.panel.build_panel`) on enough raw history
for every indicator's warm-up, restricted to the dataset's tickers and feature columns and scaled
with the dataset's own x scaler; the window length is the dataset's, not today's params.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from sqlalchemy import Engine

from stockpredictor.calendar import trading_days_after
from stockpredictor.config import Params, Settings
from stockpredictor.db.prices import load_prices
from stockpredictor.errors import StaleDataError
from stockpredictor.stages.common import resolve_as_of
from stockpredictor.stages.evaluation import model_input_panel
from stockpredictor.stages.files import save_input, sidecar_path

log = logging.getLogger(__name__)


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
    save_input(
        path,
        window.scaled[None].astype(np.float32),
        {
            "dataset_run_id": dataset_run_id,
            "as_of": as_of.isoformat(),
            "last_day": last_day.isoformat(),
            "tickers": list(window.tickers),
            "feature_columns": list(window.feature_columns),
            "target": window.target,
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
