"""The only door to MLflow: tracking setup, training runs, model versions without pickle, aliases, loading.

Models are logged in MLflow's `pt2` format (a torch.export graph with its tensors; no pickled
Python objects), or a tabular learner as JSON and `.npy` files (`registry_tabular`), with a manifest
of their files (`registry_manifest`; the stage also records it in the store, `db.model_manifests`),
registered only once their run has FINISHED, and loaded back only when MLflow's manifest is the
store's and the downloaded copy matches it and is a plain `pt2` export or tabular model.
Runs left RUNNING by dead processes are marked FAILED (`fail_dead_runs`, rule in
`process_liveness`). The registry uses aliases (`production`), never the deprecated stages.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any, NamedTuple

import mlflow
import mlflow.pytorch
import numpy as np
import torch
from mlflow import MlflowClient
from mlflow.entities import Metric, RunStatus
from mlflow.environment_variables import MLFLOW_ALLOW_PICKLE_DESERIALIZATION
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode
from mlflow.types import Schema, TensorSpec
from sqlalchemy import Connection
from sqlalchemy.engine import make_url
from torch import nn

from stockpredictor.config import Settings
from stockpredictor.db.model_manifests import recorded_manifest
from stockpredictor.errors import (
    ModelNotFoundError,
    RegistryError,
    RegistryUnavailableError,
    UnsafeModelError,
    UsageError,
)
from stockpredictor.models.tabular import TabularForecaster, TabularModel
from stockpredictor.process_liveness import STALE_RUN_AGE, dead_reason, process_tags
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
from stockpredictor.registry_outage import check_reachable, first_contact_failure
from stockpredictor.registry_tabular import read_tabular, write_tabular

log = logging.getLogger(__name__)

PRODUCTION_ALIAS = "production"
BASELINE_TAG = "baseline"  # on a version that is a baseline forecaster, its kind (e.g. `persistence`)
#: On a trained version: the tickers it does not serve (too few training windows), comma-separated;
#: persistence forecasts them.
PERSISTENCE_TICKERS_TAG = "persistence_tickers"
MODEL_ARTIFACT = "model"
FINISHED = RunStatus.to_string(RunStatus.FINISHED)
#: The tag that says why `fail_dead_runs` marked a run FAILED.
SWEPT_TAG = "stockpredictor.failed_because"
#: MLflow's limit on the length of a parameter value (the manifest is one parameter).
_MAX_PARAM_LENGTH = 6000
# Fail fast when an HTTP tracking server is unreachable or silent (MLflow's defaults retry for minutes):
# 3 tries of at most 10 s each, 0 s then 2-3 s apart, so a silent server fails within ~33 s.
_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}
_QUIET_DEFAULTS = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
#: What reading the registry raises when its store or server cannot answer, or the model is gone.
REGISTRY_FAILURES: tuple[type[Exception], ...] = (
    MlflowException,
    RegistryError,
    RegistryUnavailableError,
    OSError,
)
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


@dataclass(frozen=True)
class ModelVersionRef:
    """A registered model version: concrete `models:/NAME/VERSION` URI, its MLflow run and its dataset."""

    name: str
    version: int
    mlflow_run_id: str
    dataset_run_id: str
    baseline: str | None = None  # `persistence` for the registered baseline, None for a trained model
    persistence_tickers: tuple[str, ...] = ()  # tickers a trained version leaves to persistence

    @property
    def model_uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def served_by_persistence(self, tickers: Sequence[str]) -> np.ndarray:
        """Per ticker, True where persistence forecasts: every ticker of a baseline version, else the
        version's `persistence_tickers`."""
        return np.array(
            [self.baseline is not None or t in self.persistence_tickers for t in tickers], dtype=bool
        )


#: What `production_model` returns: the version behind the `production` alias.
ProductionModel = ModelVersionRef


