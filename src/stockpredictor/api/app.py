"""The prediction API and its dashboard: read-only views of the store and of the MLflow registry."""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, BeforeValidator
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from stockpredictor.api import queries
from stockpredictor.api.health import database_health, registry_health
from stockpredictor.api.models import (
    ErrorDetail,
    Health,
    LatestPredictions,
    ModelCard,
    MonitorDecisions,
    Performance,
    TickerHistory,
    TickerInfo,
)
from stockpredictor.config import Params, Settings, load_params
from stockpredictor.stages.common import store_engine

STATIC_DIR = Path(__file__).with_name("static")
TEST_METRIC_PREFIX = "test_"
LATEST_TTL_SECONDS = 2.0
_TICKER = re.compile(r"[A-Z0-9.^=\-]{1,16}")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorDetail, "description": "Store or registry down"}
}
_UNKNOWN_TICKER: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorDetail, "description": "Unknown ticker"}
}

router = APIRouter()


def _iso_day(value: object) -> object:
    """Only YYYY-MM-DD strings are days (pydantic alone would also take "0" as 1970-01-01)."""
    if isinstance(value, str) and _ISO_DAY.fullmatch(value):
        return value
    raise ValueError("expected a day as YYYY-MM-DD")


IsoDay = Annotated[date, BeforeValidator(_iso_day)]


class Snapshot:
    """A JSON body computed at most once per `ttl_seconds` (concurrent requests share one computation)."""

    def __init__(self, compute: Callable[[], BaseModel], ttl_seconds: float) -> None:
        self._compute = compute
        self._ttl = ttl_seconds
        self._body = b""
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def body(self) -> bytes:
        if time.monotonic() >= self._expires:
            async with self._lock:
                if time.monotonic() >= self._expires:
                    self._body = (await run_in_threadpool(self._compute)).model_dump_json().encode()
                    self._expires = time.monotonic() + self._ttl
        return self._body


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _params(request: Request) -> Params:
    params: Params = request.app.state.params
    return params


def _connection(settings: Annotated[Settings, Depends(_settings)]) -> Iterator[Connection]:
    with store_engine(settings).connect() as conn:
        yield conn


SettingsDep = Annotated[Settings, Depends(_settings)]
ParamsDep = Annotated[Params, Depends(_params)]
Conn = Annotated[Connection, Depends(_connection)]


def _unavailable(what: str, exc: BaseException) -> HTTPException:
    return HTTPException(503, f"{what} unavailable: {type(exc).__name__}: {str(exc).strip()[:300]}")


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health(settings: SettingsDep) -> JSONResponse:
    """Whether the store and the MLflow registry are reachable (HTTP 503 when either is not)."""
    database = database_health(settings.database_url)
    registry = registry_health(settings.mlflow_tracking_uri)
    ok = database.ok and registry.ok
    body = Health(status="ok" if ok else "unavailable", database=database, registry=registry)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ok else 503)


@router.get("/tickers", response_model=list[TickerInfo], responses=_UNAVAILABLE)
def tickers(conn: Conn) -> list[TickerInfo]:
    """Every ticker with stored prices or daily predictions."""
    return queries.list_tickers(conn)


@router.get("/predictions/latest", response_model=LatestPredictions, responses=_UNAVAILABLE)
async def latest_predictions(request: Request) -> Response:
    """The newest daily prediction of every ticker (cached for a few seconds: they change once a day)."""
    snapshot: Snapshot = request.app.state.latest
    return Response(await snapshot.body(), media_type="application/json")


@router.get(
    "/predictions/{ticker}", response_model=TickerHistory, responses={**_UNKNOWN_TICKER, **_UNAVAILABLE}
)
def ticker_predictions(
    conn: Conn,
    ticker: str,
    start: Annotated[IsoDay | None, Query(description="First as-of day (YYYY-MM-DD)")] = None,
    end: Annotated[IsoDay | None, Query(description="Last as-of day (YYYY-MM-DD)")] = None,
) -> TickerHistory:
    """Daily predictions of `ticker` (one per as-of day, the newest), with the actual close where known."""
    if start is not None and end is not None and end < start:
        error = {
            "type": "value_error",
            "loc": ("query", "end"),
            "msg": "end is before start",
            "input": str(end),
        }
        raise RequestValidationError([error])
    symbol = ticker.strip().upper()
    if not _TICKER.fullmatch(symbol) or not queries.ticker_known(conn, symbol):
        raise HTTPException(404, f"unknown ticker {ticker!r}")
    return TickerHistory(
        ticker=symbol, start=start, end=end, predictions=queries.history(conn, symbol, start, end)
    )


