"""Issue 14 benchmark: a synthetic universe (default 500 tickers x 20 years) end to end on PostgreSQL.

Random walks with gaps (late listings, delistings, a few missing days per ticker) go through
ingest (beside its floor: one plain binary COPY of the same rows into a table with the same key) ->
process -> scale -> optimize (one Optuna trial) -> train (`--epochs` epochs) -> the daily
prepare-input + predict, each stage as its function, in one process; the embedded MLflow store is
created before `train` and shown apart (an installation creates it once, not every training). Per
stage: wall time, CPU seconds of this process and of its PostgreSQL backends, peak RSS of the stage
(the high-water mark is reset before each stage), and the bytes the stage added to the database; for
`train`, the CPU of its epochs (split fit and refit, as the stage logs them) apart from the rest.
Targets (issue 14): each data stage under 60 s, peak RSS under 4 GB, the daily run under 60 s.

A panel on the days every ticker shares (before the calendar panel of issue 14 item 2) cannot hold
delisted tickers (its last day is the first delisting) and loses every day a ticker misses: run it
with `--delisting-share 0 --missing-days 0` there.

Run: `python -m bench universe` (or `python -m bench.universe --tickers 500 --years 20 --epochs 2`;
`--data-only` stops after process).
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from bench.common import load, machine, scratch_postgres, server_cpu_seconds
from bench.foundation import AS_OF, RandomWalkSource
from stockpredictor import registry
from stockpredictor.config import Params, Settings, load_params
from stockpredictor.db.engine import engine_for
from stockpredictor.models import configure_torch_threads
from stockpredictor.stages.ingest import ingest
from stockpredictor.stages.optimize import optimize
from stockpredictor.stages.predict import predict
from stockpredictor.stages.prepare_input import prepare_input
from stockpredictor.stages.process import process
from stockpredictor.stages.scale import scale
from stockpredictor.stages.train import train


@dataclass(frozen=True)
class Gaps:
    """How a synthetic ticker's history departs from the full calendar."""

    late_listing_share: float  # list on a random day of the first half
    delisting_share: float  # delist on a random day of the second half (before the last 60 days)
    missing_days: int  # random sessions without a row, per ticker


