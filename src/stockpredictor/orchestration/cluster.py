"""Publishing, running and scheduling pipelines on a Kubeflow Pipelines cluster (the real `kfp.Client`)."""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stockpredictor.errors import PipelineError

if TYPE_CHECKING:
    from kfp.dsl.graph_component import GraphComponent
    from kfp_server_api import V2beta1RecurringRun, V2beta1Run

DEFAULT_EXPERIMENT = "stockpredictor"
# KFP cron has 6 fields, seconds first; KFP evaluates it in UTC. 22:30 UTC is after the 16:00 New
# York close in summer (18:30 EDT) and winter (17:30 EST); Monday to Friday.
DEFAULT_CRON = "0 30 22 * * 1-5"
FINISHED_STATES = ("SUCCEEDED", "FAILED", "SKIPPED", "CANCELED")


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

    def publish(self, pipeline: GraphComponent, version: str | None = None) -> PublishedPipeline:
        """Compile `pipeline` and upload it (first time) or a new version of it named `version`."""
        from kfp import compiler

        display_name = pipeline.component_spec.name
        version = version or f"{display_name}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
        with tempfile.TemporaryDirectory() as tmp, _talking_to(self.host):
            package = str(Path(tmp) / f"{display_name}.yaml")
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
        pipeline: GraphComponent,
        arguments: dict[str, Any],
        experiment: str = DEFAULT_EXPERIMENT,
        version: str | None = None,
    ) -> V2beta1Run:
        """Upload `pipeline` (a new version) and start a run of it in `experiment`."""
        published = self.publish(pipeline, version)
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
        pipeline: GraphComponent,
        arguments: dict[str, Any],
        cron: str = DEFAULT_CRON,
        experiment: str = DEFAULT_EXPERIMENT,
        version: str | None = None,
        replace: bool = False,
    ) -> V2beta1RecurringRun:
        """A recurring run of `pipeline`: KFP cron (6 fields, UTC), one run at a time, no catch-up.

        With `replace`, the pipeline's other recurring runs in `experiment` are deleted once the new
        one exists (so a failure leaves the old schedule in place): the schedule moves to `version`.
        """
        if len(cron.split()) != 6:
            raise PipelineError(f"cron {cron!r} must have 6 fields, seconds first (e.g. {DEFAULT_CRON!r})")
        published = self.publish(pipeline, version)
        with _talking_to(self.host):
            experiment_id = self.client.create_experiment(experiment).experiment_id
            recurring = self.client.create_recurring_run(
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
            if replace:
                for old in self._recurring_runs(experiment_id, published.pipeline_id):
                    if old.recurring_run_id != recurring.recurring_run_id:
                        self.client.delete_recurring_run(old.recurring_run_id)
        return recurring

    def _recurring_runs(self, experiment_id: str, pipeline_id: str) -> list[V2beta1RecurringRun]:
        """Every recurring run of pipeline `pipeline_id` in experiment `experiment_id`."""
        found, token = [], ""
        while True:
            page = self.client.list_recurring_runs(
                page_token=token, page_size=100, experiment_id=experiment_id
            )
            found += [
                r
                for r in page.recurring_runs or []
                if r.pipeline_version_reference and r.pipeline_version_reference.pipeline_id == pipeline_id
            ]
            token = page.next_page_token or ""
            if not token:
                return found

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