def use_tracking(settings: Settings) -> None:
    """Point MLflow (tracking and registry) at `settings.mlflow_tracking_uri`.

    Environment defaults (an explicit setting wins): no download progress bars; for HTTP servers,
    2 retries with short backoff and a 10 s timeout so that an unreachable server fails in seconds, not
    minutes. A store that cannot be reached or used is a `RegistryUnavailableError` here, before any work
    (`registry_outage`: a database store is tried once with a timeout, then one read is made).
    """
    uri = settings.mlflow_tracking_uri
    defaults = {**_QUIET_DEFAULTS, **(_HTTP_DEFAULTS if uri.startswith(("http://", "https://")) else {})}
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    check_reachable(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        MlflowClient().search_experiments(max_results=1)
    except Exception as exc:
        failure = first_contact_failure(exc)
        if failure is None:
            raise
        raise failure from None


def use_experiment(name: str) -> str:
    """Make `name` the active experiment (created if missing) and return its id.

    With a local `sqlite:` store, artifacts go to `mlartifacts/` next to the database file instead
    of MLflow's default `./mlruns` in the current directory.
    """
    client = MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            experiment_id = client.create_experiment(name, artifact_location=_local_artifact_location())
        except MlflowException:  # created concurrently by another process
            experiment_id = client.get_experiment_by_name(name).experiment_id  # type: ignore[union-attr]
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def _local_artifact_location() -> str | None:
    uri = mlflow.get_tracking_uri()
    database = make_url(uri).database if uri.startswith("sqlite:") else None
    if not database or database == ":memory:":
        return None
    return (Path(database).resolve().parent / "mlartifacts").as_uri()


@dataclass(frozen=True)
class TrackedRun:
    """The active MLflow run of a training (see `start_run`): what it logs goes to this run."""

    mlflow_run_id: str

    def set_tags(self, tags: dict[str, str]) -> None:
        mlflow.set_tags(tags)

    def log_params(self, params: dict[str, Any]) -> None:
        mlflow.log_params(params)

    def log_metrics(self, metrics: dict[str, float]) -> None:
        mlflow.log_metrics(metrics)

    def log_steps(self, points: Iterable[tuple[str, float, int]]) -> None:
        """Log (metric, value, step) points in one request, e.g. a loss curve per epoch."""
        now = int(time.time() * 1000)
        metrics = [Metric(key, value, now, step) for key, value, step in points]
        MlflowClient().log_batch(self.mlflow_run_id, metrics=metrics)

    def log_files(self, files: dict[str, bytes], artifact_path: str) -> None:
        """Log files (name -> bytes) under `artifact_path` in one upload."""
        with tempfile.TemporaryDirectory(prefix="stockpredictor-artifacts-") as tmp:
            for name, data in files.items():
                (Path(tmp) / name).write_bytes(data)
            mlflow.log_artifacts(tmp, artifact_path)

    def log_text(self, text: str, artifact_file: str) -> None:
        mlflow.log_text(text, artifact_file)


@contextmanager
def start_run(run_name: str) -> Iterator[TrackedRun]:
    """A new run in the active experiment (see `use_experiment`), ended when the block ends.

    The run is tagged with this process's host, pid and start time, so that `fail_dead_runs` can tell
    whether a RUNNING run's process is gone. It ends FINISHED, or FAILED when the block raises.
    """
    with mlflow.start_run(run_name=run_name, tags=process_tags()) as run:
        yield TrackedRun(run.info.run_id)


def run_status(mlflow_run_id: str) -> str:
    """The status of an MLflow run: RUNNING, SCHEDULED, FINISHED, FAILED or KILLED."""
    return str(MlflowClient().get_run(mlflow_run_id).info.status)


@dataclass(frozen=True)
class SweptRun:
    """A run `fail_dead_runs` marked FAILED, and why."""

    mlflow_run_id: str
    reason: str


def fail_dead_runs(experiment_name: str, max_age: timedelta = STALE_RUN_AGE) -> list[SweptRun]:
    """Mark the RUNNING runs of `experiment_name` whose process is dead as FAILED (see `process_liveness`)."""
    client = MlflowClient()
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return []
    now = datetime.now(UTC)
    swept = []
    for run in client.search_runs(
        [experiment.experiment_id], "attributes.status = 'RUNNING'", max_results=1000
    ):
        started = datetime.fromtimestamp(run.info.start_time / 1000, UTC)
        reason = dead_reason(run.data.tags, started, now, max_age)
        if reason is None:
            continue
        client.set_tag(run.info.run_id, SWEPT_TAG, reason)
        client.set_terminated(run.info.run_id, status=RunStatus.to_string(RunStatus.FAILED))
        log.warning("MLflow run %s was left RUNNING: marked FAILED (%s)", run.info.run_id, reason)
        swept.append(SweptRun(run.info.run_id, reason))
    return swept


def run_params(mlflow_run_id: str) -> dict[str, str]:
    """The parameters logged by MLflow run `mlflow_run_id`."""
    return dict(MlflowClient().get_run(mlflow_run_id).data.params)


def run_metrics(mlflow_run_id: str) -> dict[str, float]:
    """The latest value of every metric logged to an MLflow run."""
    return dict(MlflowClient().get_run(mlflow_run_id).data.metrics)


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
    with warnings.catch_warnings():
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


def _is_missing(exc: MlflowException) -> bool:
    return exc.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST)


