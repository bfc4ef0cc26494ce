"""Issue 8 benchmark: Optuna trials per minute with 1 and 2 worker processes sharing one study.

On the whole sample dataset (4 tickers, up to 2013-02-28) with the repository's params.yaml and
`--trials`/`--epochs` on top. Each configuration gets its own scratch PostgreSQL database (the
study's store in production) and the same search budget; workers are spawned processes, as the
pipeline's pods are, so the wall time includes their start-up. The best validation loss of each
search shows whether the speed-up costs search quality; the summed trial durations (busy seconds)
show whether a configuration drew costlier models (trial cost varies ~40x with the architecture).

Run: `python -m bench parallel_optimize` (or `python -m bench.parallel_optimize --trials 12 --epochs 5`).
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from datetime import date

import optuna

from bench.common import machine, scratch_postgres
from stockpredictor.config import Params, load_params
from stockpredictor.db.engine import engine_for
from stockpredictor.stages.ingest import ingest
from stockpredictor.stages.optimize import run_worker
from stockpredictor.stages.optimize_study import OptimizeResult, collect, create_study, storage_for
from stockpredictor.stages.process import process
from stockpredictor.stages.scale import scale

AS_OF = date(2013, 2, 28)


def _work(url: str, params: Params, run_id: str, worker: int) -> None:
    run_worker(engine_for(url), params, run_id, worker)


def search(params: Params, workers: int) -> tuple[float, float, OptimizeResult]:
    """Wall seconds for the whole budget, summed trial seconds, and the collected result, on a fresh store."""
    with scratch_postgres() as url:
        engine = engine_for(url)
        ingest(engine, params, AS_OF)
        run_id = process(engine, params, AS_OF).dataset_run_id
        scale(engine, params, run_id)
        create_study(engine, params, run_id)
        spawn = multiprocessing.get_context("spawn")
        processes = [spawn.Process(target=_work, args=(url, params, run_id, i)) for i in range(workers)]
        started = time.perf_counter()
        for worker in processes:
            worker.start()
        for worker in processes:
            worker.join()
            if worker.exitcode != 0:
                raise RuntimeError(f"worker exited with code {worker.exitcode}")
        seconds = time.perf_counter() - started
        result = collect(engine, params, run_id)
        study = optuna.load_study(study_name=result.study_name, storage=storage_for(engine))
        busy = sum(t.duration.total_seconds() for t in study.get_trials(deepcopy=False) if t.duration)
        engine.dispose()
    return seconds, busy, result


def run(trials: int, epochs: int, worker_counts: tuple[int, ...] = (1, 2)) -> dict[str, float]:
    """Search with each number of workers; print trials per minute and the best validation loss."""
    params = load_params(overrides=[f"optimize.n_trials={trials}", f"optimize.max_epochs={epochs}"])
    print(f"parallel_optimize: {trials} trials of up to {epochs} epochs on the sample data, {machine()}")
    results: dict[str, float] = {}
    for workers in worker_counts:
        seconds, busy, found = search(params, workers)
        results[f"{workers} workers trials/min"] = rate = trials * 60 / seconds
        results[f"{workers} workers best val loss"] = found.best_value
        print(
            f"  {workers} worker(s): {seconds:6.1f} s, {rate:5.1f} trials/min, best validation loss "
            f"{found.best_value:.6g} ({found.n_complete} complete, {found.n_pruned} pruned, "
            f"{busy:.1f} s in trials)",
            flush=True,
        )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=5, help="optimize.max_epochs")
    args = parser.parse_args(argv)
    run(args.trials, args.epochs)


if __name__ == "__main__":
    main()
