"""A model's files in MLflow, the torch part of the registry: logged without pickle, registered once
their run has FINISHED, and loaded back only after they are verified.

Models are logged in MLflow's `pt2` format (a torch.export graph with its tensors; no pickled
Python objects), or a tabular learner as JSON and `.npy` files (`registry_tabular`), with a manifest
of their files (`registry_manifest`; the stage also records it in the store, `db.model_manifests`),
and loaded back only when MLflow's manifest is the store's and the downloaded copy matches it and is
a plain `pt2` export or tabular model. Versions, aliases and runs are `registry` (no torch).
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any, NamedTuple

import mlflow
import mlflow.pytorch
import numpy as np
import torch
from mlflow import MlflowClient
from mlflow.environment_variables import MLFLOW_ALLOW_PICKLE_DESERIALIZATION
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature
from mlflow.types import Schema, TensorSpec
from sqlalchemy import Connection
from torch import nn

from stockpredictor.db.model_manifests import recorded_manifest
from stockpredictor.errors import RegistryError, UnsafeModelError
from stockpredictor.models.lstm_export import lstm_shape_rule
from stockpredictor.models.tabular import TabularForecaster, TabularModel
from stockpredictor.registry import FINISHED, ModelVersionRef, model_info, run_status
from stockpredictor.registry_manifest import (
    MANIFEST_PARAM,
    MLMODEL_FILE,
    SERIALIZATION_FORMAT,
    TABULAR_DATA,
    TABULAR_FLAVOR,
    TABULAR_FORMAT,
    Manifest,
    differences,
    manifest_of,
    structure_problems,
)
from stockpredictor.registry_tabular import read_tabular, write_tabular

MODEL_ARTIFACT = "model"
#: MLflow's limit on the length of a parameter value (the manifest is one parameter).
_MAX_PARAM_LENGTH = 6000
#: What loading a verified local `pt2` copy raises when the archive is corrupt or not an export
#: (MLflow's pickle-free check, torch's archive reader, zipfile, the JSON of the graph).
_UNLOADABLE: tuple[type[Exception], ...] = (
    MlflowException,
    RuntimeError,
    ValueError,
    KeyError,
    EOFError,
    OSError,
    zipfile.BadZipFile,
)


def pip_requirements() -> list[str]:
    """Pinned requirements of a logged model (explicit: MLflow would spend seconds inferring them)."""
    return [f"{name}=={installed_version(name).split('+')[0]}" for name in ("torch", "mlflow", "numpy")]


@dataclass(frozen=True)
class LoggedModelRef:
    """A model logged to a run (`models:/m-...`), not yet registered, and the manifest of its files
    (the stage records it in the store: `db.model_manifests.record_manifest`)."""

    mlflow_run_id: str
    model_id: str
    manifest: Manifest


def log_model(model: nn.Module, input_example: np.ndarray, metadata: dict[str, Any]) -> LoggedModelRef:
    """Log `model` to the active run in `pt2` format and record the manifest of its files in the run.

    `input_example` (batch > 1, so the batch dimension stays dynamic) is what torch.export traces.
    The manifest is the run parameter `model_manifest`, taken from the files as stored (so one
    model per run: MLflow refuses to change a parameter).
    """
    if len(input_example) < 2:
        raise ValueError(
            "the input example needs a batch of at least 2 windows (a batch of 1 is exported static)"
        )
    model.eval()
    with warnings.catch_warnings(), lstm_shape_rule():
        # nn.LSTM re-assigns its `_flat_weights` list while being traced; the export is still exact.
        warnings.filterwarnings(
            "ignore", message=r"The tensor attributes .*_flat_weights", category=UserWarning
        )
        info = mlflow.pytorch.log_model(
            model,
            name=MODEL_ARTIFACT,
            serialization_format=SERIALIZATION_FORMAT,
            input_example=input_example,
            pip_requirements=pip_requirements(),
            metadata={"serialization_format": SERIALIZATION_FORMAT, **metadata},
            # MLflow would reload the export and predict the example again (~0.3 s of ~1.9 s, see
            # bench/log_model_ingest.py); `promote` loads and scores every candidate anyway.
            validate_serving_input=False,
        )
    return _record_manifest(info.run_id, info.model_id)


def log_tabular_model(
    model: TabularModel, input_shape: tuple[int, ...], metadata: dict[str, Any]
) -> LoggedModelRef:
    """Log a tabular model to the active run as JSON and `.npy` files (`registry_tabular`), no pickle,
    with the manifest of its files; `input_shape` is the window shape it takes (batch first, -1)."""
    info = Model.log(
        artifact_path=None,
        name=MODEL_ARTIFACT,
        flavor=_TabularFlavor,
        flavor_name=TABULAR_FLAVOR,
        metadata={"serialization_format": TABULAR_FORMAT, **metadata},
        tabular=model,
        input_shape=input_shape,
    )
    return _record_manifest(info.run_id, info.model_id)


class _TabularFlavor:
    """What `Model.log` calls to write a tabular model's folder (an MLflow custom flavor)."""

    @staticmethod
    def save_model(
        path: str, mlflow_model: Model, tabular: TabularModel, input_shape: tuple[int, ...], **_: Any
    ) -> None:
        folder = Path(path)
        write_tabular(folder, tabular)
        mlflow_model.add_flavor(TABULAR_FLAVOR, data=TABULAR_DATA, family=tabular.family)
        mlflow_model.signature = ModelSignature(
            inputs=Schema([TensorSpec(np.dtype(np.float32), input_shape)])
        )
        mlflow_model.save(str(folder / MLMODEL_FILE))