def _ref(name: str, version: int, mlflow_run_id: str | None, tags: dict[str, str]) -> ModelVersionRef:
    if not mlflow_run_id:
        raise ModelNotFoundError(f"{name} version {version} has no MLflow run")
    params = MlflowClient().get_run(mlflow_run_id).data.params
    if "dataset_run_id" not in params:
        raise ModelNotFoundError(
            f"{name} version {version}: its MLflow run {mlflow_run_id} has no dataset_run_id param"
        )
    persistence = tuple(t for t in tags.get(PERSISTENCE_TICKERS_TAG, "").split(",") if t)
    return ModelVersionRef(
        name, version, mlflow_run_id, params["dataset_run_id"], tags.get(BASELINE_TAG), persistence
    )


def model_version(name: str, version: int) -> ModelVersionRef:
    """Registered version `version` of `name`."""
    try:
        found = MlflowClient().get_model_version(name, str(version))
    except MlflowException as exc:
        if _is_missing(exc):
            raise ModelNotFoundError(f"model {name!r} has no version {version}") from None
        raise
    return _ref(name, int(found.version), found.run_id, found.tags)


def version_of_run(name: str, mlflow_run_id: str) -> ModelVersionRef:
    """The version of `name` registered from MLflow run `mlflow_run_id`."""
    return _newest(
        name,
        f"name = '{name}' and run_id = '{mlflow_run_id}'",
        f"MLflow run {mlflow_run_id!r} registered no version of {name!r}",
    )


def latest_version(name: str) -> ModelVersionRef:
    """The most recently registered version of `name`."""
    return _newest(name, f"name = '{name}'", f"model {name!r} has no registered version (run `train` first)")


def _newest(name: str, filter_string: str, not_found: str) -> ModelVersionRef:
    found = MlflowClient().search_model_versions(filter_string)
    if not found:
        raise ModelNotFoundError(not_found)
    newest = max(found, key=lambda v: int(v.version))
    return _ref(name, int(newest.version), newest.run_id, newest.tags)


def _alias_version(name: str, alias: str) -> int | None:
    """The version `alias` of `name` points at (None when the model or the alias does not exist)."""
    try:
        aliases = MlflowClient().get_registered_model(name).aliases
    except MlflowException as exc:
        if _is_missing(exc):
            return None
        raise
    return int(aliases[alias]) if alias in aliases else None


def production_model(name: str) -> ProductionModel | None:
    """The version of `name` behind the `production` alias, or None when nothing was promoted yet."""
    version = _alias_version(name, PRODUCTION_ALIAS)
    return model_version(name, version) if version is not None else None


def model_info(model_uri: str) -> ModelVersionRef:
    """The version a `models:/NAME/VERSION` or `models:/NAME@ALIAS` URI stands for."""
    path = model_uri.removeprefix("models:/")
    name, at, alias = path.partition("@")
    if path == model_uri or (not at and "/" not in path):
        raise UsageError(f"{model_uri!r} is not a models:/NAME/VERSION or models:/NAME@ALIAS URI")
    if at:
        version = _alias_version(name, alias)
        if version is None:
            raise ModelNotFoundError(f"model {name!r} has no alias {alias!r}")
        return model_version(name, version)
    name, _, number = path.rpartition("/")
    if not number.isdigit():
        raise UsageError(f"{model_uri!r}: version {number!r} is not a number")
    return model_version(name, int(number))


def set_alias(name: str, version: int, alias: str = PRODUCTION_ALIAS) -> None:
    """Point `alias` (default `production`) of `name` at `version`."""
    MlflowClient().set_registered_model_alias(name, alias, str(version))


def tag_version(ref: ModelVersionRef, tags: dict[str, str]) -> None:
    """Set `tags` on the model version and on the run that produced it."""
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(ref.name, str(ref.version), key, value)
        client.set_tag(ref.mlflow_run_id, key, value)
