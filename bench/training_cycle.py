"""Issue 23 benchmark: wall and CPU time of one training cycle (process, scale, optimize, train, promote).

On the sample data up to an as-of day (default 2012-03-01, the first training of the 2012 replay), with
the repository's params.yaml, in a scratch SQLite store and MLflow registry. CPU time is this process's
user + system time (the stages run in-process; SQLite has no server).

Run: `python -m bench training_cycle` (or `python -m bench.training_cycle --as-of 2012-03-01`).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

from bench.common import machine
from stockpredictor.config import Settings, load_params
from stockpredictor.db.engine import make_engine, migrate
from stockpredictor.db.optimization import load_optimization
from stockpredictor.stages.ingest import ingest
from stockpredictor.stages.training_cycle import run_training


def run(as_of: date) -> dict[str, float]:
    """Ingest up to `as_of`, then time one training cycle; print and return wall and CPU seconds."""
    params = load_params()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(Path(tmp), f"sqlite:///{tmp}/store.db", f"sqlite:///{tmp}/mlflow.db")
        engine = make_engine(settings.database_url)
        migrate(engine)
        ingest(engine, params, as_of)
        wall, cpu = time.perf_counter(), time.process_time()
        cycle = run_training(engine, params, settings, as_of)
        results = {"wall_seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu}
        with engine.connect() as conn:
            search = load_optimization(conn, cycle.dataset_run_id)
        engine.dispose()
    print(
        f"training cycle as of {as_of}: {results['wall_seconds']:.1f} s wall, "
        f"{results['cpu_seconds']:.1f} s CPU ({machine()}); search: "
        f"{search.n_complete if search else 0} trials complete, {search.n_pruned if search else 0} pruned; "
        f"version {cycle.model_version} {cycle.promotion.decision}: {cycle.promotion.reason}"
    )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2012, 3, 1))
    run(parser.parse_args(argv).as_of)


if __name__ == "__main__":
    main()
