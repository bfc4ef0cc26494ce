"""Shared fixtures: real SQLite files and real PostgreSQL databases, a data dir of its own per test."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from stockpredictor.db.engine import make_engine, migrate, normalise_url

pytest_plugins = [
    "tests.support.mlflow_server",
    "tests.support.sample_dataset",
    "tests.support.trained_model",
    "tests.support.replay",
]

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with a slow test first, the others after them, each file's tests in their own order.

    The xdist workers take a file at a time in this order (`--no-loadscope-reorder`): the long files
    start while the short ones are left to fill the end, so that neither worker idles while the other
    finishes a pipeline run alone."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


def pg_server_url() -> str:
    """A database on the test PostgreSQL server (CI gives a fresh one of its own)."""
    return normalise_url(os.environ.get("STOCKPREDICTOR_TEST_PG_URL", DEFAULT_PG_URL))


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    """AUTOCOMMIT engine on the test server, used to create and drop per-test databases."""
    engine = create_engine(pg_server_url(), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # the server is part of the test environment
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {pg_server_url()}: {exc}")
    yield engine
    engine.dispose()


def create_pg_database(admin: Engine) -> str:
    """A new empty database on the test server; returns its URL."""
    name = f"sp_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return make_url(pg_server_url()).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(admin: Engine, url: str) -> None:
    name = make_url(url).database
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def pg_url(pg_admin: Engine) -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database (dropped afterwards)."""
    url = create_pg_database(pg_admin)
    yield url
    drop_pg_database(pg_admin, url)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every store test runs on a real SQLite file and on a real PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated engine on the parametrised store."""
    engine = make_engine(db_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def mlflow_store_template(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty embedded MLflow store (sqlite): its schema takes seconds to create, a copy milliseconds.

    It is made once per MLflow version and kept in pytest's cache (.pytest_cache) for later sessions;
    each worker of a session that finds none makes its own and publishes it with an atomic rename."""
    folder = tmp_path_factory.mktemp("mlflow-store")
    cache: pytest.Cache | None = getattr(request.config, "cache", None)  # None under -p no:cacheprovider
    cached = (cache.mkdir("mlflow-store") if cache else folder) / f"mlflow-{mlflow.__version__}.db"
    if not cached.exists():
        path = folder / "new.db"
        MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()  # creates the schema
        staged = cached.with_name(f"{uuid.uuid4().hex}.db")
        shutil.copyfile(path, staged)
        os.replace(staged, cached)
    return cached


def copy_mlflow_store(template: Path, folder: Path) -> str:
    """A private copy of the empty MLflow store `template` in `folder`; returns its tracking URI."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mlflow.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never let a test touch the developer's data/ folder or their configured store."""
    monkeypatch.setenv("STOCKPREDICTOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("STOCKPREDICTOR_DATABASE_URL", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