@router.get("/performance", response_model=Performance, responses=_UNAVAILABLE)
def performance(
    conn: Conn,
    params: ParamsDep,
    window: Annotated[
        int | None,
        Query(ge=1, le=10_000, description="Evaluated trading days per model (default: params.yaml)"),
    ] = None,
) -> Performance:
    """Rolling metrics per model over its most recent evaluated days, next to the persistence baseline."""
    days = window or params.monitoring.window_days
    return Performance(window_days=days, models=queries.performance(conn, days))


@router.get("/monitoring/decisions", response_model=MonitorDecisions, responses=_UNAVAILABLE)
def monitoring_decisions(
    conn: Conn,
    params: ParamsDep,
    start: Annotated[IsoDay | None, Query(description="First as-of day (YYYY-MM-DD)")] = None,
    end: Annotated[IsoDay | None, Query(description="Last as-of day (YYYY-MM-DD)")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="At most this many, newest first")] = 100,
) -> MonitorDecisions:
    """The daily monitor's decisions (retrain, ok, suppressed by cooldown or budget, ...) and why."""
    name = params.train.model_name
    return MonitorDecisions(
        model_name=name, decisions=queries.monitor_decisions(conn, name, start, end, limit)
    )


@router.get(
    "/model",
    response_model=ModelCard,
    responses={404: {"model": ErrorDetail, "description": "No production model yet"}, **_UNAVAILABLE},
)
def model(conn: Conn, settings: SettingsDep, params: ParamsDep) -> ModelCard:
    """The production model: registry version, its dataset run id, test metrics and when it was promoted."""
    reachable = registry_health(settings.mlflow_tracking_uri)
    if not reachable.ok:
        raise HTTPException(503, f"registry unavailable: {reachable.detail}")
    # MLflow and torch take seconds to import: only when the model is asked for.
    from stockpredictor import registry
    from stockpredictor.stages.production_model import production_model

    name = params.train.model_name
    try:
        found = production_model(params, settings)
        metrics = registry.run_metrics(found.mlflow_run_id) if found else {}
    except registry.REGISTRY_FAILURES as exc:
        raise _unavailable("registry", exc) from None
    if found is None:
        raise HTTPException(404, f"no version of {name} has the production alias yet")
    promoted = queries.promotion(conn, name, found.version)
    return ModelCard(
        name=name,
        version=str(found.version),
        mlflow_run_id=found.mlflow_run_id,
        model_uri=found.model_uri,
        dataset_run_id=found.dataset_run_id,
        test_metrics={
            key: value if math.isfinite(value) else None
            for key, value in sorted(metrics.items())
            if key.startswith(TEST_METRIC_PREFIX)
        },
        promoted_at=promoted.created_at if promoted else None,
        promotion_decision=promoted.decision if promoted else None,
        promotion_reason=promoted.reason if promoted else None,
        baseline=found.baseline,
    )


@router.get("/", include_in_schema=False)
def dashboard() -> FileResponse:
    """The dashboard page (its scripts and styles are under /static)."""
    return FileResponse(STATIC_DIR / "index.html")


def create_app(settings: Settings | None = None, params: Params | None = None) -> FastAPI:
    """The API on `settings` (default: from the environment) and `params` (default: the params file)."""
    app = FastAPI(
        title="stockpredictor",
        summary="Next-day stock price predictions, their outcomes and the production model",
        version="1",
    )
    app.state.settings = settings or Settings.from_env()
    app.state.params = params or load_params()

    def latest() -> LatestPredictions:
        with store_engine(app.state.settings).connect() as conn:
            return queries.latest(conn)

    app.state.latest = Snapshot(latest, LATEST_TTL_SECONDS)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(SQLAlchemyError)
    def _store_down(_request: Request, exc: SQLAlchemyError) -> JSONResponse:
        return JSONResponse({"detail": _unavailable("store", exc).detail}, status_code=503)

    return app
