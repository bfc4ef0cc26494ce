"""`stockpredictor serve` as a subprocess on 127.0.0.1, for the tests that need the real server."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest

from stockpredictor.config import DATA_DIR_ENV, DATABASE_URL_ENV, MLFLOW_URI_ENV, Settings
from tests.conftest import REPO
from tests.support.cli import command


@dataclass(frozen=True)
class Server:
    """A running server: its process, port and base URL."""

    process: subprocess.Popen[str]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(
    settings: Settings, *serve_options: str, overrides: Sequence[str] = (), ready: str = "/readyz"
) -> Iterator[Server]:
    """`stockpredictor serve` on `settings` until the block ends; yields once `ready` answers 200."""
    port = free_port()
    env = {
        **os.environ,
        DATA_DIR_ENV: str(settings.data_dir),
        DATABASE_URL_ENV: settings.database_url,
        MLFLOW_URI_ENV: settings.mlflow_tracking_uri,
    }
    # a file, not a pipe: a busy server must never block on its log
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [*command(*overrides), "serve", "--port", str(port), *serve_options],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=log,
            text=True,
        )
        server = Server(process, port)
        try:
            while True:  # until it answers or exits; a hang is pytest-timeout's to catch
                try:
                    if httpx.get(server.url + ready, timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None:
                    log.seek(0)
                    pytest.fail(f"`stockpredictor serve` did not come up: {log.read()[-2000:]}")
                time.sleep(0.2)
            yield server
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
