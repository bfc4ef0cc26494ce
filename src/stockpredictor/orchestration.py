"""Running the KFP pipelines: locally through `kfp.local`, or on a Kubeflow Pipelines cluster (`kfp.Client`).

The pipeline definitions live in the repository's top-level `pipelines/` package (next to
`components/`); they are imported lazily so that `stockpredictor` itself never depends on them.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stockpredictor.config import DATA_DIR_ENV, DATABASE_URL_ENV, MLFLOW_URI_ENV, PARAMS_ENV, Settings

if TYPE_CHECKING:
    from kfp.dsl.graph_component import GraphComponent
    from kfp_server_api import V2beta1RecurringRun, V2beta1Run

PIPELINE_NAMES = ("training", "daily")
DEFAULT_EXPERIMENT = "stockpredictor"
# KFP cron has 6 fields, seconds first; KFP evaluates it in UTC. 22:30 UTC is after the 16:00 New
# York close in summer (18:30 EDT) and winter (17:30 EST); Monday to Friday.
DEFAULT_CRON = "0 30 22 * * 1-5"
FINISHED_STATES = ("SUCCEEDED", "FAILED", "SKIPPED", "CANCELED")


class PipelineError(RuntimeError):
    """A pipeline could not be found, compiled, submitted or did not succeed (the message says which)."""


def repo_root() -> Path:
    """The folder holding `components/` and `pipelines/`: the working directory, else this checkout."""
    for candidate in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (candidate / "pipelines" / "__init__.py").is_file() and (
            candidate / "components" / "__init__.py"
        ).is_file():
            return candidate
    raise PipelineError(
        "the pipelines/ and components/ packages were not found: run from the repository root"
    )


def load_pipeline(name: str) -> GraphComponent:
    """The pipeline called `name` (training | daily) from the repository's `pipelines` package."""
    root = str(repo_root())
    if root not in sys.path:
        sys.path.insert(0, root)
    from pipelines import PIPELINES

    if name not in PIPELINES:
        raise PipelineError(f"unknown pipeline {name!r}; choose from {', '.join(PIPELINES)}")
    return PIPELINES[name]


def pipeline_arguments(
    as_of: date | None = None, tickers: str = "", n_trials: int = 0, overrides: list[str] | None = None
) -> dict[str, Any]:
    """The parameters both pipelines take, from CLI-style values."""
    return {
        "as_of": as_of.isoformat() if as_of else "",
        "tickers": tickers,
        "n_trials": n_trials,
        "params_overrides": json.dumps(overrides or []),
    }


# ---------------------------------------------------------------------------------------------- local


@dataclass(frozen=True)
class LocalRun:
    """Where a local run left its artifacts, and how long it took."""

    output_dir: Path
    seconds: float


def run_local(name: str, arguments: dict[str, Any], settings: Settings, params_path: Path) -> LocalRun:
    """Run pipeline `name` locally (see `run_graph_local`)."""
    return run_graph_local(load_pipeline(name), arguments, settings, params_path)


def run_graph_local(
    pipeline: GraphComponent, arguments: dict[str, Any], settings: Settings, params_path: Path
) -> LocalRun:
    """Run a pipeline with `kfp.local.SubprocessRunner` in this environment (no cluster, no Docker).

    Every task is a subprocess of this interpreter: it gets the store, MLflow and data-dir settings
    as absolute values in its environment, and the params file at `params_path` instead of the
    ConfigMap mount the compiled pipeline points at. kfp.local's own output goes to stderr.
    """
    from kfp import local

    local_pipeline = _with_params_file(pipeline, params_path.resolve())
    root = settings.data_dir / "kfp"
    root.mkdir(parents=True, exist_ok=True)
    before = set(root.iterdir())
    environment = {
        DATA_DIR_ENV: str(settings.data_dir),
        DATABASE_URL_ENV: settings.database_url,
        MLFLOW_URI_ENV: settings.mlflow_tracking_uri,
        PARAMS_ENV: str(params_path.resolve()),
    }
    start = time.perf_counter()
    with _environ(environment), contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        # Expected here: the tasks run in this environment, not in the project image, with no resources.
        warnings.filterwarnings("ignore", message="You may be attemp")
        warnings.filterwarnings("ignore", message=".*have no effect in the current local runner")
        local.init(
            runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True
        )
        try:
            local_pipeline(**arguments)
        except RuntimeError as exc:
            raise PipelineError(f"local {pipeline.name} pipeline failed: {exc}") from None
    new = sorted(set(root.iterdir()) - before, key=lambda p: p.stat().st_mtime)
    return LocalRun(new[-1] if new else root, time.perf_counter() - start)


def _with_params_file(pipeline: GraphComponent, params_path: Path) -> GraphComponent:
    """A copy of `pipeline` whose tasks read `params_path` instead of the cluster's ConfigMap mount."""
    local_copy = copy.deepcopy(pipeline)
    for executor in local_copy.pipeline_spec.deployment_spec["executors"].values():
        container = executor["container"]  # a protobuf Struct: no .get()
        if "env" not in container:
            continue
        for variable in container["env"]:
            if variable["name"] == PARAMS_ENV:
                variable["value"] = str(params_path)
    return local_copy


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# -------------------------------------------------------------------------------------------- cluster


