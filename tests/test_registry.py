"""The registry against a real MLflow server (PostgreSQL backend), and the no-pickle guarantees."""

from __future__ import annotations

import re
import socket
import threading
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from stockpredictor import registry, registry_models
from stockpredictor.config import Settings
from stockpredictor.db.datasets import load_scaled
from stockpredictor.errors import RegistryError, RegistryUnavailableError
from stockpredictor.models import ModelSpec, build_model, predict
from stockpredictor.process_liveness import HOST_TAG, PID_TAG, process_tags
from tests.conftest import REPO, copy_mlflow_store
from tests.support.mlflow_server import MlflowServer, free_port
from tests.support.sample_dataset import MODEL_NAME, SampleStore, tiny_params, train_with

# Ways to deserialise with pickle; `torch.load` is only allowed with weights_only=True.
PICKLE_USE = re.compile(
    r"\bpickle\.(load|loads|Unpickler)\b|cloudpickle|joblib\.load|dill\.load|allow_pickle\s*=\s*True"
    r"|serialization_format\s*=\s*[\"']pickle|torch\.load\((?![^)]*weights_only\s*=\s*True)"
)


@pytest.mark.slow
def test_round_trip_against_a_real_mlflow_server_with_postgres_backend(
    mlflow_server: MlflowServer, sample_store: SampleStore, tmp_path: Path
) -> None:
    settings = Settings(tmp_path / "data", sample_store.url, mlflow_server.url)
    result = train_with(sample_store.engine, tiny_params(), settings, sample_store.run_id)
    run = MlflowClient().get_run(result.mlflow_run_id)
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # artifacts went through the server
    assert registry.production_model(MODEL_NAME) is None

    registry.set_alias(MODEL_NAME, result.model_version)
    production = registry.production_model(MODEL_NAME)
    assert production is not None
    assert (production.version, production.mlflow_run_id, production.dataset_run_id) == (
        result.model_version,
        result.mlflow_run_id,
        sample_store.run_id,
    )
    assert registry.model_info(f"models:/{MODEL_NAME}@production") == production
    with sample_store.engine.connect() as conn:
        model, input_shape = registry_models.load_model(conn, f"models:/{MODEL_NAME}@production")
        test_windows = load_scaled(conn, sample_store.run_id).windows("test")
    assert input_shape == (-1, test_windows.sequence_length, 4, test_windows.n_inputs)
    _, y = test_windows.batch(np.arange(len(test_windows)))
    loss = float(np.nanmean((predict(model, test_windows).astype(np.float64) - y) ** 2))
    assert loss == pytest.approx(result.metrics["refit_test_mse"], rel=1e-4)  # the refitted model came back


def test_an_unreachable_server_is_one_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(RegistryUnavailableError, match="unreachable"):
        registry.use_tracking(Settings(tmp_path, "sqlite://", f"http://127.0.0.1:{free_port()}"))


def test_a_server_that_never_answers_is_given_up_after_two_retries(tmp_path: Path) -> None:
    """MLflow's own defaults retry for minutes; ours: the first request and 2 retries, then an error.

    The "server" accepts each connection and closes it at once; the test counts the attempts (no
    clock: a hang is pytest-timeout's to catch)."""
    attempts = 0
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def hang_up() -> None:
            nonlocal attempts
            while True:
                try:
                    connection, _ = listener.accept()
                except OSError:  # the listener is closed: the test is over
                    return
                attempts += 1
                connection.close()

        threading.Thread(target=hang_up, daemon=True).start()
        port = listener.getsockname()[1]
        with pytest.raises(RegistryUnavailableError):
            registry.use_tracking(Settings(tmp_path, "sqlite://", f"http://127.0.0.1:{port}"))
    assert attempts == 3


@pytest.fixture
def embedded_store(mlflow_store_template: Path, tmp_path: Path) -> str:
    """A private, empty embedded MLflow store in use (its experiment `stockpredictor` active)."""
    uri = copy_mlflow_store(mlflow_store_template, tmp_path / "mlflow")
    registry.use_tracking(Settings(tmp_path / "data", "sqlite://", uri))
    registry.use_experiment("stockpredictor")
    return uri


@pytest.mark.filterwarnings("ignore:The tensor attributes")
def test_a_model_is_registered_only_once_its_run_has_finished(embedded_store: str) -> None:
    model = build_model(ModelSpec("lstm", n_stocks=2, n_features=3, hidden_size=4, num_layers=1, dropout=0.0))
    with registry.start_run("unfinished") as run:
        logged = registry_models.log_model(model, np.zeros((2, 5, 2, 3), dtype=np.float32), metadata={})
        with pytest.raises(RegistryError, match=f"MLflow run {run.mlflow_run_id} is RUNNING, not FINISHED"):
            registry_models.register_version(logged, MODEL_NAME)
    assert registry_models.register_version(logged, MODEL_NAME) == 1


def test_the_sweep_fails_running_runs_of_dead_or_too_old_processes_only(embedded_store: str) -> None:
    client = MlflowClient()
    experiment = client.get_experiment_by_name("stockpredictor").experiment_id  # type: ignore[union-attr]
    mine = client.create_run(experiment, tags=process_tags()).info.run_id
    elsewhere = client.create_run(experiment, tags={HOST_TAG: "another-pod", PID_TAG: "1"}).info.run_id
    finished = client.create_run(experiment, tags={HOST_TAG: "another-pod", PID_TAG: "1"}).info.run_id
    client.set_terminated(finished)
    assert registry.fail_dead_runs("stockpredictor") == []  # alive here, or too young to judge elsewhere
    swept = registry.fail_dead_runs("stockpredictor", max_age=timedelta(0))
    assert sorted(s.mlflow_run_id for s in swept) == sorted([mine, elsewhere])
    assert all(s.reason.startswith("RUNNING since ") for s in swept)
    statuses = {r: registry.run_status(r) for r in (mine, elsewhere, finished)}
    assert statuses == {mine: "FAILED", elsewhere: "FAILED", finished: "FINISHED"}
    reasons = {s.mlflow_run_id: s.reason for s in swept}
    assert client.get_run(elsewhere).data.tags[registry.SWEPT_TAG] == reasons[elsewhere]
    assert registry.fail_dead_runs("no such experiment") == []


def test_no_code_deserialises_with_pickle() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for folder in ("src", "components", "pipelines")
        for path in sorted((REPO / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if PICKLE_USE.search(line)
    ]
    assert offenders == []
    assert PICKLE_USE.search("torch.load(path)") and not PICKLE_USE.search("torch.load(f, weights_only=True)")