def _record_manifest(mlflow_run_id: str, model_id: str) -> LoggedModelRef:
    """Record the manifest of the logged model's files as stored, as the run's parameter."""
    info = MlflowClient().get_logged_model(model_id)
    location = info.artifact_location
    with tempfile.TemporaryDirectory(prefix="stockpredictor-manifest-") as tmp:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=tmp))
        manifest = manifest_of(local, model_id)
    text = manifest.to_json()
    if len(text) > _MAX_PARAM_LENGTH:
        raise ValueError(f"the manifest of model {model_id} is too long for a run parameter")
    mlflow.log_param(MANIFEST_PARAM, text)
    return LoggedModelRef(mlflow_run_id, model_id, manifest)


def register_version(logged: LoggedModelRef, model_name: str, tags: dict[str, str] | None = None) -> int:
    """Register a logged model as a new version of `model_name` (with `tags`); returns the version.

    Only the model of a FINISHED run is registered: a training that crashed or was killed before
    its run ended never becomes a version.
    """
    status = run_status(logged.mlflow_run_id)
    if status != FINISHED:
        raise RegistryError(
            f"MLflow run {logged.mlflow_run_id} is {status}, not {FINISHED}: its model is not registered"
        )
    found = mlflow.register_model(f"models:/{logged.model_id}", model_name, tags=tags)
    return int(found.version)


class ExportedModel(nn.Module):
    """A loaded `pt2` graph as an inference-only module (exported graphs refuse `.eval()`/`.train()`)."""

    def __init__(self, graph: nn.Module) -> None:
        super().__init__()
        self.graph = graph
        self.training = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.graph(x)
        return out

    def train(self, mode: bool = True) -> ExportedModel:
        """No-op: the graph was exported in eval mode and always runs that way."""
        return self


class LoadedModel(NamedTuple):
    """A loaded model and the input shape it was logged with (batch first, -1: any; None: not logged)."""

    model: nn.Module
    input_shape: tuple[int, ...] | None


def load_model(conn: Connection, model_uri: str) -> LoadedModel:
    """Download a registered model, check it against its manifests and its format, load it; eval mode.

    `model_uri` is `models:/NAME/VERSION` or `models:/NAME@ALIAS`; `conn` reads the manifest training
    recorded in the store. The files are downloaded with the artifact client and verified
    (`verified_copy`) before MLflow reads anything from them; the model is then loaded from that
    verified local copy, and an archive that does not load (e.g. a corrupt `pt2`) is refused as
    UnsafeModelError, like a tampered one. Nothing is unpickled: with pickle
    deserialisation disallowed (MLflow allows it by default), MLflow first verifies that every
    record of the `pt2` archive loads with torch's restricted `weights_only` loader, so
    torch.export never falls back to a full unpickle. A tabular model is read with `json` and
    `numpy.load(allow_pickle=False)` and evaluated by our own numpy code (`models.tabular`).
    """
    ref = model_info(model_uri)
    with tempfile.TemporaryDirectory(prefix="stockpredictor-model-") as tmp:
        local = verified_copy(conn, ref, Path(tmp))
        logged = Model.load(str(local))
        model: nn.Module
        if TABULAR_FLAVOR in logged.flavors:
            model = _tabular_module(local, ref)
        else:
            model = _exported_module(local, ref)
    inputs = logged.signature.inputs.inputs if logged.signature is not None else []
    shape = getattr(inputs[0], "shape", None) if len(inputs) == 1 else None
    return LoadedModel(model, tuple(shape) if shape is not None else None)


