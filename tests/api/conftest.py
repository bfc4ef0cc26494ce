"""Stores and registries behind the API tests.

The browser test, the fuzzing and the end-to-end API tests read the shared replay of real daily runs
(`replayed`, tests/support/replay.py). `store`: a store filled by hand with two models' predictions on
SQLite and on PostgreSQL, for exact expectations on both backends.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from sqlalchemy import Engine

from stockpredictor.api import create_app
from stockpredictor.calendar import next_trading_day, trading_days
from stockpredictor.config import Params, Settings
from stockpredictor.db.engine import make_engine, migrate
from stockpredictor.db.predictions import upsert_predictions
from stockpredictor.db.prices import load_prices
from stockpredictor.db.promotions import PromotionRecord, record_promotion
from stockpredictor.registry import PRODUCTION_ALIAS
from stockpredictor.stages.ingest import ingest
from stockpredictor.stages.monitor import monitor_model
from tests.conftest import copy_mlflow_store, create_pg_database, drop_pg_database
from tests.support.overrides import SAMPLE_TICKERS, repo_params

TICKERS = SAMPLE_TICKERS
AS_OF = date(2012, 6, 29)  # a Friday: its predictions target Monday 2012-07-02 (no close stored yet)
PREDICTION_DAYS = 25  # the old model predicted the first OLD_DAYS of them, production the rest
OLD_DAYS = 10
ENDPOINTS = (
    "/livez",
    "/readyz",
    "/tickers",
    "/predictions/latest",
    "/predictions/{ticker}",
    "/performance",
    "/monitoring/decisions",
    "/model",
)  # every documented path of the API


@dataclass(frozen=True)
class Registry:
    """The MLflow store and the run ids of the two registered versions (version 2 is in production)."""

    tracking_uri: str
    old_run_id: str
    production_run_id: str
    dataset_run_id: str = "dataset-for-api-tests"


@pytest.fixture(scope="session")
def api_params() -> Params:
    return repo_params("data.start=2011-01-03")


@pytest.fixture(scope="session")
def registry(
    tmp_path_factory: pytest.TempPathFactory, mlflow_store_template: Path, api_params: Params
) -> Registry:
    """Two versions of the model registered from runs with test metrics; version 2 aliased production."""
    uri = copy_mlflow_store(mlflow_store_template, tmp_path_factory.mktemp("mlflow"))
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("api-tests")
    name = api_params.train.model_name
    client.create_registered_model(name)
    run_ids = []
    for test_mae in (1.5, 1.2):
        run = client.create_run(experiment)
        client.log_param(run.info.run_id, "dataset_run_id", Registry.dataset_run_id)
        for key, value in {
            "test_mae": test_mae,
            "test_persistence_mae": 1.3,
            "test_mae_ratio": math.nan,
        }.items():
            client.log_metric(run.info.run_id, key, value)
        client.set_terminated(run.info.run_id)
        client.create_model_version(name, source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
        run_ids.append(run.info.run_id)
    client.set_registered_model_alias(name, PRODUCTION_ALIAS, "2")
    return Registry(uri, *run_ids)


def fill_store(engine: Engine, params: Params, registry: Registry) -> None:
    """Sample prices up to AS_OF, daily predictions of both models, their evaluations and the promotion."""
    ingest(engine, params, AS_OF)
    days = trading_days(date(2012, 1, 1), AS_OF)[-PREDICTION_DAYS:]
    with engine.connect() as conn:
        prices = load_prices(conn, params.data.tickers, AS_OF, start=days[0])
    now = datetime.now(UTC)
    rows = []
    for i, day in enumerate(days):
        run_id, version = (registry.old_run_id, "1") if i < OLD_DAYS else (registry.production_run_id, "2")
        for j, ticker in enumerate(params.data.tickers):
            close = float(prices[ticker]["close"].loc[str(day)])
            rows.append(
                {
                    "kind": "daily",
                    "model_run_id": run_id,
                    "model_version": version,
                    "ticker": ticker,
                    "as_of_date": day,
                    "target_date": next_trading_day(day),
                    "last_close": close,
                    "predicted_close": close * (1 + 0.01 * math.sin(i + 2 * j)),
                    "created_at": now,
                }
            )
    with engine.begin() as conn:
        upsert_predictions(conn, rows)
        record_promotion(
            conn,
            PromotionRecord(
                now,
                params.train.model_name,
                registry.production_run_id,
                2,
                1,
                "promoted",
                "beats production and persistence",
                {},
            ),
        )
    monitor_model(engine, params, registry.production_run_id, AS_OF)


def _store_settings(url: str, data_dir: Path, params: Params, registry: Registry) -> Settings:
    engine = make_engine(url)
    migrate(engine)
    fill_store(engine, params, registry)
    engine.dispose()
    return Settings(data_dir=data_dir, database_url=url, mlflow_tracking_uri=registry.tracking_uri)


@pytest.fixture(scope="session")
def sqlite_store(
    tmp_path_factory: pytest.TempPathFactory, api_params: Params, registry: Registry
) -> Settings:
    """Settings of a filled SQLite store."""
    folder = tmp_path_factory.mktemp("api-sqlite")
    return _store_settings(f"sqlite:///{folder / 'store.db'}", folder, api_params, registry)


@pytest.fixture(scope="session")
def postgresql_store(
    tmp_path_factory: pytest.TempPathFactory, pg_admin: Engine, api_params: Params, registry: Registry
) -> Iterator[Settings]:
    """Settings of a filled PostgreSQL store (the database is dropped at the end of the session)."""
    url = create_pg_database(pg_admin)
    yield _store_settings(url, tmp_path_factory.mktemp("api-pg"), api_params, registry)
    drop_pg_database(pg_admin, url)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> Settings:
    """Every API test runs on a filled SQLite store and on a filled PostgreSQL store."""
    return request.getfixturevalue(f"{request.param}_store")


@pytest.fixture
def client(store: Settings, api_params: Params) -> Iterator[TestClient]:
    with TestClient(create_app(store, api_params)) as test_client:
        yield test_client
