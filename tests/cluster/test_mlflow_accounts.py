"""MLflow's accounts on a real `mlflow server --app-name basic-auth`, configured as the cluster does.

The server gets the environment of the Deployment's `mlflow` container and the auth config file that
its init container `write-auth-config` writes; `manifests/base/mlflow-accounts.py` then runs with the
environment of the Job's `mlflow-accounts` container, both filled from one made-up Secret. The API's
reader must read what `/model` reads and nothing more; the steps' writer must register and promote;
neither may administer users.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.server.auth.client import AuthServiceClient

from stockpredictor import registry
from stockpredictor.config import Settings
from tests.cluster.assets import MANIFESTS, by_kind, pod_specs
from tests.conftest import copy_mlflow_store
from tests.support.mlflow_server import MlflowServer, free_port, server_command

#: The Secret's MLflow keys (the URI is added once the server listens). Passwords: 12+ characters.
SECRET = {
    "MLFLOW_ADMIN_USERNAME": "sp-admin",
    "MLFLOW_ADMIN_PASSWORD": "admin-password-0123",
    "MLFLOW_TRACKING_USERNAME": "sp-writer",
    "MLFLOW_TRACKING_PASSWORD": "writer-password-0123",
    "MLFLOW_READER_USERNAME": "sp-reader",
    "MLFLOW_READER_PASSWORD": "reader-password-0123",
    "MLFLOW_FLASK_SERVER_SECRET_KEY": "flask-secret-key-0123456789",
}
WRITER = (SECRET["MLFLOW_TRACKING_USERNAME"], SECRET["MLFLOW_TRACKING_PASSWORD"])
READER = (SECRET["MLFLOW_READER_USERNAME"], SECRET["MLFLOW_READER_PASSWORD"])


class Registry(NamedTuple):
    """The server after the Job ran, and the production version the writer registered there."""

    url: str
    model_name: str
    experiment_id: str
    run_id: str
    version: str
    job_outputs: tuple[str, ...]  # stdout of each run of the Job's script


def pod_env(container: dict[str, Any], secret: dict[str, str], **mounted: str) -> dict[str, str]:
    """The container's environment as its pod gets it from `secret`; `mounted` replaces the values
    that name paths of the pod's volumes."""
    env = {}
    for entry in container["env"]:
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        env[entry["name"]] = secret[ref["key"]] if ref else entry["value"]
    return env | mounted


def container(resource: dict[str, Any], name: str) -> dict[str, Any]:
    (spec,) = pod_specs(resource)
    (found,) = [c for c in spec.get("initContainers", []) + spec["containers"] if c["name"] == name]
    return found