def _tabular_module(local: Path, ref: ModelVersionRef) -> nn.Module:
    try:
        return TabularForecaster(read_tabular(local))
    except (OSError, ValueError, EOFError) as exc:
        raise UnsafeModelError(
            f"model {ref.name!r} version {ref.version} is not a readable tabular model ({exc})"
        ) from None


def _exported_module(local: Path, ref: ModelVersionRef) -> nn.Module:
    # torch.export logs a reader's RuntimeError with its traceback before raising its own: one line only.
    torch_export_log = logging.getLogger("torch.export")
    was_disabled, torch_export_log.disabled = torch_export_log.disabled, True
    try:
        with _pickle_deserialization_disallowed():
            return ExportedModel(mlflow.pytorch.load_model(str(local)))
    except _UNLOADABLE as exc:
        raise UnsafeModelError(
            f"model {ref.name!r} version {ref.version} is not a loadable {SERIALIZATION_FORMAT} export "
            f"({type(exc).__name__}: {_first_line(exc)})"
        ) from None
    finally:
        torch_export_log.disabled = was_disabled


def _first_line(exc: Exception) -> str:
    """The first sentence of an exception's message (MLflow's and torch's go on with advice)."""
    text = str(exc).strip()
    return text.splitlines()[0].split(". ")[0].rstrip(".")[:200] if text else "no message"


def verified_copy(conn: Connection, ref: ModelVersionRef, dst: Path) -> Path:
    """Download the files of `ref` into `dst`; raise UnsafeModelError unless the manifest recorded in its
    MLflow run is the one training recorded in the store (`conn`), and the files are exactly those of
    that manifest and a plain `pt2` export or tabular model (see `registry_manifest`)."""
    client = MlflowClient()
    label = f"model {ref.name!r} version {ref.version} (MLflow run {ref.mlflow_run_id})"
    recorded = client.get_run(ref.mlflow_run_id).data.params.get(MANIFEST_PARAM)
    if recorded is None:
        raise UnsafeModelError(f"{label} has no manifest of its files; refusing to load it (retrain it)")
    try:
        manifest = Manifest.from_json(recorded)
    except ValueError:
        raise UnsafeModelError(f"{label} has an unreadable manifest; refusing to load it") from None
    _check_against_store(conn, ref.mlflow_run_id, manifest, label)
    source = client.get_model_version(ref.name, str(ref.version)).source
    if source != f"models:/{manifest.model_id}":
        raise UnsafeModelError(
            f"{label} comes from {source}, not from the model its manifest describes "
            f"(models:/{manifest.model_id}); refusing to load it"
        )
    location = client.get_model_version_download_uri(ref.name, str(ref.version))
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=str(dst)))
    problems = [*differences(manifest, local), *structure_problems(local)]
    if problems:
        raise UnsafeModelError(f"{label} is refused: {'; '.join(problems)}")
    return local


def _check_against_store(conn: Connection, mlflow_run_id: str, manifest: Manifest, label: str) -> None:
    """Raise UnsafeModelError unless `manifest` (MLflow's) is the one recorded in the store for the run."""
    trusted = recorded_manifest(conn, mlflow_run_id)
    if trusted is None:
        raise UnsafeModelError(
            f"{label} has no manifest in the store (table model_manifests); refusing to load it (retrain it)"
        )
    ours, digest = trusted
    if ours.digest != digest:
        raise UnsafeModelError(f"{label} is refused: the store's manifest record does not match its digest")
    if manifest.digest != digest:
        raise UnsafeModelError(
            f"{label} is refused: its manifest in MLflow (sha256 {manifest.digest[:12]}) is not the one "
            f"training recorded in the store (sha256 {digest[:12]})"
        )


@contextmanager
def _pickle_deserialization_disallowed() -> Iterator[None]:
    name = MLFLOW_ALLOW_PICKLE_DESERIALIZATION.name
    previous = os.environ.get(name)
    os.environ[name] = "false"
    try:
        yield
    finally:
        if previous is None:
            del os.environ[name]
        else:
            os.environ[name] = previous
