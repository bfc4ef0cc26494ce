"""The API on the cluster's reader role (manifests/base/db-reader.sql, run as the Job runs it): every
endpoint answers what it answers on the database's owner, from a role that can only read."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from stockpredictor.api import create_app
from stockpredictor.config import Params, Settings
from tests.api.conftest import ENDPOINTS, TICKERS
from tests.conftest import REPO
from tests.support.psql import run_psql

READER_SQL = REPO / "manifests" / "base" / "db-reader.sql"


@pytest.fixture
def reader_store(postgresql_store: Settings, pg_admin: Engine) -> Iterator[Settings]:
    """The filled PostgreSQL store, as a new reader role created by db-reader.sql sees it."""
    url = make_url(postgresql_store.database_url)
    reader = f"sp_role_reader_{uuid.uuid4().hex[:10]}"
    names = {"DB_READER": reader, "DB_NAME": str(url.database), "DB_ROLE": str(url.username)}
    result = run_psql(READER_SQL, **names, DB_READER_PASSWORD=f"pw-{uuid.uuid4().hex}")
    assert result.returncode == 0, result.stderr
    yield dataclasses.replace(
        postgresql_store,
        database_url=url.set(username=reader, password=None).render_as_string(hide_password=False),
    )
    owner = create_engine(url, poolclass=NullPool)
    with owner.begin() as conn:  # its grants in the store's database, then the role
        conn.execute(text(f'DROP OWNED BY "{reader}"'))
    owner.dispose()
    with pg_admin.connect() as conn:
        conn.execute(text(f'DROP ROLE "{reader}"'))


def test_every_endpoint_answers_from_the_reader_role_as_from_the_owner(
    postgresql_store: Settings, reader_store: Settings, api_params: Params
) -> None:
    paths = [path.replace("{ticker}", TICKERS[0]) for path in ENDPOINTS]
    with (
        TestClient(create_app(postgresql_store, api_params)) as owner,
        TestClient(create_app(reader_store, api_params)) as reader,
    ):
        for path in paths:
            expected, answered = owner.get(path), reader.get(path)
            assert answered.status_code == expected.status_code == 200, (path, answered.text)
            assert answered.json() == expected.json(), path
