"""Stage `process`: all raw data up to as_of -> causal features -> a new versioned dataset."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine

from stockpredictor.config import Params
from stockpredictor.db.datasets import new_dataset_run_id, save_processed
from stockpredictor.db.prices import load_price_rows
from stockpredictor.errors import MissingDataError
from stockpredictor.features.panel import build_panel
from stockpredictor.stages.common import resolve_as_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessResult:
    """The new dataset's id and shape; `absent_cells`: (session, ticker) cells without a row (NaN)."""

    dataset_run_id: str
    as_of: date
    tickers: tuple[str, ...]
    feature_columns: tuple[str, ...]
    n_days: int
    first_date: date
    last_date: date
    absent_cells: int = 0


def process(engine: Engine, params: Params, as_of: date | None = None) -> ProcessResult:
    """Build the feature panel from every stored raw row up to `as_of` and store it under a new id."""
    as_of = resolve_as_of(as_of, params)
    with engine.connect() as conn:
        prices = load_price_rows(conn, params.data.tickers, as_of)
    empty = [ticker for ticker, rows in zip(prices.tickers, prices.lengths, strict=True) if rows == 0]
    if empty:
        raise MissingDataError(
            f"no raw data up to {as_of} for ticker(s) {', '.join(empty)}: run `ingest` first"
        )
    panel = build_panel(prices, params.features.indicators, params.features.target)
    dataset_run_id = new_dataset_run_id()
    with engine.begin() as conn:
        save_processed(
            conn,
            dataset_run_id,
            panel,
            as_of=as_of,
            source=params.data.source,
            target=params.features.target,
            params=params.model_dump(mode="json"),
        )
    log.info(
        "process: dataset %s with %d days x %d stocks x %d features", dataset_run_id, *panel.features.shape
    )
    return ProcessResult(
        dataset_run_id=dataset_run_id,
        as_of=as_of,
        tickers=panel.tickers,
        feature_columns=panel.feature_columns,
        n_days=len(panel.dates),
        first_date=panel.dates[0].item(),
        last_date=panel.dates[-1].item(),
        absent_cells=int((~panel.present).sum()),
    )
