"""Tabular models in the real registry (embedded SQLite MLflow store): JSON and .npy files, loaded without
unpickling, checked against the run's manifest and the store's; tampered or corrupt files are refused
before anything is read."""

from __future__ import annotations

import pickle
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
import torch
import yaml
from sqlalchemy import Engine

from stockpredictor import registry, registry_models
from stockpredictor.config import Settings
from stockpredictor.errors import UnsafeModelError
from stockpredictor.features.sequences import scale_dataset
from stockpredictor.models import predict
from stockpredictor.models.tabular import TabularModel, fit_on_dataset
from stockpredictor.registry_manifest import MANIFEST_PARAM, TABULAR_FLAVOR, Manifest, manifest_of
from tests.conftest import copy_mlflow_store
from tests.support.trust import register_trusted, rewrite_mlflow_manifest, rewrite_store_manifest, trust_store

GBM = {
    "architecture": "gbm",
    "lags": 3,
    "gbm_learning_rate": 0.1,
    "max_leaf_nodes": 6,
    "min_samples_leaf": 20,
    "l2_regularization": 0.1,
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Engine]:
    """The project's store (SQLite), where the manifests of registered versions are recorded."""
    engine = trust_store(tmp_path / "store")
    yield engine
    engine.dispose()


def _load(store: Engine, uri: str) -> registry_models.LoadedModel:
    with store.connect() as conn:
        return registry_models.load_model(conn, uri)


def _registered(
    store: Engine, tmp_path: Path, template: Path, hyperparameters: dict[str, Any]
) -> tuple[str, TabularModel, Any]:
    rng = np.random.default_rng(0)
    features = rng.normal(scale=0.01, size=(300, 3, 2)).astype(np.float32)
    targets = np.roll(features[..., 0], -1, axis=0) + 0.3 * features[..., 0]
    targets[-1] = np.nan
    dataset = scale_dataset(features, targets, 8, 0.7, 0.15)
    model = fit_on_dataset(hyperparameters, dataset, ("log_return_1", "other"), seed=0).model
    registry.use_tracking(
        Settings(tmp_path / "data", "sqlite://", copy_mlflow_store(template, tmp_path / "ml"))
    )
    registry.use_experiment("tabular")
    with registry.start_run("tabular") as run:
        run.log_params({"dataset_run_id": "synthetic"})
        logged = registry_models.log_tabular_model(
            model, (-1, 8, 3, 3), metadata={"dataset_run_id": "synthetic"}
        )
    version = register_trusted(store, logged, "Tabular")
    return f"models:/Tabular/{version}", model, dataset.windows("test")


def _files(uri: str) -> Path:
    """The version's folder in the local artifact store (what someone with write access can edit)."""
    name, version = uri.removeprefix("models:/").split("/")
    location = registry.MlflowClient().get_model_version_download_uri(name, version)
    return Path(urllib.parse.urlparse(location).path)


@pytest.mark.parametrize("hyperparameters", [GBM, {"architecture": "ridge", "lags": 2, "alpha": 10.0}])
def test_a_tabular_version_loads_without_unpickling_and_predicts_like_the_fitted_model(
    hyperparameters: dict[str, Any],
    store: Engine,
    tmp_path: Path,
    mlflow_store_template: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uri, model, windows = _registered(store, tmp_path, mlflow_store_template, hyperparameters)
    folder = _files(uri)
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    assert set(mlmodel["flavors"]) == {TABULAR_FLAVOR}
    assert not [p for p in folder.rglob("*") if p.suffix in {".pkl", ".pickle", ".joblib", ".pt", ".pt2"}]

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("something was unpickled")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    loaded, input_shape = _load(store, uri)
    assert input_shape == (-1, 8, 3, 3)
    x, _ = windows.batch(np.arange(len(windows)))
    assert np.array_equal(predict(loaded, windows), model.predict_windows(x))
    assert np.array_equal(loaded(torch.from_numpy(x)).numpy(), model.predict_windows(x))


def _edit_json(folder: Path) -> None:
    path = folder / "tabular" / "model.json"
    path.write_text(path.read_text().replace('"lags": 3', '"lags": 2'))


def _add_flavor(folder: Path) -> None:
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    mlmodel["flavors"]["python_function"] = {"loader_module": "mlflow.pyfunc.model", "python_model": "m.pkl"}
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))


TAMPERINGS: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "edited description": (_edit_json, ["files changed: tabular/model.json"]),
    "swapped leaf values": (
        lambda f: np.save(f / "tabular" / "value.npy", -np.load(f / "tabular" / "value.npy")),
        ["files changed: tabular/value.npy"],
    ),
    "extra array": (
        lambda f: np.save(f / "tabular" / "extra.npy", np.zeros(3)),
        ["files beyond the manifest: tabular/extra.npy"],
    ),
    "another flavor": (
        _add_flavor,
        ["files changed: MLmodel", "flavors ['python_function', 'stockpredictor_tabular']"],
    ),
}


@pytest.mark.parametrize("tampering", sorted(TAMPERINGS))
def test_a_tampered_tabular_version_is_refused(
    tampering: str, store: Engine, tmp_path: Path, mlflow_store_template: Path
) -> None:
    uri, _, _ = _registered(store, tmp_path, mlflow_store_template, GBM)
    edit, problems = TAMPERINGS[tampering]
    edit(_files(uri))
    with pytest.raises(UnsafeModelError) as refused:
        _load(store, uri)
    message = str(refused.value)
    assert "\n" not in message and all(p in message for p in problems), message


def test_tabular_files_and_mlflow_manifest_rewritten_together_are_refused_then_a_corrupt_array_too(
    store: Engine, tmp_path: Path, mlflow_store_template: Path
) -> None:
    """The trust root covers the tabular learners: MLflow's record alone cannot vouch for new leaves, and
    an array that matches every record but is not an array is one line, not a traceback."""
    uri, _, _ = _registered(store, tmp_path, mlflow_store_template, GBM)
    folder, run_id = _files(uri), registry.model_info(uri).mlflow_run_id
    np.save(folder / "tabular" / "value.npy", -np.load(folder / "tabular" / "value.npy"))
    model_id = Manifest.from_json(registry.run_params(run_id)[MANIFEST_PARAM]).model_id
    rewrite_mlflow_manifest(mlflow.get_tracking_uri(), run_id, manifest_of(folder, model_id))
    with pytest.raises(UnsafeModelError, match=r"is not the one training recorded in the store"):
        _load(store, uri)

    (folder / "tabular" / "value.npy").write_bytes(b"\x93NUMPY garbage")
    rewrite_mlflow_manifest(mlflow.get_tracking_uri(), run_id, manifest_of(folder, model_id))
    rewrite_store_manifest(store, run_id, manifest_of(folder, model_id))
    with pytest.raises(UnsafeModelError) as refused:
        _load(store, uri)
    message = str(refused.value)
    assert "\n" not in message and message.startswith(
        "model 'Tabular' version 1 is not a readable tabular model"
    )