class GappyRandomWalkSource(RandomWalkSource):
    """Random walks on business days, with late listings, delistings and missing days per ticker."""

    def __init__(self, years: int, gaps: Gaps) -> None:
        super().__init__(years)
        self.gaps = gaps

    def fetch(self, ticker: str, after: date | None, as_of: date) -> pd.DataFrame:
        frame = super().fetch(ticker, after, as_of)
        rng = np.random.default_rng(int(ticker[1:]))
        n = len(frame)
        first = int(rng.integers(0, n // 2)) if rng.random() < self.gaps.late_listing_share else 0
        last = int(rng.integers(n // 2, n - 60)) if rng.random() < self.gaps.delisting_share else n - 1
        keep = np.zeros(n, bool)
        keep[first : last + 1] = True
        keep[rng.integers(first + 1, last, size=self.gaps.missing_days)] = False
        return frame[keep].reset_index(drop=True)


def database_bytes(engine: Engine) -> int:
    """Size of the scratch database on disk."""
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def _reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # Linux: resets this process's VmHWM


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


@dataclass
class StageCpu:
    """The CPU seconds of this process and of PostgreSQL during a stage, set when the stage ends."""

    seconds: float = 0.0
    server: float = 0.0

    @property
    def total(self) -> float:
        return self.seconds + self.server


@contextmanager
def stage(label: str, engine: Engine) -> Iterator[StageCpu]:
    """Print the stage's wall time, CPU (here and in PostgreSQL), peak RSS and database growth."""
    _reset_peak_rss()
    size, server = database_bytes(engine), server_cpu_seconds(engine)
    wall, cpu = time.perf_counter(), time.process_time()
    measured = StageCpu()
    yield measured
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    server = server_cpu_seconds(engine) - server
    measured.seconds, measured.server = cpu, server
    grown = (database_bytes(engine) - size) / 2**20
    print(
        f"  {label:<14} wall {wall:7.1f} s, CPU {cpu:6.1f} s + PostgreSQL {server:5.1f} s, "
        f"peak RSS {_peak_rss_mb():6,.0f} MB, stored {grown:+7,.0f} MB   ({load()})",
        flush=True,
    )


def plain_copy_floor(engine: Engine) -> StageCpu:
    """The floor of `ingest`: one binary COPY of the stored rows, in ingest's order, into a table with
    `raw_stock_data`'s columns and key (the payload is read out before the clock starts)."""
    payload = io.BytesIO()
    with engine.begin() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.copy_expert(
            "COPY (SELECT * FROM raw_stock_data ORDER BY ticker, date) TO STDOUT WITH (FORMAT binary)",
            payload,
        )
        cursor.execute("CREATE TABLE ingest_floor (LIKE raw_stock_data INCLUDING ALL)")
    payload.seek(0)
    with stage("the floor", engine) as floor, engine.begin() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.copy_expert("COPY ingest_floor FROM STDIN WITH (FORMAT binary)", payload)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE ingest_floor"))
    return floor


def universe_params(tickers: int, epochs: int) -> Params:
    """The repository's params with `tickers` synthetic tickers, one Optuna trial and `epochs` epochs."""
    base = load_params(
        overrides=[
            "optimize.n_trials=1",
            f"optimize.max_epochs={epochs}",
            "optimize.architectures=[lstm]",
            f"train.max_epochs={epochs}",
        ]
    )
    names = tuple(f"T{i:04d}" for i in range(tickers))
    return Params.model_validate(
        {**base.model_dump(), "data": {**base.data.model_dump(), "tickers": names, "start": date(1990, 1, 1)}}
    )


def run(tickers: int, years: int, epochs: int, gaps: Gaps, data_only: bool = False) -> None:
    """Every stage once (only ingest and process when `data_only`), on a fresh PostgreSQL database and
    a fresh MLflow store."""
    params = universe_params(tickers, epochs)
    configure_torch_threads()
    print(f"universe: {tickers} tickers x {years} years, {gaps}, {epochs} epoch(s); {machine()}, {load()}")
    with scratch_postgres() as url, tempfile.TemporaryDirectory(prefix="sp-bench-universe-") as tmp:
        settings = Settings(Path(tmp), url, f"sqlite:///{tmp}/mlflow.db")
        engine = engine_for(url)
        with stage("ingest", engine) as ingest_cpu:
            added = ingest(engine, params, AS_OF, source=GappyRandomWalkSource(years, gaps))
        print(f"  {added.total_added:,} rows, {len(added.errors)} ticker errors", flush=True)
        floor = plain_copy_floor(engine)
        print(
            f"  ingest / the floor (client + PostgreSQL CPU): {ingest_cpu.total / floor.total:.2f}x",
            flush=True,
        )
        with stage("process", engine):
            run_id = process(engine, params, AS_OF).dataset_run_id
        if data_only:
            engine.dispose()
            return
        with stage("scale", engine):
            scaled = scale(engine, params, run_id)
        print(f"  split {scaled.split}, {scaled.stored_bytes / 2**20:,.0f} MB of scaled arrays", flush=True)
        with stage("optimize (1)", engine):
            optimize(engine, params, run_id)
        with stage("MLflow store", engine):  # created once per installation, not per training
            registry.use_tracking(settings)
        with stage("train", engine) as train_cpu:
            trained = train(engine, params, settings, run_id)
        fitting = trained.metrics["fit_cpu_seconds"] + trained.metrics["refit_cpu_seconds"]
        print(
            f"  train's epochs: split fit {trained.metrics['fit_cpu_seconds']:.1f} + refit "
            f"{trained.metrics['refit_cpu_seconds']:.1f} CPU s; the rest (excluding the epochs) "
            f"{train_cpu.seconds - fitting:.1f} CPU s",
            flush=True,
        )
        model_uri = f"models:/{params.train.model_name}/{trained.model_version}"
        with stage("prepare-input", engine):
            prepared = prepare_input(engine, params, run_id, AS_OF, Path(tmp) / "inputs")
        with stage("predict", engine):
            predict(engine, params, settings, prepared.path, model_uri)
        artifacts = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
        print(f"  MLflow store + artifacts + files: {artifacts / 2**20:,.0f} MB", flush=True)
        engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickers", type=int, default=500)
    parser.add_argument("--years", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--data-only", action="store_true", help="ingest and process only")
    parser.add_argument("--late-listing-share", type=float, default=0.2)
    parser.add_argument("--delisting-share", type=float, default=0.05)
    parser.add_argument("--missing-days", type=int, default=3)
    args = parser.parse_args(argv)
    run(
        args.tickers,
        args.years,
        args.epochs,
        Gaps(args.late_listing_share, args.delisting_share, args.missing_days),
        args.data_only,
    )


if __name__ == "__main__":
    main()
