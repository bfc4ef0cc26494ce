"""Issue 14 item 5: `log_model` (target <= 2 s) and ingest of 1.26 M rows (target <= 15 s) on 2 cores.

Wall times stretch with the shared machine's load; CPU seconds do not, so both are printed:
- ingest: `--tickers` x `--years` random walks (default 500 x 10 = 1.26 M rows) into a scratch
  PostgreSQL database, with this process's CPU and the CPU of its PostgreSQL backends;
- log_model: `registry_models.log_model` of each architecture (4 stocks x 11 features, 30 days)
  into an embedded MLflow store: the first call of the process (cold: torch.export and MLflow
  initialise), then one warm call per architecture.

Run: `python -m bench log_model_ingest` (or `python -m bench.log_model_ingest --tickers 500`).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import mlflow
import numpy as np

from bench.common import load, machine, scratch_postgres, server_cpu_seconds
from bench.foundation import AS_OF, RandomWalkSource
from stockpredictor import registry, registry_models
from stockpredictor.config import Params, Settings, load_params
from stockpredictor.db.engine import engine_for
from stockpredictor.models import ARCHITECTURES, build_model, configure_torch_threads, model_spec
from stockpredictor.stages.ingest import ingest
from stockpredictor.stages.train import DEFAULT_HYPERPARAMETERS


@contextmanager
def clock(label: str) -> Iterator[None]:
    """Print the wall and CPU seconds (this process) of the block."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    print(
        f"  {label:<34} wall {time.perf_counter() - wall:6.2f} s, CPU {time.process_time() - cpu:5.2f} s"
        f"   ({machine()}, {load()})",
        flush=True,
    )


def bench_ingest(tickers: int, years: int) -> None:
    """Ingest a synthetic universe into a fresh PostgreSQL database."""
    base = load_params()
    names = tuple(f"T{i:04d}" for i in range(tickers))
    params = Params.model_validate(
        {**base.model_dump(), "data": {**base.data.model_dump(), "tickers": names, "start": date(1990, 1, 1)}}
    )
    with scratch_postgres() as url:
        engine = engine_for(url)
        server = server_cpu_seconds(engine)
        with clock(f"ingest {tickers} x {years} years"):
            added = ingest(engine, params, AS_OF, source=RandomWalkSource(years))
        server = server_cpu_seconds(engine) - server
        print(f"  {added.total_added:,} rows; PostgreSQL backends CPU {server:.2f} s", flush=True)
        engine.dispose()


def bench_log_model() -> None:
    """A cold `log_model`, then a warm one per architecture."""
    configure_torch_threads()
    example = np.random.default_rng(0).normal(size=(2, 30, 4, 11)).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="sp-bench-log-model-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registry.use_tracking(Settings(Path(tmp), f"sqlite:///{tmp}/store.db", f"sqlite:///{tmp}/mlflow.db"))
        registry.use_experiment("bench")
        for index, architecture in enumerate([ARCHITECTURES[0], *ARCHITECTURES]):
            spec = model_spec({**DEFAULT_HYPERPARAMETERS, "architecture": architecture}, 4, 11)
            model = build_model(spec).eval()
            label = "cold, first of the process" if index == 0 else "warm"
            with mlflow.start_run(), clock(f"log_model {architecture} ({label})"):
                registry_models.log_model(model, example, metadata={})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickers", type=int, default=500)
    parser.add_argument("--years", type=int, default=10)
    args = parser.parse_args(argv)
    print(f"log_model and ingest: {machine()}, {load()}")
    bench_log_model()
    bench_ingest(args.tickers, args.years)


if __name__ == "__main__":
    main()
