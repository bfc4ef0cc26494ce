"""Issue 14 benchmark: dataset array storage (chunks, binary COPY) on PostgreSQL and SQLite.

(a) write / read MB/s of one float32 array of `--mb` MB per chunk size (targets on PostgreSQL:
    write >= 100 MB/s, read >= 200 MB/s); every read is checked bit for bit.
(b) a `--tickers` x `--years` x `--features` panel and its scaling (default 2,000 x 10 x 30: each
    (days, stocks, features) array is ~0.6 GB, past the 1 GB hex-literal ceiling of a single bytea)
    stored with `save_processed` + `save_scaled` and loaded back: time, peak RSS, stored bytes.

Run: `python -m bench arrays` (or `python -m bench.arrays --mb 256 --chunk-mb 8 32 64`).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, insert, text

from bench.common import backend_cpu_seconds, load, machine, peak_rss_mb, scratch_postgres, timed
from stockpredictor.db.arrays import read_arrays, write_arrays
from stockpredictor.db.datasets import load_processed, load_scaled, save_processed, save_scaled
from stockpredictor.db.engine import make_engine, migrate
from stockpredictor.db.schema import processed_feature_data
from stockpredictor.features.panel import Panel
from stockpredictor.features.sequences import scale_dataset


def stores(backends: list[str]) -> Iterator[tuple[str, Engine]]:
    """A fresh migrated store per backend in turn (scratch PostgreSQL database, temporary SQLite file)."""
    for backend in backends:
        if backend == "postgresql":
            with scratch_postgres() as url:
                engine = make_engine(url)
                migrate(engine)
                yield backend, engine
                engine.dispose()
        else:
            with tempfile.TemporaryDirectory(prefix="sp-bench-arrays-") as tmp:
                engine = make_engine(f"sqlite:///{tmp}/store.db")
                migrate(engine)
                yield backend, engine
                engine.dispose()


def stored_bytes(engine: Engine) -> int:
    """Bytes the array tables take on disk (PostgreSQL: with TOAST and indexes; SQLite: the file)."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            return int(
                conn.execute(
                    text(
                        "SELECT pg_total_relation_size('dataset_array_chunks')"
                        " + pg_total_relation_size('dataset_arrays')"
                    )
                ).scalar_one()
            )
    return os.path.getsize(str(engine.url.database))


@contextmanager
def clocks(conn: Connection, figures: dict[str, float]) -> Iterator[None]:
    """Wall, client CPU and server CPU seconds of the block, into `figures`."""
    wall, client, server = time.perf_counter(), time.process_time(), backend_cpu_seconds(conn)
    yield
    figures["wall"] = time.perf_counter() - wall
    figures["client"] = time.process_time() - client
    figures["server"] = backend_cpu_seconds(conn) - server


def rates(megabytes: int, figures: dict[str, float]) -> str:
    """MB/s on the wall clock, and per CPU second of client and of server."""
    return (
        f"{megabytes / figures['wall']:5.0f} MB/s (client CPU {figures['client']:.2f} s, "
        f"server CPU {figures['server']:.2f} s)"
    )


def throughput(engine: Engine, backend: str, megabytes: int, chunk_mbs: list[int]) -> None:
    """(a): write (commit included) and read one array per chunk size."""
    array = np.random.default_rng(0).standard_normal(megabytes * 2**18, dtype=np.float32)
    for chunk_mb in chunk_mbs:
        run_id = f"throughput_{chunk_mb}"
        write: dict[str, float] = {}
        read: dict[str, float] = {}
        with engine.connect() as conn, clocks(conn, write), conn.begin():
            conn.execute(
                insert(processed_feature_data).values(
                    dataset_run_id=run_id,
                    created_at=datetime.now(UTC),
                    as_of=date(2025, 12, 31),
                    source="bench",
                    target="log_return",
                    tickers=[],
                    feature_columns=[],
                    params={},
                )
            )
            write_arrays(conn, run_id, {"x": array}, chunk_bytes=chunk_mb * 2**20)
        with engine.connect() as conn, clocks(conn, read):
            restored = read_arrays(conn, run_id, ["x"])["x"]
        assert np.array_equal(restored.view(np.uint32), array.view(np.uint32))
        del restored
        print(
            f"  {backend:<10} {megabytes} MB in {chunk_mb:>2} MB chunks: write {rates(megabytes, write)}, "
            f"read {rates(megabytes, read)}   ({machine()}, {load()})",
            flush=True,
        )


def synthetic_panel(tickers: int, years: int, features: int) -> Panel:
    """A random (days, tickers, features) panel with random-walk closes and next-day log-return targets."""
    rng = np.random.default_rng(1)
    days = pd.bdate_range(end="2025-12-31", periods=252 * years)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, (len(days), tickers)), axis=0))
    targets = np.full(close.shape, np.nan, np.float32)
    targets[:-1] = np.log(close[1:] / close[:-1])
    return Panel(
        dates=np.array(days.date, dtype="datetime64[D]"),
        tickers=tuple(f"T{i:04d}" for i in range(tickers)),
        feature_columns=tuple(f"f{i}" for i in range(features)),
        features=rng.standard_normal((len(days), tickers, features), dtype=np.float32),
        close=close,
        targets=targets,
    )


def universe(engine: Engine, backend: str, panel: Panel) -> None:
    """(b): store a processed panel and its scaling, then load both back."""
    scaled = scale_dataset(panel.features, panel.targets, 30, 0.7, 0.15)
    before = stored_bytes(engine)
    figures: dict[str, float] = {}
    with timed(f"{backend}: save_processed", figures), engine.begin() as conn:
        save_processed(
            conn, "universe", panel, as_of=date(2025, 12, 31), source="bench", target="log_return", params={}
        )
    with timed(f"{backend}: save_scaled", figures), engine.begin() as conn:
        save_scaled(conn, "universe", scaled)
    with timed(f"{backend}: load_processed", figures), engine.connect() as conn:
        loaded = load_processed(conn, "universe").panel
    with timed(f"{backend}: load_scaled", figures), engine.connect() as conn:
        rescaled = load_scaled(conn, "universe")
    assert np.array_equal(loaded.features.view(np.uint32), panel.features.view(np.uint32))
    assert np.array_equal(rescaled.x_scaled.view(np.uint32), scaled.x_scaled.view(np.uint32))
    array_bytes = sum(a.nbytes for a in (panel.features, panel.close, panel.targets, scaled.x_scaled))
    print(
        f"  {backend}: {array_bytes / 2**20:,.0f} MB of arrays, "
        f"{(stored_bytes(engine) - before) / 2**20:,.0f} MB stored; "
        f"peak RSS so far {peak_rss_mb():,.0f} MB   ({machine()}, {load()})",
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=256, help="size of the throughput array")
    parser.add_argument("--chunk-mb", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--tickers", type=int, default=2000)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--backends", nargs="+", default=["postgresql", "sqlite"])
    parser.add_argument("--skip-universe", action="store_true")
    args = parser.parse_args(argv)
    print(f"arrays: {machine()}, {load()}")
    for backend, engine in stores(args.backends):
        throughput(engine, backend, args.mb, args.chunk_mb)
    if args.skip_universe:
        return
    panel = synthetic_panel(args.tickers, args.years, args.features)
    print(f"  panel {args.tickers} tickers x {args.years} years x {args.features} features")
    for backend, engine in stores(args.backends):
        universe(engine, backend, panel)


if __name__ == "__main__":
    main()
