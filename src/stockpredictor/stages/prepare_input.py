"""Stage `prepare-input`: the production model's input window for as_of, computed exactly as in training.

Features come from the same code as `process` (`features.panel.build_panel`) on enough raw history
for every indicator's warm-up, restricted to the dataset's tickers and feature columns, scaled with
the dataset's own x scaler and gathered by the same `Windows` as in training (absent cells filled,
presence channel); the window length is the dataset's, not today's params. The window ends on the
last exchange session <= as_of, never earlier: a ticker without a row there is stale, not predicted
from an old window for a day that has passed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from sqlalchemy import Engine

from stockpredictor.config import Params, Settings
from stockpredictor.errors import StaleDataError
from stockpredictor.stages.common import resolve_as_of
from stockpredictor.stages.evaluation import model_input_panel
from stockpredictor.stages.files import save_input, sidecar_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedInput:
    """Where the (1, sequence_length, stocks, inputs) float32 window was saved, and what it stands on.

    `last_day` is the last exchange session <= as_of. A ticker without a row on it, or absent on a
    day of its window, is `stale` (ticker -> why) and gets no prediction; the window still holds it
    (absent cells filled and flagged, as in training) because a model sees all its tickers at once.
    A JSON sidecar with the same stem (`sidecar_path`) holds the dataset run id, tickers, feature
    columns, target kind, last day, the last close of each ticker to predict, and the stale ones.
    """

    path: Path
    as_of: date
    last_day: date
    tickers: tuple[str, ...]
    dataset_run_id: str
    last_close: dict[str, float]
    stale: dict[str, str]

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
    """Save the scaled window ending on the last session <= as_of for the model of `dataset_run_id`.

    Raises MissingDataError when no ticker of the model has data up to as_of (or the history is too
    short), StaleDataError when every ticker is stale.
    """
    as_of = resolve_as_of(as_of, params)
    with engine.connect() as conn:
        window = model_input_panel(conn, dataset_run_id, params, as_of)
    last_day = window.dates[-1]
    windows = window.windows(np.array([len(window.dates) - 1]))
    stale = _stale_tickers(window.tickers, window.dates, window.scaled)
    if len(stale) == len(window.tickers):
        raise StaleDataError(
            f"no ticker has a complete window ending on the session {last_day} (as of {as_of}): "
            + "; ".join(f"{t} {why}" for t, why in stale.items())
            + ": ingest newer data first"
        )
    path = (output_dir or Settings.from_env().data_dir / "inputs") / f"{as_of}_{dataset_run_id}.npy"
    last_close = {
        t: float(c) for t, c in zip(window.tickers, window.close[-1], strict=True) if t not in stale
    }
    x, _ = windows.batch(np.arange(1))
    save_input(
        path,
        x,
        {
            "dataset_run_id": dataset_run_id,
            "as_of": as_of.isoformat(),
            "last_day": last_day.isoformat(),
            "tickers": list(window.tickers),
            "feature_columns": list(window.feature_columns),
            "target": window.target,
            "last_close": last_close,
            "stale": stale,
        },
    )
    for ticker, why in stale.items():
        log.warning("prepare-input %s: %s is stale and will not be predicted: %s", as_of, ticker, why)
    log.info(
        "prepare-input %s: window %s..%s of dataset %s -> %s",
        as_of,
        window.dates[0],
        last_day,
        dataset_run_id,
        path,
    )
    return PreparedInput(path.resolve(), as_of, last_day, window.tickers, dataset_run_id, last_close, stale)


def _stale_tickers(tickers: tuple[str, ...], dates: list[date], scaled: np.ndarray) -> dict[str, str]:
    """Tickers without a complete window ending on the last day, and why."""
    present = np.isfinite(scaled).all(axis=2)
    stale = {}
    for j, ticker in enumerate(tickers):
        if not present[-1, j]:
            stale[ticker] = f"has no row for the session {dates[-1]}"
        elif not present[:, j].all():
            missing = [str(dates[i]) for i in np.flatnonzero(~present[:, j])]
            stale[ticker] = f"is absent on {len(missing)} session(s) of its window ({', '.join(missing[:3])})"
    return stale
