"""Price sources: `sample` (bundled, offline) and `yahoo` (yfinance), behind one small protocol."""

from __future__ import annotations

from typing import Any

from stockpredictor.errors import ConfigError
from stockpredictor.sources.base import FRAME_COLUMNS, PRICE_COLUMNS, PriceSource
from stockpredictor.sources.sample import SAMPLE_TICKERS, SampleSource

SOURCE_NAMES = ("sample", "yahoo")

__all__ = [
    "FRAME_COLUMNS",
    "PRICE_COLUMNS",
    "SAMPLE_TICKERS",
    "SOURCE_NAMES",
    "PriceSource",
    "SampleSource",
    "get_source",
]


def get_source(name: str, **options: Any) -> PriceSource:
    """The source called `name`, built with `options` (e.g. yahoo: session, max_attempts, backoff_seconds)."""
    if name == "sample":
        return SampleSource(**options)
    if name == "yahoo":
        from stockpredictor.sources.yahoo import YahooSource  # yfinance takes ~1 s to import

        return YahooSource(**options)
    raise ConfigError(f"unknown price source {name!r}; choose one of: {', '.join(SOURCE_NAMES)}")
