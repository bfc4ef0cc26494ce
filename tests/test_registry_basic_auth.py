"""The registry behind MLflow's basic-auth app (docs/security.md), on a real `mlflow server --app-name
basic-auth`: the Secret's credentials work; a wrong password or none is exit 8 and one line naming the
URL (README: "401/403 … ends a command with exit 8"), the password never shown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import copy_mlflow_store
from tests.support.cli import invoke
from tests.support.mlflow_server import MlflowServer, free_port, server_command

pytestmark = pytest.mark.slow  # starts an MLflow server of its own

ADMIN, PASSWORD = "admin-from-secret", "a-password-of-16+"  # MLflow refuses admin passwords under 12


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory, mlflow_store_template: Path) -> Iterator[str]:
    """`mlflow server --app-name basic-auth` on an SQLite store (a copy of an empty one, so the server
    does not migrate it), its admin made at first start."""
    folder = tmp_path_factory.mktemp("mlflow-basic-auth")
    config = folder / "basic_auth.ini"
    config.write_text(
        "[mlflow]\n"
        "default_permission = NO_PERMISSIONS\n"
        f"database_uri = sqlite:///{folder / 'auth.db'}\n"
        "admin_username = unused\n"
        "admin_password = unused\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    env = {  # as manifests/base/mlflow.yaml passes the Secret's credentials
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        "MLFLOW_AUTH_ADMIN_USERNAME": ADMIN,
        "MLFLOW_AUTH_ADMIN_PASSWORD": PASSWORD,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-secret-key",
    }
    port, store = free_port(), copy_mlflow_store(mlflow_store_template, folder)
    command = server_command(port, store, folder / "artifacts", "--app-name", "basic-auth")
    server = MlflowServer(command, port, store, folder / "server.log", env=env)
    try:
        yield server.url
    finally:
        server.stop()


def _production_model(url: str, **credentials: str) -> tuple[int, str, str]:
    result = invoke("production-model", env={"MLFLOW_TRACKING_URI": url, **credentials})
    return result.exit_code, result.stdout.strip(), result.stderr.strip()


def test_the_secrets_credentials_read_the_registry(auth_server: str) -> None:
    code, stdout, _ = _production_model(
        auth_server, MLFLOW_TRACKING_USERNAME=ADMIN, MLFLOW_TRACKING_PASSWORD=PASSWORD
    )
    assert (code, stdout.splitlines()[-1]) == (0, "none")  # reached: nothing promoted yet


@pytest.mark.parametrize(
    "credentials",
    [{"MLFLOW_TRACKING_USERNAME": ADMIN, "MLFLOW_TRACKING_PASSWORD": "wrong-password-0"}, {}],
    ids=["wrong password", "no credentials"],
)
def test_refused_credentials_are_exit_8_in_one_line(auth_server: str, credentials: dict[str, str]) -> None:
    code, _, stderr = _production_model(auth_server, **credentials)
    assert code == 8, stderr
    line = stderr.splitlines()[-1]
    assert line.startswith("error: ") and auth_server in line and "HTTP 401" in line, line
    assert "Traceback" not in stderr and "wrong-password-0" not in stderr
