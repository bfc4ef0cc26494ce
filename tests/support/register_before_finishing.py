"""A trainer of the order issue 15 found: it registers its model while its MLflow run is still RUNNING.

`python -m tests.support.register_before_finishing TRACKING_URI EXPERIMENT MODEL_NAME DATASET_RUN_ID`
logs a tiny model through the registry (run tagged with this process, manifest recorded), registers
it inside the run, prints the version and waits to be killed: what a `train` of an older release,
killed right after registration, leaves behind.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np

from stockpredictor import registry, registry_models
from stockpredictor.config import Settings
from stockpredictor.models import ModelSpec, build_model


def main(tracking_uri: str, experiment: str, model_name: str, dataset_run_id: str) -> None:
    registry.use_tracking(Settings(Path(tempfile.gettempdir()), "sqlite://", tracking_uri))
    registry.use_experiment(experiment)
    model = build_model(ModelSpec("lstm", n_stocks=2, n_features=3, hidden_size=4, num_layers=1, dropout=0.0))
    with registry.start_run("register-before-finishing") as run:
        run.log_params({"dataset_run_id": dataset_run_id})
        logged = registry_models.log_model(model, np.zeros((2, 5, 2, 3), dtype=np.float32), metadata={})
        version = mlflow.register_model(f"models:/{logged.model_id}", model_name).version
        print(f"registered version {version} of run {run.mlflow_run_id}", flush=True)
        time.sleep(600)


if __name__ == "__main__":
    main(*sys.argv[1:5])
