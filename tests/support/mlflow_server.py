"""pytest plugin: one real `mlflow server` per test session, PostgreSQL backend store, proxied artifacts.

The server starts when the `mlflow_server` fixture is first requested and is only waited for when a
test reads `.url` (it takes 7-16 s to answer /health), so it can boot while other tests run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.conftest import create_pg_database, drop_pg_database


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(port: int, backend_store_uri: str, artifacts: Path, *options: str) -> list[str]:
    """`mlflow server` on 127.0.0.1:`port`, one worker, serving its artifacts; `options` added."""
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        backend_store_uri,
        "--serve-artifacts",
        "--artifacts-destination",
        artifacts.as_uri(),
        *options,
    ]


class MlflowServer:
    """A running MLflow server process on 127.0.0.1:`port`; `url` blocks until it answers /health.

    `command` starts it (`mlflow server ...`, `make mlflow-ui`) on the backend store
    `backend_store_uri`; `env` is added to this process's environment.
    """

    def __init__(
        self,
        command: Sequence[str],
        port: int,
        backend_store_uri: str,
        log_path: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.address = f"http://127.0.0.1:{port}"
        self.backend_store_uri = backend_store_uri
        self.log_path = log_path
        self._healthy = False
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            command,
            # No job runner: it starts 8 more processes (each importing mlflow) for GenAI jobs we never run.
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(env or {})},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopping it stops its workers too
        )

    @property
    def url(self) -> str:
        if not self._healthy:
            self._wait_healthy()
        return self.address

    def _wait_healthy(self) -> None:
        while True:  # until it answers or exits; a hang is pytest-timeout's to catch
            if self.process.poll() is not None:
                pytest.fail(f"mlflow server exited with {self.process.returncode}:\n{self._log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.address}/health", timeout=2) as response:
                    if response.status == 200:
                        self._healthy = True
                        return
            except OSError:
                time.sleep(0.1)

    def _log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


@pytest.fixture(scope="session")
def mlflow_server(pg_admin: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A real MLflow tracking server on 127.0.0.1 with a fresh PostgreSQL database as backend store."""
    backend = create_pg_database(pg_admin)
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    command = server_command(port, backend, folder / "artifacts")
    server = MlflowServer(command, port, backend, folder / "server.log")
    try:
        yield server
    finally:
        server.stop()
        drop_pg_database(pg_admin, backend)


@pytest.fixture(scope="session", autouse=True)
def _boot_mlflow_server(request: pytest.FixtureRequest) -> None:
    """Start the shared MLflow server at the first test when a selected test needs it (it boots meanwhile)."""
    if not any("mlflow_server" in getattr(item, "fixturenames", ()) for item in request.session.items):
        return
    with contextlib.suppress(pytest.skip.Exception):  # no PostgreSQL: the server tests skip themselves
        request.getfixturevalue("mlflow_server")
