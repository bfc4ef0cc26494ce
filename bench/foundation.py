"""Issue 2 benchmark: ingest into PostgreSQL, process and scale a synthetic 500-ticker, 10-year universe.

Run: `python -m bench foundation` (or `make bench`). Options: --tickers N --years Y.
"""

from __future__ import annotations

import argparse
from datetime import date

import numpy as np
import pandas as pd

from bench.common import machine, peak_rss_mb, scratch_postgres, timed
from stockpredictor.config import Params, load_params
from stockpredictor.db.datasets import load_processed
from stockpredictor.db.engine import engine_for
from stockpredictor.stages.ingest import ingest
from stockpredictor.stages.process import process
from stockpredictor.stages.scale import scale

AS_OF = date(2025, 12, 31)


class RandomWalkSource:
    """A price source of geometric random walks on business days (deterministic per ticker)."""

    name = "sample"

    def __init__(self, years: int) -> None:
        self.days = pd.bdate_range(end=pd.Timestamp(AS_OF), periods=252 * years)

    def fetch(self, ticker: str, after: date | None, as_of: date) -> pd.DataFrame:
        rng = np.random.default_rng(abs(hash(ticker)) % 2**32)
        n = len(self.days)
        close = 50 * np.exp(np.cumsum(rng.normal(0.0003, 0.02, n)))
        spread = np.abs(rng.normal(0, 0.01, n)) * close
        opened = close * (1 + rng.normal(0, 0.004, n))
        return pd.DataFrame(
            {  # a possible bar: open and close within [low, high] (ingest refuses any other)
                "date": self.days,
                "open": opened,
                "high": np.maximum(opened, close) + spread,
                "low": np.minimum(opened, close) - spread,
                "close": close,
                "volume": rng.integers(10**5, 10**7, n).astype(float),
            }
        )

    def default_as_of(self) -> date:
        return AS_OF


def run(tickers: int, years: int) -> dict[str, float]:
    """Time the three stages and print the figures."""
    names = tuple(f"T{i:04d}" for i in range(tickers))
    base = load_params()
    params = Params.model_validate(
        {
            **base.model_dump(),
            "data": {**base.data.model_dump(), "tickers": names, "start": date(1990, 1, 1)},
        }
    )
    source = RandomWalkSource(years)
    results: dict[str, float] = {}
    print(f"foundation: {tickers} tickers x {years} years ({len(source.days)} trading days), {machine()}")
    with scratch_postgres() as url:
        engine = engine_for(url)
        with timed("ingest (PostgreSQL)", results):
            added = ingest(engine, params, AS_OF, source=source)
        assert not added.errors, added.errors
        with timed("process", results):
            run_id = process(engine, params, AS_OF).dataset_run_id
        with timed("scale", results):
            scaled = scale(engine, params, run_id)
        with engine.connect() as conn:
            panel_bytes = load_processed(conn, run_id).panel.features.nbytes
        engine.dispose()
    results["rows"] = added.total_added
    results["stored_ratio"] = scaled.stored_bytes / panel_bytes
    results["peak_rss_mb"] = peak_rss_mb()
    print(f"  rows ingested                {added.total_added:,}")
    print(f"  scaled bytes / float32 panel {results['stored_ratio']:.2f}x ({scaled.stored_bytes:,} bytes)")
    print(f"  peak RSS                     {results['peak_rss_mb']:,.0f} MB   ({machine()})")
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickers", type=int, default=500)
    parser.add_argument("--years", type=int, default=10)
    args = parser.parse_args(argv)
    run(args.tickers, args.years)


if __name__ == "__main__":
    main()
