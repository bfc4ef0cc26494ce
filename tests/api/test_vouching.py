"""The API refuses what it cannot vouch for: data from a store of another schema revision (503, the
words of /readyz), and requests naming a Host it does not serve (400; the probes excepted)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import httpx
import pytest
from alembic import command
from fastapi.testclient import TestClient

from stockpredictor.api import create_app
from stockpredictor.api.hosts import default_allowed_hosts
from stockpredictor.config import Params, Settings
from stockpredictor.db.engine import alembic_config, current_revision, head_revision, make_engine
from tests.api.conftest import ENDPOINTS
from tests.support.api_server import serving

DATA_ENDPOINTS = [e.replace("{ticker}", "IBM") for e in ENDPOINTS if e not in ("/livez", "/readyz")]
SCHEMA_DIFFERS = "store schema differs from this server's"


def test_data_endpoints_answer_503_on_a_store_of_an_older_migration(
    tmp_path: Path, sqlite_store: Settings, api_params: Params
) -> None:
    path = tmp_path / "older.db"
    shutil.copy(sqlite_store.database_url.removeprefix("sqlite:///"), path)
    engine = make_engine(f"sqlite:///{path}")
    command.downgrade(alembic_config(engine), "-1")
    assert current_revision(engine) not in (None, head_revision())
    engine.dispose()
    settings = dataclasses.replace(sqlite_store, database_url=f"sqlite:///{path}")
    with TestClient(create_app(settings, api_params)) as client:
        ready = client.get("/readyz")
        answers = {endpoint: client.get(endpoint) for endpoint in DATA_ENDPOINTS}
    assert ready.status_code == 503 and SCHEMA_DIFFERS in ready.json()["detail"]
    assert {e: (a.status_code, a.json()) for e, a in answers.items()} == {
        e: (503, {"detail": SCHEMA_DIFFERS}) for e in DATA_ENDPOINTS
    }


@pytest.mark.parametrize(
    ("host", "allowed"), [("localhost", True), ("127.0.0.1:8000", True), ("evil.example", False)]
)
def test_only_the_bind_address_and_localhost_are_answered_by_default(
    host: str, allowed: bool, sqlite_store: Settings, api_params: Params
) -> None:
    app = create_app(sqlite_store, api_params, allowed_hosts=default_allowed_hosts("127.0.0.1"))
    with TestClient(app, base_url=f"http://{host}") as client:
        answers = [client.get(path) for path in ("/tickers", "/", "/docs")]
        probes = [client.get(path) for path in ("/livez", "/readyz")]
    assert all((a.status_code == 400) is not allowed for a in answers), [a.text for a in answers]
    assert [p.status_code for p in probes] == [200, 200]


def test_serve_allowed_host_replaces_the_default(sqlite_store: Settings) -> None:
    with serving(sqlite_store, "--allowed-host", "api.example") as server:
        named = httpx.get(server.url + "/tickers", headers={"Host": "api.example"}, timeout=10)
        local = httpx.get(server.url + "/tickers", timeout=10)
    assert named.status_code == 200 and local.status_code == 400