@contextlib.contextmanager
def _talking_to(host: str) -> Iterator[None]:
    """Turn the client's transport and API errors into one-line PipelineErrors; its prints go to stderr."""
    import kfp_server_api
    import urllib3

    with contextlib.redirect_stdout(sys.stderr):
        try:
            yield
        except kfp_server_api.ApiException as exc:
            detail = (exc.body or exc.reason or "").strip()
            raise PipelineError(f"Kubeflow Pipelines at {host} answered {exc.status}: {detail}") from None
        except (urllib3.exceptions.HTTPError, OSError, TimeoutError) as exc:
            raise PipelineError(f"cannot reach Kubeflow Pipelines at {host}: {exc}") from None


@dataclass(frozen=True)
class PublishedPipeline:
    """A pipeline version on the cluster."""

    pipeline_id: str
    version_id: str
    display_name: str


class Cluster:
    """The Kubeflow Pipelines API at `host`, through the real `kfp.Client`."""

    def __init__(self, host: str, token: str | None = None) -> None:
        """Connect (the client checks the health endpoint); PipelineError when the host does not answer.

        `token` is a bearer token for a KFP behind authentication (e.g. a service account token).
        """
        import kfp

        self.host = host.rstrip("/")
        with _talking_to(self.host), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "only works with KFP v2.0.0-beta.2 and later"
            self.client = kfp.Client(host=self.host, existing_token=token)

    def publish(self, name: str, version: str | None = None) -> PublishedPipeline:
        """Compile pipeline `name` and upload it (first time) or a new version of it named `version`."""
        from kfp import compiler

        pipeline = load_pipeline(name)
        display_name = pipeline.component_spec.name
        version = version or f"{display_name}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
        with tempfile.TemporaryDirectory() as tmp, _talking_to(self.host):
            package = str(Path(tmp) / f"{name}.yaml")
            compiler.Compiler().compile(pipeline, package_path=package)
            pipeline_id = self.client.get_pipeline_id(display_name)
            if pipeline_id is None:
                pipeline_id = self.client.upload_pipeline(package, pipeline_name=display_name).pipeline_id
                versions = self.client.list_pipeline_versions(
                    pipeline_id, page_size=1, sort_by="created_at desc"
                )
                version_id = versions.pipeline_versions[0].pipeline_version_id
            else:
                version_id = self.client.upload_pipeline_version(
                    package, version, pipeline_id=pipeline_id
                ).pipeline_version_id
        return PublishedPipeline(pipeline_id, version_id, display_name)

    def submit(
        self,
        name: str,
        arguments: dict[str, Any],
        experiment: str = DEFAULT_EXPERIMENT,
        version: str | None = None,
    ) -> V2beta1Run:
        """Upload pipeline `name` (a new version) and start a run of it in `experiment`."""
        published = self.publish(name, version)
        with _talking_to(self.host):
            experiment_id = self.client.create_experiment(experiment).experiment_id
            return self.client.run_pipeline(
                experiment_id=experiment_id,
                job_name=f"{published.display_name} {arguments.get('as_of') or 'latest'} "
                f"{datetime.now(UTC):%Y-%m-%d %H:%M}",
                params=arguments,
                pipeline_id=published.pipeline_id,
                version_id=published.version_id,
            )

    def wait(self, run_id: str, timeout_seconds: float, poll_seconds: float = 10) -> V2beta1Run:
        """Block until run `run_id` finishes; PipelineError unless it succeeded."""
        deadline = time.monotonic() + timeout_seconds
        with _talking_to(self.host):
            run = self.client.get_run(run_id)
            while str(run.state) not in FINISHED_STATES:
                if time.monotonic() > deadline:
                    raise PipelineError(f"run {run_id} is still {run.state} after {timeout_seconds:g} s")
                time.sleep(poll_seconds)
                run = self.client.get_run(run_id)
        if run.state != "SUCCEEDED":
            reason = f": {run.error.message}" if run.error and run.error.message else ""
            raise PipelineError(f"run {run_id} ended {run.state}{reason} ({self.run_url(run_id)})")
        return run

    def run_url(self, run_id: str) -> str:
        """The run's page in the Kubeflow Pipelines UI."""
        return f"{self.host}/#/runs/details/{run_id}"

    def schedule(
        self,
        name: str,
        arguments: dict[str, Any],
        cron: str = DEFAULT_CRON,
        experiment: str = DEFAULT_EXPERIMENT,
        version: str | None = None,
    ) -> V2beta1RecurringRun:
        """A recurring run of pipeline `name`: KFP cron (6 fields, UTC), one run at a time, no catch-up."""
        if len(cron.split()) != 6:
            raise PipelineError(f"cron {cron!r} must have 6 fields, seconds first (e.g. {DEFAULT_CRON!r})")
        published = self.publish(name, version)
        with _talking_to(self.host):
            experiment_id = self.client.create_experiment(experiment).experiment_id
            return self.client.create_recurring_run(
                experiment_id=experiment_id,
                job_name=f"{published.display_name} ({cron})",
                description=f"{published.display_name} on cron {cron!r} (UTC)",
                cron_expression=cron,
                max_concurrency=1,
                no_catchup=True,
                params=arguments,
                pipeline_id=published.pipeline_id,
                version_id=published.version_id,
            )

    def recent_runs(self, limit: int = 10, experiment: str | None = None) -> list[V2beta1Run]:
        """The most recent runs, newest first (of one experiment when given)."""
        with _talking_to(self.host):
            experiment_id = None
            if experiment:
                try:
                    experiment_id = self.client.get_experiment(experiment_name=experiment).experiment_id
                except ValueError as exc:
                    raise PipelineError(str(exc)) from None
            response = self.client.list_runs(
                page_size=limit, sort_by="created_at desc", experiment_id=experiment_id
            )
        return list(response.runs or [])
