"""pytest plugin: the training tests' dataset (sample data, 4 stocks, 2000-04..2006-12, 10-day windows).

Used by the training-stage, evaluation, registry and CLI tests, each on a private copy with a private
empty MLflow store. Raw data is ingested up to LATEST so that promotion windows lie after the
dataset's as_of: models are scored there on days they never saw.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from stockpredictor.config import Params, Settings
from stockpredictor.db.engine import make_engine, migrate
from stockpredictor.db.optimization import OptimizationRecord, save_optimization
from stockpredictor.db.schema import raw_stock_data
from stockpredictor.stages.ingest import ingest
from stockpredictor.stages.process import process
from stockpredictor.stages.scale import scale
from stockpredictor.stages.train import TrainResult, train
from tests.conftest import copy_mlflow_store, create_pg_database, drop_pg_database, pg_server_url
from tests.support.overrides import SAMPLE_DATASET, repo_params

DATASET_AS_OF = date(2006, 12, 29)
LATEST = date(2007, 6, 29)
MODEL_NAME = "StockPricePredictorLSTM"
# One hidden layer of 16 units: trains in well under a second per model.
SMALL_LSTM: dict[str, Any] = {
    "architecture": "lstm",
    "hidden_size": 16,
    "num_layers": 1,
    "dropout": 0.0,
    "learning_rate": 1e-2,
    "batch_size": 64,
}


def tiny_params(*overrides: str) -> Params:
    """The repository's params.yaml with the SAMPLE_DATASET settings (and `overrides` on top)."""
    return repo_params(*SAMPLE_DATASET, *overrides)


def add_sample_dataset(engine: Engine, params: Params) -> str:
    """Ingest the sample data up to LATEST, process up to DATASET_AS_OF, scale; returns the dataset run id."""
    ingest(engine, params, LATEST)
    run_id = process(engine, params, DATASET_AS_OF).dataset_run_id
    scale(engine, params, run_id)
    return run_id


def store_hyperparameters(engine: Engine, run_id: str, **hyperparameters: Any) -> None:
    """Store SMALL_LSTM (with `hyperparameters` on top) as the dataset's optimization result."""
    record = OptimizationRecord(run_id, "test", {**SMALL_LSTM, **hyperparameters}, 0.0, 1, 0)
    with engine.begin() as conn:
        save_optimization(conn, record)


def train_with(
    engine: Engine, params: Params, settings: Settings, run_id: str, **hyperparameters: Any
) -> TrainResult:
    """`train` on hyperparameters stored as the dataset's optimization result (SMALL_LSTM by default)."""
    store_hyperparameters(engine, run_id, **hyperparameters)
    return train(engine, params, settings, run_id)


def delete_ticker_days(engine: Engine, ticker: str, days: list[date]) -> None:
    """Remove `ticker`'s raw rows on `days` (a halt or a feed gap)."""
    with engine.begin() as conn:
        conn.execute(
            raw_stock_data.delete().where(raw_stock_data.c.ticker == ticker, raw_stock_data.c.date.in_(days))
        )


#: For `@pytest.mark.parametrize("sample_store", BOTH_STORES, indirect=True)`: the stage on both databases.
BOTH_STORES = ["sqlite", "postgresql"]


@dataclass(frozen=True)
class SampleStore:
    url: str
    engine: Engine
    run_id: str


@pytest.fixture(scope="session")
def _sample_store_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("sample-store") / "store.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    run_id = add_sample_dataset(engine, tiny_params())
    engine.dispose()  # checkpoints the WAL into the file
    return path, run_id


@pytest.fixture(scope="session")
def _sample_store_template(pg_admin: Engine) -> Iterator[tuple[str, str]]:
    """A PostgreSQL database holding the same sample dataset, the template of per-test copies."""
    url = create_pg_database(pg_admin)
    engine = make_engine(url)
    migrate(engine)
    run_id = add_sample_dataset(engine, tiny_params())
    engine.dispose()  # a template must have no connection when it is copied
    yield str(make_url(url).database), run_id
    drop_pg_database(pg_admin, url)


def copy_pg_database(request: pytest.FixtureRequest, template: str, run_id: str) -> tuple[str, str]:
    """A private copy of the PostgreSQL database `template` (`CREATE DATABASE ... TEMPLATE`), dropped when
    `request`'s scope ends: its URL, and `run_id` passed along."""
    pg_admin: Engine = request.getfixturevalue("pg_admin")
    name = f"sp_test_{uuid.uuid4().hex[:12]}"
    with pg_admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    url = make_url(pg_server_url()).set(database=name).render_as_string(hide_password=False)
    request.addfinalizer(lambda: drop_pg_database(pg_admin, url))
    return url, run_id


def copy_sqlite_store(template: Path, folder: Path) -> str:
    """A private copy of the SQLite store `template` in `folder`; returns its URL."""
    path = folder / "store.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def sample_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SampleStore]:
    """A private copy of a store holding the scaled sample dataset: SQLite, or PostgreSQL for a test
    parametrised `@pytest.mark.parametrize("sample_store", BOTH_STORES, indirect=True)`."""
    if getattr(request, "param", "sqlite") == "postgresql":
        url, run_id = copy_pg_database(request, *request.getfixturevalue("_sample_store_template"))
    else:
        template, run_id = request.getfixturevalue("_sample_store_file")
        url = copy_sqlite_store(template, tmp_path)
    engine = make_engine(url)
    yield SampleStore(url, engine, run_id)
    engine.dispose()


@pytest.fixture
def settings(sample_store: SampleStore, mlflow_store_template: Path, tmp_path: Path) -> Settings:
    """The sample store and a private, empty embedded MLflow store (sqlite) with artifacts in tmp_path."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=sample_store.url,
        mlflow_tracking_uri=copy_mlflow_store(mlflow_store_template, tmp_path / "mlflow"),
    )
