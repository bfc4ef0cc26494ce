"""MLflow outages end a command with exit 8 and one line naming the URL with its password hidden, in
bounded time: real failing HTTP servers, a refused socket, the real PostgreSQL refusing, unusable paths."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from typer.testing import Result

from stockpredictor.config import Params, Settings
from stockpredictor.errors import RegistryUnavailableError
from stockpredictor.orchestration.runtime import reported_errors
from stockpredictor.stages.production_model import production_model
from tests.conftest import pg_server_url
from tests.support.cli import command, invoke
from tests.support.failing_http import failing_server
from tests.support.mlflow_server import free_port

PASSWORD = "s3cr3tPW"
#: One retry of at most 1 s (the defaults, 3 tries of 10 s, are measured in the closing note).
FAST_HTTP = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "1"}


def with_password(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://user:{PASSWORD}@{rest}"


def production_model_with(uri: str, **env: str) -> Result:
    return invoke("production-model", env={"MLFLOW_TRACKING_URI": uri, **FAST_HTTP, **env})


def the_one_line(result: Result, uri: str) -> str:
    """The error line of an outage of `uri`; nothing printed holds the password or a traceback."""
    assert result.exit_code == RegistryUnavailableError.exit_code, result.output
    assert PASSWORD not in result.output and "Traceback" not in result.output
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: MLflow registry {uri.replace(PASSWORD, '***')} (MLFLOW_TRACKING_URI): ")
    return line


@pytest.fixture
def refused_url() -> str:
    """An HTTP URL on a local port nobody listens on (connection refused)."""
    return with_password(f"http://127.0.0.1:{free_port()}")


@pytest.mark.parametrize(
    ("status", "delay", "says"),
    [
        (401, 0.0, "refused the credentials (HTTP 401)"),
        (403, 0.0, "denied the request (HTTP 403)"),
        (503, 0.0, "the server answered HTTP 503 (2 tries)"),
        (500, 0.0, "the server answered HTTP 500 (2 tries)"),
        (200, 3.0, "no answer within 1 s (2 tries, MLFLOW_HTTP_REQUEST_TIMEOUT)"),
    ],
)
def test_a_failing_http_server_is_one_line(status: int, delay: float, says: str) -> None:
    with failing_server(status, delay) as url:
        uri = with_password(url)
        assert says in the_one_line(production_model_with(uri), uri)


def test_a_refused_http_server_is_one_line(refused_url: str) -> None:
    line = the_one_line(production_model_with(refused_url), refused_url)
    assert "unreachable (Connection refused; 2 tries)" in line


def test_a_server_failing_after_the_first_request_is_one_line_too() -> None:
    """The first read answers; the model lookup that follows gets 503: the face turns it into one line."""
    with failing_server(503, healthy_paths=("experiments/search",)) as url:
        uri = with_password(url)
        assert "the server answered HTTP 503" in the_one_line(production_model_with(uri), uri)


@pytest.mark.parametrize("status", [0, 401])
def test_no_password_reaches_stderr_even_with_debug_logs(status: int, refused_url: str) -> None:
    with failing_server(status or 500) as url:
        uri = with_password(url) if status else refused_url
        result = subprocess.run(
            [*command(), "--verbose", "production-model"],
            env={**os.environ, "MLFLOW_TRACKING_URI": uri, **FAST_HTTP},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == RegistryUnavailableError.exit_code, result.stderr
    assert PASSWORD not in result.stderr + result.stdout and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: MLflow registry http://user:***@")


def test_a_kfp_task_ends_with_the_same_line(
    refused_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in FAST_HTTP.items():
        monkeypatch.setenv(name, value)
    settings = Settings(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", refused_url)
    with pytest.raises(SystemExit) as ended, reported_errors():
        production_model(Params(), settings)
    assert ended.value.code == RegistryUnavailableError.exit_code
    err = capsys.readouterr().err
    assert PASSWORD not in err
    assert err.strip().splitlines()[-1].startswith("error: MLflow registry http://user:***@127.0.0.1:")


@pytest.fixture
def pg_registry_urls() -> Iterator[tuple[str, str]]:
    """A database the real PostgreSQL does not have, and a port where no PostgreSQL listens."""
    server = make_url(pg_server_url()).set(password=PASSWORD)
    yield (
        server.set(database="sp_no_such_database").render_as_string(hide_password=False),
        server.set(port=free_port()).render_as_string(hide_password=False),
    )


def test_a_database_backend_that_refuses_is_one_line(pg_registry_urls: tuple[str, str]) -> None:
    missing, refused = pg_registry_urls
    assert "does not exist" in the_one_line(production_model_with(missing), missing)
    assert "Connection refused" in the_one_line(production_model_with(refused), refused)


def test_a_database_backend_without_its_driver_is_one_line() -> None:
    uri = f"mysql://user:{PASSWORD}@127.0.0.1:{free_port()}/mlflow"
    assert "its database driver is not installed" in the_one_line(production_model_with(uri), uri)


def test_unusable_sqlite_and_file_paths_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("")
    cases = {
        f"sqlite:///{tmp_path}": f"{tmp_path} is a folder",
        f"sqlite:///{tmp_path / 'a_file' / 'mlflow.db'}": f"{tmp_path / 'a_file'} is a file, not a folder",
        "sqlite:////proc/no_such_process/mlflow.db": "cannot create the folder /proc/no_such_process",
        "file:///proc/no_such_folder": "MLflow cannot use it (The filesystem tracking backend",
    }
    for uri, says in cases.items():
        assert says in the_one_line(production_model_with(uri), uri), uri
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_the_http_defaults_bound_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """3 tries of 10 s at most (an explicit setting wins)."""
    from stockpredictor import registry

    for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    with failing_server(503) as url, pytest.raises(RegistryUnavailableError, match=r"HTTP 503 \(3 tries\)"):
        registry.use_tracking(Settings(Path("."), "sqlite:///unused.db", url))
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "10"
    assert os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] == "0"
