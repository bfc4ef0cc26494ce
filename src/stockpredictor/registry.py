"""MLflow, without torch: tracking setup, training runs, model versions, aliases.

Runs left RUNNING by dead processes are marked FAILED (`fail_dead_runs`, rule in `process_liveness`).
The registry uses aliases (`production`), never the deprecated stages. A model's files (logged without
pickle, registered, verified and loaded back) are `registry_models`, the only part that needs torch, so
a step that only looks versions up never imports it. Nothing else in `stockpredictor` imports MLflow.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Metric, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode
from sqlalchemy.engine import make_url

from stockpredictor.config import Settings
from stockpredictor.errors import ModelNotFoundError, RegistryError, RegistryUnavailableError, UsageError
from stockpredictor.process_liveness import STALE_RUN_AGE, dead_reason, process_tags
from stockpredictor.registry_outage import check_reachable, first_contact_failure

log = logging.getLogger(__name__)

PRODUCTION_ALIAS = "production"
BASELINE_TAG = "baseline"  # on a version that is a baseline forecaster, its kind (e.g. `persistence`)
#: On a trained version: the tickers it does not serve (too few training windows), comma-separated;
#: persistence forecasts them.
PERSISTENCE_TICKERS_TAG = "persistence_tickers"
FINISHED = RunStatus.to_string(RunStatus.FINISHED)
#: The tag that says why `fail_dead_runs` marked a run FAILED.
SWEPT_TAG = "stockpredictor.failed_because"
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