@contextmanager
def logged_in(url: str, account: tuple[str, str]) -> Iterator[MlflowClient]:
    """An MLflow client acting as `account`, as the API and the steps log in (MLFLOW_TRACKING_*)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_USERNAME", account[0])
        env.setenv("MLFLOW_TRACKING_PASSWORD", account[1])
        registry.use_tracking(Settings(Path("."), "sqlite:///unused.db", url))
        yield MlflowClient()


def start_server(deployment: dict[str, Any], secret: dict[str, str], folder: Path) -> MlflowServer:
    """`mlflow server` as the Deployment runs it: its init container writes the auth config, then the
    server starts with the `mlflow` container's environment (the volumes' paths under `folder`)."""
    mounts = {"MLFLOW_AUTH_CONFIG_PATH": str(folder / "basic_auth.ini"), "HOME": str(folder)}
    writer = container(deployment, "write-auth-config")
    subprocess.run(
        [sys.executable, "-c", writer["args"][0]], env=pod_env(writer, secret, **mounts), check=True
    )
    port, backend = free_port(), secret["MLFLOW_BACKEND_STORE_URI"]
    return MlflowServer(
        [*server_command(port, backend, folder / "artifacts"), "--app-name", "basic-auth"],
        port,
        backend,
        folder / "server.log",
        env=pod_env(container(deployment, "mlflow"), secret, **mounts),
    )


def run_job_script(job: dict[str, Any], secret: dict[str, str], params: Path) -> str:
    """Run mlflow-accounts.py with the environment of the Job's container; its stdout."""
    env = pod_env(container(job, "mlflow-accounts"), secret, STOCKPREDICTOR_PARAMS=str(params))
    done = subprocess.run(
        [sys.executable, str(MANIFESTS / "base" / "mlflow-accounts.py")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def mlflow_registry(
    kind_resources: list[dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
    mlflow_store_template: Path,
) -> Iterator[Registry]:
    folder = tmp_path_factory.mktemp("mlflow-basic-auth")
    # a copy of an empty store: the server finds its schema made instead of migrating for seconds
    secret = SECRET | {"MLFLOW_BACKEND_STORE_URI": copy_mlflow_store(mlflow_store_template, folder)}
    server = start_server(by_kind(kind_resources, "Deployment")["stockpredictor-mlflow"], secret, folder)
    try:
        secret["MLFLOW_TRACKING_URI"] = server.url
        (params_map,) = [
            c
            for n, c in by_kind(kind_resources, "ConfigMap").items()
            if n.startswith("stockpredictor-params")
        ]
        params = folder / "params.yaml"
        params.write_text(params_map["data"]["params.yaml"])
        job = by_kind(kind_resources, "Job")["stockpredictor-db-roles"]
        # Twice: the second run is `make deploy` rerunning the Job.
        outputs = tuple(run_job_script(job, secret, params) for _ in range(2))
        train = yaml.safe_load(params.read_text())["train"]
        with logged_in(server.url, WRITER) as client:
            experiment = client.get_experiment_by_name(train["experiment_name"])
            assert experiment is not None, "the Job creates the experiment"
            experiment_id = experiment.experiment_id
            run = client.create_run(experiment_id)
            client.log_param(run.info.run_id, "dataset_run_id", "dataset-1")
            client.log_metric(run.info.run_id, "test_mae", 1.5)
            # Two versions, production on the first: the reader has one to move it to.
            version, _ = (
                client.create_model_version(
                    train["model_name"], f"{run.info.artifact_uri}/model", run.info.run_id
                ).version
                for _ in range(2)
            )
            client.set_registered_model_alias(train["model_name"], registry.PRODUCTION_ALIAS, version)
        yield Registry(server.url, train["model_name"], experiment_id, run.info.run_id, version, outputs)
    finally:
        server.stop()


def test_the_job_script_succeeds_again_when_rerun(mlflow_registry: Registry) -> None:
    """Its second run finds the accounts, grants, experiment and model, and resets them."""
    assert mlflow_registry.job_outputs == ("MLflow accounts ready: sp-writer EDIT, sp-reader READ\n",) * 2


def test_the_reader_reads_what_the_model_endpoint_reads(mlflow_registry: Registry) -> None:
    with logged_in(mlflow_registry.url, READER):
        found = registry.production_model(mlflow_registry.model_name)
        assert found is not None
        assert (found.version, found.mlflow_run_id, found.dataset_run_id) == (
            int(mlflow_registry.version),
            mlflow_registry.run_id,
            "dataset-1",
        )
        assert registry.run_metrics(found.mlflow_run_id) == {"test_mae": 1.5}


REFUSED_TO_THE_READER: dict[str, Callable[[MlflowClient, Registry], object]] = {
    "create a version": lambda c, r: c.create_model_version(r.model_name, "mlflow-artifacts:/x", r.run_id),
    "move production": lambda c, r: registry.set_alias(r.model_name, int(r.version) + 1),
    "delete production": lambda c, r: c.delete_registered_model_alias(
        r.model_name, registry.PRODUCTION_ALIAS
    ),
    "tag the version": lambda c, r: c.set_model_version_tag(r.model_name, r.version, "k", "v"),
    "start a run": lambda c, r: c.create_run(r.experiment_id),
}


@pytest.mark.parametrize("action", REFUSED_TO_THE_READER.values(), ids=REFUSED_TO_THE_READER.keys())
def test_the_reader_cannot_register_or_move_an_alias(
    mlflow_registry: Registry, action: Callable[[MlflowClient, Registry], object]
) -> None:
    with logged_in(mlflow_registry.url, READER) as client:
        with pytest.raises(MlflowException) as refused:
            action(client, mlflow_registry)
        assert refused.value.error_code == "PERMISSION_DENIED", refused.value
        aliases = client.get_registered_model(mlflow_registry.model_name).aliases
    assert aliases == {registry.PRODUCTION_ALIAS: mlflow_registry.version}


def test_the_writer_registers_a_version_and_moves_production(mlflow_registry: Registry) -> None:
    name = mlflow_registry.model_name
    with logged_in(mlflow_registry.url, WRITER) as client:
        source = f"{client.get_run(mlflow_registry.run_id).info.artifact_uri}/model"
        newer = int(client.create_model_version(name, source, mlflow_registry.run_id).version)
        registry.set_alias(name, newer)
        production = registry.production_model(name)
        assert production is not None and production.version == newer
        registry.set_alias(name, int(mlflow_registry.version))  # back, for the other tests


def test_the_reader_may_create_a_model_of_its_own_as_mlflow_lets_every_user(
    mlflow_registry: Registry,
) -> None:
    """MLflow's basic-auth app checks no permission to create a registered model (or an experiment):
    the reader gets one it manages, which nothing of ours reads (docs/security.md)."""
    with logged_in(mlflow_registry.url, READER) as client:
        client.create_registered_model("ReadersOwnModel")
        with pytest.raises(MlflowException) as refused:
            client.create_registered_model(mlflow_registry.model_name)
        assert refused.value.error_code == "RESOURCE_ALREADY_EXISTS", refused.value
        assert client.get_registered_model(mlflow_registry.model_name).aliases == {
            registry.PRODUCTION_ALIAS: mlflow_registry.version
        }


@pytest.mark.parametrize("account", [WRITER, READER], ids=["writer", "reader"])
def test_neither_account_administers_users(mlflow_registry: Registry, account: tuple[str, str]) -> None:
    with logged_in(mlflow_registry.url, account):
        auth = AuthServiceClient(mlflow_registry.url)
        with pytest.raises(MlflowException) as refused:
            auth.create_user("intruder", "intruder-password-0123")
        assert refused.value.error_code == "PERMISSION_DENIED", refused.value
        with pytest.raises(MlflowException) as refused:
            auth.update_user_admin(account[0], True)
        assert refused.value.error_code == "PERMISSION_DENIED", refused.value
