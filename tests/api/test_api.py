"""The API on filled SQLite and PostgreSQL stores: values match the tables, errors are 404/422/503."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import sqlite3
import tomllib
from datetime import date
from pathlib import Path, PurePosixPath
from typing import get_args

import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from stockpredictor.api import create_app
from stockpredictor.api.app import STATIC_DIR, ApiState
from stockpredictor.api.cache import AnswerCache
from stockpredictor.api.models import MonitorDecision
from stockpredictor.api.shedding import Limits
from stockpredictor.calendar import next_trading_day
from stockpredictor.config import Params, Settings
from stockpredictor.db.engine import VERSION_TABLE
from stockpredictor.models.retraining_policy import DECISIONS
from stockpredictor.registry import PRODUCTION_ALIAS
from stockpredictor.stages.common import store_engine
from stockpredictor.stages.monitor import monitor_model
from tests.api.conftest import AS_OF, ENDPOINTS, OLD_DAYS, PREDICTION_DAYS, TICKERS, Registry
from tests.conftest import REPO

SVG_NS = "http://www.w3.org/2000/svg"
SWAGGER_FILES = ("favicon-32x32.png", "swagger-ui-bundle.js", "swagger-ui.css")


def test_ready_when_store_and_registry_answer(client: TestClient) -> None:
    assert client.get("/livez").json() == {"status": "alive"}
    ready = client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


def test_not_ready_names_what_is_unavailable_never_where(sqlite_store: Settings, api_params: Params) -> None:
    no_registry = dataclasses.replace(sqlite_store, mlflow_tracking_uri="http://127.0.0.1:9")
    with TestClient(create_app(no_registry, api_params)) as client:
        ready, card = client.get("/readyz"), client.get("/model")
    assert (ready.status_code, ready.json()) == (503, {"detail": "model registry unavailable"})
    assert (card.status_code, card.json()) == (503, {"detail": "model registry unavailable"})
    no_store = dataclasses.replace(sqlite_store, database_url="postgresql://nobody@127.0.0.1:9/secretdb")
    with TestClient(create_app(no_store, api_params)) as client:
        answers = [client.get(path) for path in ("/readyz", "/predictions/latest", "/tickers", "/livez")]
    assert [(a.status_code, a.json()) for a in answers] == [
        (503, {"detail": "store unavailable"}),
        (503, {"detail": "store unavailable"}),
        (503, {"detail": "store unavailable"}),
        (200, {"status": "alive"}),
    ]


@pytest.mark.parametrize("empty", ["missing", "empty file"])
def test_an_absent_sqlite_store_is_not_ready_and_not_created(
    tmp_path: Path, sqlite_store: Settings, api_params: Params, empty: str
) -> None:
    path = tmp_path / "store" / "stockpredictor.db"
    if empty == "empty file":
        path.parent.mkdir()
        path.touch()
    settings = dataclasses.replace(sqlite_store, database_url=f"sqlite:///{path}")
    with TestClient(create_app(settings, api_params)) as client:
        ready, latest = client.get("/readyz"), client.get("/predictions/latest")
    assert (ready.status_code, ready.json()) == (503, {"detail": "store not initialised"})
    assert (latest.status_code, latest.json()) == (503, {"detail": "store not initialised"})
    if empty == "missing":
        assert not path.parent.exists()
    else:
        assert path.stat().st_size == 0


def test_a_store_at_another_schema_revision_is_not_ready(
    tmp_path: Path, sqlite_store: Settings, api_params: Params
) -> None:
    path = tmp_path / "store.db"
    with sqlite3.connect(path) as db:
        db.execute(f"CREATE TABLE {VERSION_TABLE} (version_num VARCHAR(32) NOT NULL)")
        db.execute(f"INSERT INTO {VERSION_TABLE} VALUES ('9999_from_the_future')")
    settings = dataclasses.replace(sqlite_store, database_url=f"sqlite:///{path}")
    with TestClient(create_app(settings, api_params)) as client:
        ready = client.get("/readyz")
    assert (ready.status_code, ready.json()) == (503, {"detail": "store schema differs from this server's"})


@pytest.mark.postgres
def test_an_empty_postgresql_store_is_not_ready_and_stays_empty(
    pg_url: str, sqlite_store: Settings, api_params: Params
) -> None:
    settings = dataclasses.replace(sqlite_store, database_url=pg_url)
    with TestClient(create_app(settings, api_params)) as client:
        ready = client.get("/readyz")
    assert (ready.status_code, ready.json()) == (503, {"detail": "store not initialised"})
    engine = create_engine(pg_url)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_the_api_cannot_write_to_the_store(client: TestClient) -> None:
    api: ApiState = client.app.state.api  # type: ignore[attr-defined]
    with api.store.connect() as conn, pytest.raises(DBAPIError, match=r"read-?only"):
        conn.execute(text("DELETE FROM latest_predictions"))
    assert client.get("/predictions/latest").json()["predictions"]


def test_an_exhausted_connection_pool_answers_busy(sqlite_store: Settings, api_params: Params) -> None:
    app = create_app(sqlite_store, api_params, Limits(concurrency=1))
    api: ApiState = app.state.api
    with TestClient(app) as client:
        with api.store.connect():  # the pool's only connection
            busy = client.get("/tickers")
        served = client.get("/tickers")
    assert (busy.status_code, busy.json(), busy.headers["retry-after"]) == (
        503,
        {"detail": "server busy"},
        "1",
    )
    assert served.status_code == 200


def test_tickers_lists_price_ranges_and_latest_prediction(client: TestClient) -> None:
    body = client.get("/tickers").json()
    assert [t["ticker"] for t in body] == list(TICKERS)
    assert all(t["first_price_date"] == "2011-01-03" and t["last_price_date"] == str(AS_OF) for t in body)
    assert {t["latest_prediction_as_of"] for t in body} == {str(AS_OF)}


def test_latest_predictions_are_the_newest_per_ticker(client: TestClient, registry: Registry) -> None:
    body = client.get("/predictions/latest").json()
    assert body["as_of_date"] == str(AS_OF)
    assert [p["ticker"] for p in body["predictions"]] == list(TICKERS)
    for p in body["predictions"]:
        assert p["target_date"] == str(next_trading_day(AS_OF)) == "2012-07-02"
        assert p["mlflow_run_id"] == registry.production_run_id and p["model_version"] == "2"
        assert p["change_pct"] == pytest.approx(100 * (p["predicted_close"] / p["last_close"] - 1))
        expected = "up" if p["predicted_close"] > p["last_close"] else "down"
        assert p["direction"] == expected


def test_ticker_history_has_actual_closes_where_known(client: TestClient) -> None:
    body = client.get("/predictions/msft").json()
    assert body["ticker"] == "MSFT" and len(body["predictions"]) == PREDICTION_DAYS
    *matured, last = body["predictions"]
    assert last["actual_close"] is None and last["error"] is None and last["direction_correct"] is None
    for previous, p in zip(matured, body["predictions"][1:], strict=True):
        # the close of a prediction's target day is the last close of the next day's prediction
        assert p["last_close"] == previous["actual_close"]
        assert previous["error"] == pytest.approx(previous["predicted_close"] - previous["actual_close"])
    assert {p["model_version"] for p in matured[:OLD_DAYS]} == {"1"}


def test_ticker_history_filters_by_as_of_day(client: TestClient) -> None:
    body = client.get("/predictions/IBM", params={"start": "2012-06-04", "end": "2012-06-08"}).json()
    assert [p["as_of_date"] for p in body["predictions"]] == [f"2012-06-0{d}" for d in range(4, 9)]
    assert client.get("/predictions/IBM", params={"start": "2013-01-01"}).json()["predictions"] == []


@pytest.mark.parametrize("ticker", ["ZZZZ", "latest2", "A" * 40, "%00", "日本"])
def test_unknown_ticker_is_404(client: TestClient, ticker: str) -> None:
    response = client.get(f"/predictions/{ticker}")
    assert response.status_code == 404 and "unknown ticker" in response.json()["detail"]


@pytest.mark.parametrize(
    "query",
    [
        {"start": "2012-13-01"},
        {"end": "yesterday"},
        {"end": "0"},
        {"start": "2012-06-01T00:00:00"},
        {"start": "2012-06-08", "end": "2012-06-04"},
        {"start": ""},
    ],
)
def test_bad_dates_are_422(client: TestClient, query: dict[str, str]) -> None:
    response = client.get("/predictions/AAPL", params=query)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "query"


def test_performance_matches_the_monitor(
    client: TestClient, store: Settings, api_params: Params, registry: Registry
) -> None:
    body = client.get("/performance").json()
    assert body["window_days"] == api_params.monitoring.window_days
    production, old = body["models"]
    assert (production["mlflow_run_id"], production["model_version"]) == (registry.production_run_id, "2")
    assert (old["mlflow_run_id"], old["model_version"]) == (registry.old_run_id, "1")
    assert sorted(production["tickers"]) == list(TICKERS)
    window_days = PREDICTION_DAYS - OLD_DAYS - 1  # the last prediction has not matured
    assert production["overall"]["evaluations"] == window_days * len(TICKERS)
    assert old["overall"]["evaluations"] == OLD_DAYS * len(TICKERS)
    monitored = monitor_model(store_engine(store), api_params, registry.production_run_id, AS_OF).metrics
    overall = production["overall"]
    for name in (
        "mae",
        "rmse",
        "mape",
        "directional_accuracy",
        "persistence_mae",
        "persistence_mape",
        "mae_ratio",
        "log_mae",  # the scale-free loss and the paired test: the monitor's, on the same cells
        "persistence_log_mae",
        "log_mae_ratio",
        "loss_p_worse",
        "loss_p_better",
    ):
        assert overall[name] == pytest.approx(monitored[name]), name
    narrow = client.get("/performance", params={"window": 3}).json()["models"][0]["overall"]
    assert narrow["evaluations"] == 3 * len(TICKERS) and narrow["last_target_date"] == str(AS_OF)


def test_monitoring_decisions_are_the_monitors(
    client: TestClient, store: Settings, api_params: Params, registry: Registry
) -> None:
    monitored = monitor_model(store_engine(store), api_params, registry.production_run_id, AS_OF)  # a rerun
    body = client.get("/monitoring/decisions").json()
    assert body["model_name"] == api_params.train.model_name
    [decision] = body["decisions"]  # the rerun replaced the store's decision of that day
    assert (decision["as_of_date"], decision["mlflow_run_id"]) == (str(AS_OF), registry.production_run_id)
    assert (decision["decision"], decision["reason"]) == (monitored.decision, monitored.reason)
    assert "Diebold-Mariano" in decision["reason"]
    statistics = {k: v for k, v in decision["statistics"].items() if v is not None}
    assert statistics == pytest.approx(monitored.metrics)
    assert 0 <= statistics["dm_p_value"] <= 1 and 0 <= statistics["direction_p_value"] <= 1
    assert client.get("/monitoring/decisions", params={"end": str(AS_OF)}).json()["decisions"] == [decision]
    after = {"start": str(next_trading_day(AS_OF))}
    assert client.get("/monitoring/decisions", params=after).json()["decisions"] == []
    assert client.get("/monitoring/decisions", params={"limit": 0}).status_code == 422


@pytest.mark.parametrize("window", ["0", "-1", "x", "100000"])
def test_bad_window_is_422(client: TestClient, window: str) -> None:
    assert client.get("/performance", params={"window": window}).status_code == 422


def test_model_card_shows_production_version_and_promotion(client: TestClient, registry: Registry) -> None:
    body = client.get("/model").json()
    assert (body["version"], body["mlflow_run_id"]) == ("2", registry.production_run_id)
    assert body["model_uri"] == "models:/StockPricePredictorLSTM/2"
    assert body["dataset_run_id"] == registry.dataset_run_id
    assert body["test_metrics"] == {"test_mae": 1.2, "test_mae_ratio": None, "test_persistence_mae": 1.3}
    assert body["promotion_decision"] == "promoted" and body["promoted_at"].startswith(str(date.today())[:4])
    assert body["baseline"] is None  # a trained model serves


def test_model_is_404_before_any_promotion(
    sqlite_store: Settings, api_params: Params, registry: Registry
) -> None:
    mlflow = MlflowClient(tracking_uri=registry.tracking_uri, registry_uri=registry.tracking_uri)
    mlflow.delete_registered_model_alias(api_params.train.model_name, PRODUCTION_ALIAS)
    try:
        response = TestClient(create_app(sqlite_store, api_params)).get("/model")
    finally:
        mlflow.set_registered_model_alias(api_params.train.model_name, PRODUCTION_ALIAS, "2")
    assert response.status_code == 404 and "production alias" in response.json()["detail"], response.json()


def test_dashboard_and_its_assets_are_served_by_the_app(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    texts = [page.text]
    for asset in ("/static/dashboard.js", "/static/dashboard.css"):
        assert asset in page.text and client.get(asset).status_code == 200
        texts.append(client.get(asset).text)
    # nothing is loaded from elsewhere: the only absolute URL is the SVG namespace
    assert {url for text in texts for url in re.findall(r"https?://[^\s\"')]+", text)} == {SVG_NS}
    assert not any(re.search(r'(src|href)="//|url\(', text) for text in texts)


def test_openapi_documents_every_endpoint(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths) == set(ENDPOINTS)


def test_answer_cache_computes_once_per_ttl_for_concurrent_requests() -> None:
    calls: list[int] = []

    def compute() -> bytes:
        calls.append(1)
        return str(len(calls)).encode()

    def fail() -> bytes:
        raise ValueError("not kept")

    async def scenario() -> list[bytes]:
        cache = AnswerCache(ttl_seconds=0.2)
        first = await asyncio.gather(*(cache.body("key", compute) for _ in range(20)))
        other = await cache.body("other", compute)
        with pytest.raises(ValueError, match="not kept"):
            await cache.body("failing", fail)
        assert await cache.body("failing", compute) == b"3"
        await asyncio.sleep(0.3)
        return [*first, other, await cache.body("key", compute)]

    bodies = asyncio.run(scenario())
    assert set(bodies[:20]) == {b"1"} and bodies[20:] == [b"2", b"4"] and len(calls) == 4


def test_docs_are_served_from_the_package(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sorted(assets) == [f"/static/swagger/{name}" for name in SWAGGER_FILES]
    assert all(client.get(asset).status_code == 200 for asset in assets)
    assert "https://" not in page.text and "//cdn" not in page.text
    assert client.get("/redoc").status_code == 404


def test_every_static_file_is_in_the_wheel() -> None:
    """The package data globs of pyproject.toml cover the dashboard and the vendored Swagger UI."""
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    package = REPO / "src" / "stockpredictor"
    files = [PurePosixPath(p.relative_to(package).as_posix()) for p in STATIC_DIR.rglob("*") if p.is_file()]
    assert {f"api/static/swagger/{name}" for name in SWAGGER_FILES} <= {str(f) for f in files}
    assert [f for f in files if not any(f.match(p) for p in patterns["stockpredictor"])] == []


def test_every_monitor_decision_can_be_served() -> None:
    assert set(get_args(MonitorDecision.model_fields["decision"].annotation)) == set(DECISIONS)
