"""Stage `ingest`: fetch only rows newer than the latest stored date per ticker, and store them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

import pandas as pd
from sqlalchemy import Engine

from stockpredictor.config import Params
from stockpredictor.db.prices import insert_prices, latest_dates
from stockpredictor.sources import PriceSource, SourceError, get_source
from stockpredictor.stages.common import resolve_as_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    """Rows added per ticker, and the tickers that failed with why."""

    as_of: date
    added: dict[str, int]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def total_added(self) -> int:
        return sum(self.added.values())


def ingest(
    engine: Engine, params: Params, as_of: date | None = None, source: PriceSource | None = None
) -> IngestResult:
    """Fetch and store new rows for every configured ticker; a failing ticker does not stop the others."""
    as_of = resolve_as_of(as_of, params)
    source = source or get_source(params.data.source)
    with engine.connect() as conn:
        latest = latest_dates(conn, params.data.tickers)
    added: dict[str, int] = {}
    errors: dict[str, str] = {}
    for ticker, last in latest.items():
        if last is not None and last >= as_of:
            added[ticker] = 0
            continue
        try:
            frame = source.fetch(ticker, last, as_of)
        except SourceError as exc:
            log.error("ingest %s failed: %s", ticker, exc)
            errors[ticker] = str(exc)
            continue
        if last is None:
            frame = frame[pd.to_datetime(frame["date"]).dt.date >= params.data.start]
            if frame.empty:
                errors[ticker] = f"no data for {ticker} between {params.data.start} and {as_of}"
                continue
        with engine.begin() as conn:
            added[ticker] = insert_prices(conn, ticker, frame, source.name)
        log.info("ingest %s: %d new rows up to %s", ticker, added[ticker], as_of)
    return IngestResult(as_of=as_of, added=added, errors=errors)
