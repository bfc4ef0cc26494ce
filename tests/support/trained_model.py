"""pytest plugin: one model trained on the sample dataset per session and store kind, copied per test.

`trained` is what `train_with(engine, tiny_params(), settings, run_id)` leaves on a fresh sample store:
version 1 of MODEL_NAME registered in an embedded MLflow store, its run, manifest and test predictions
in the store. The training runs once per session (per database kind); each test gets a private copy of
both stores, SQLite by default or PostgreSQL for a test parametrised
`@pytest.mark.parametrize("trained", BOTH_STORES, indirect=True)`, and MLflow pointed at its copy.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from stockpredictor import registry
from stockpredictor.config import Settings
from stockpredictor.db.engine import make_engine
from stockpredictor.stages.train import TrainResult
from tests.conftest import copy_mlflow_store
from tests.support.sample_dataset import (
    SampleStore,
    copy_pg_database,
    copy_sqlite_store,
    tiny_params,
    train_with,
)


@dataclass(frozen=True)
class Trained:
    """A private sample store holding a trained, registered model, and the settings that reach it."""

    store: SampleStore
    settings: Settings
    result: TrainResult


@dataclass(frozen=True)
class _Template:
    """A trained store: `database` (an SQLite file or a PostgreSQL database name) and its MLflow folder."""

    database: str
    mlflow_folder: Path
    run_id: str
    result: TrainResult


def _train_template(database_url: str, database: str, run_id: str, folder: Path, template: Path) -> _Template:
    mlflow_folder = folder / "mlflow"
    settings = Settings(folder / "data", database_url, copy_mlflow_store(template, mlflow_folder))
    engine = make_engine(database_url)
    result = train_with(engine, tiny_params(), settings, run_id)
    engine.dispose()  # checkpoints an SQLite WAL; a PostgreSQL template must have no connection
    return _Template(database, mlflow_folder, run_id, result)


@pytest.fixture(scope="session")
def _trained_sqlite(
    _sample_store_file: tuple[Path, str],
    mlflow_store_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> _Template:
    sample, run_id = _sample_store_file
    folder = tmp_path_factory.mktemp("trained-sqlite")
    store = folder / "store.db"
    shutil.copyfile(sample, store)
    return _train_template(f"sqlite:///{store}", str(store), run_id, folder, mlflow_store_template)


@pytest.fixture(scope="session")
def _trained_postgresql(
    request: pytest.FixtureRequest, mlflow_store_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> _Template:
    url, run_id = copy_pg_database(request, *request.getfixturevalue("_sample_store_template"))
    folder = tmp_path_factory.mktemp("trained-postgresql")
    return _train_template(url, str(make_url(url).database), run_id, folder, mlflow_store_template)


def copy_mlflow_folder(source: Path, target: Path) -> str:
    """A copy of the embedded MLflow store folder `source` (database and `mlartifacts/`) at `target`,
    every absolute path its database records moved along; returns its tracking URI."""
    shutil.copytree(source, target)
    database = target / "mlflow.db"
    with closing(sqlite3.connect(database)) as conn, conn:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for column in conn.execute(f'PRAGMA table_info("{table}")'):
                name, kind = column[1], column[2].upper()
                if "CHAR" in kind or "TEXT" in kind:
                    moved = f'UPDATE "{table}" SET "{name}" = replace("{name}", ?, ?)'
                    conn.execute(
                        f'{moved} WHERE instr("{name}", ?) > 0', (str(source), str(target), str(source))
                    )
    return f"sqlite:///{database}"


@pytest.fixture
def trained(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Trained]:
    """A private copy of the session's trained sample store (see the module's docstring)."""
    kind = getattr(request, "param", "sqlite")
    template: _Template = request.getfixturevalue(f"_trained_{kind}")
    if kind == "postgresql":
        url, _ = copy_pg_database(request, template.database, template.run_id)
    else:
        url = copy_sqlite_store(Path(template.database), tmp_path)
    settings = Settings(
        tmp_path / "data", url, copy_mlflow_folder(template.mlflow_folder, tmp_path / "mlflow")
    )
    registry.use_tracking(settings)
    engine: Engine = make_engine(url)
    yield Trained(SampleStore(url, engine, template.run_id), settings, template.result)
    engine.dispose()
