"""Issue 3 benchmark: train-epoch throughput per architecture, `log_model` time, a full `optimize`.

On the whole sample dataset (4 tickers, 2004..2013) with the repository's params.yaml (sequence
length 30, the default hyperparameters of `train` for the throughput). The Optuna study is stored in
a scratch PostgreSQL database, as in production. Targets (issue 3): `log_model` <= 2 s, a 20-trial
`optimize` <= 3 min on 2 cores.

Run: `python -m bench training` (or `python -m bench.training --trials 20 --epochs 2`).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

import mlflow
import numpy as np
import torch

from bench.common import machine, scratch_postgres, timed
from stockpredictor import registry, registry_models
from stockpredictor.config import Settings, load_params
from stockpredictor.db.datasets import load_scaled
from stockpredictor.db.engine import engine_for
from stockpredictor.models import (
    ARCHITECTURES,
    TrainConfig,
    build_model,
    configure_torch_threads,
    fit,
    model_spec,
)
from stockpredictor.stages.ingest import ingest
from stockpredictor.stages.optimize import optimize
from stockpredictor.stages.process import process
from stockpredictor.stages.scale import scale
from stockpredictor.stages.train import DEFAULT_HYPERPARAMETERS

AS_OF = date(2013, 2, 28)


def run(trials: int, epochs: int) -> dict[str, float]:
    """Time training epochs and log_model per architecture, then the search; print the figures."""
    params = load_params(overrides=[f"optimize.n_trials={trials}"])
    configure_torch_threads()
    results: dict[str, float] = {}
    print(f"training: sample data up to {AS_OF}, {torch.get_num_threads()} torch thread(s), {machine()}")
    with scratch_postgres() as url, tempfile.TemporaryDirectory() as tmp:
        engine = engine_for(url)
        ingest(engine, params, AS_OF)
        run_id = process(engine, params, AS_OF).dataset_run_id
        scale(engine, params, run_id)
        with engine.connect() as conn:
            dataset = load_scaled(conn, run_id)
        train_windows, validation = dataset.windows("train"), dataset.windows("validation")
        print(f"  {len(train_windows)} training windows of {dataset.sequence_length} days")
        registry.use_tracking(Settings(Path(tmp), url, f"sqlite:///{tmp}/mlflow.db"))
        registry.use_experiment("bench")
        example, _ = train_windows.batch(np.arange(2))
        config = TrainConfig(
            learning_rate=DEFAULT_HYPERPARAMETERS["learning_rate"],
            batch_size=DEFAULT_HYPERPARAMETERS["batch_size"],
            max_epochs=epochs,
            patience=epochs,
        )
        for architecture in ARCHITECTURES:
            model = build_model(
                model_spec(
                    {**DEFAULT_HYPERPARAMETERS, "architecture": architecture},
                    dataset.x_scaled.shape[1],
                    dataset.n_inputs,
                )
            )
            started = time.perf_counter()
            fit(model, train_windows, validation, config)
            rate = len(train_windows) * epochs / (time.perf_counter() - started)
            results[f"{architecture} samples/s"] = rate
            print(f"  {architecture:<28} {rate:8.0f} training samples/s (incl. validation)")
            with mlflow.start_run(), timed(f"log_model {architecture}", results):
                registry_models.log_model(model, example, metadata={})
        with timed(f"optimize ({trials} trials)", results):
            found = optimize(engine, params, run_id)
        print(f"  {found.n_complete} complete, {found.n_pruned} pruned; best {found.best_params}")
        engine.dispose()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=2, help="epochs timed per architecture")
    args = parser.parse_args(argv)
    run(args.trials, args.epochs)


if __name__ == "__main__":
    main()
