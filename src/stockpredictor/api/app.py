"""The prediction API and its dashboard: read-only views of the store and of the MLflow registry.

Hot answers are cached for a few seconds (`ANSWER_TTL_SECONDS`); load beyond `Limits` is shed with
503 (see `shedding`). `/livez` checks the process only, `/readyz` the store and the registry.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from anyio import CapacityLimiter
from anyio.to_thread import current_default_thread_limiter
from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, BeforeValidator, TypeAdapter
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from stockpredictor.api import queries
from stockpredictor.api.cache import AnswerCache
from stockpredictor.api.hosts import TrustedHosts
from stockpredictor.api.models import (
    Alive,
    ErrorDetail,
    LatestPredictions,
    ModelCard,
    MonitorDecisions,
    Performance,
    Ready,
    TickerHistory,
    TickerInfo,
)
from stockpredictor.api.registry_check import PROBE_TIMEOUT_SECONDS, REGISTRY_UNAVAILABLE, registry_reachable
from stockpredictor.api.shedding import SERVER_BUSY, Limits, LoadShedding, busy_headers
from stockpredictor.api.store import STORE_UNAVAILABLE, StoreLimits, readonly_engine, store_problem
from stockpredictor.config import Params, Settings, load_params, redacted
from stockpredictor.db.engine import head_revision

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
SWAGGER = "/static/swagger"
TEST_METRIC_PREFIX = "test_"
ANSWER_TTL_SECONDS = 5.0
READINESS_TTL_SECONDS = 1.0
UNCHECKED = ("/livez", "/readyz")  # probes are never shed: they must answer while the server is busy
_TICKER = re.compile(r"[A-Z0-9.^=\-]{1,16}")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_TICKERS = TypeAdapter(list[TickerInfo])
_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorDetail, "description": "Store or registry down, or the server busy"},
    504: {"model": ErrorDetail, "description": "The request took too long"},
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


@dataclass(frozen=True)
class ApiState:
    """What the endpoints share: configuration, the read-only store and the answer caches."""

    settings: Settings
    params: Params
    store: Engine
    probe: Engine  # one connection per readiness check, outside the (possibly exhausted) pool
    schema_revision: str | None  # the store's schema this code reads
    answers: AnswerCache
    readiness: AnswerCache


def _json(body: BaseModel) -> bytes:
    return body.model_dump_json().encode()


def _state(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


async def _cached(request: Request, key: Hashable, compute: Callable[[Connection], bytes]) -> Response:
    """The JSON body `compute` makes from a store connection, cached under `key` for a few seconds.

    A store this code cannot vouch for (another schema revision, not initialised, down) is a 503 with
    the words of /readyz, before any answer is read or served from the cache.
    """
    api = _state(request)

    def schema() -> bytes:
        return (store_problem(api.settings.database_url, api.probe, api.schema_revision) or "").encode()

    problem = (await api.readiness.body("store", schema)).decode()
    if problem:
        raise HTTPException(503, problem)

    def read() -> bytes:
        with api.store.connect() as conn:
            return compute(conn)

    return Response(await api.answers.body(key, read), media_type="application/json")


@router.get("/livez", response_model=Alive)
async def livez() -> Alive:
    """Liveness: the process answers (no store, no registry)."""
    return Alive(status="alive")


@router.get("/readyz", response_model=Ready, responses={503: {"model": ErrorDetail}})
async def readyz(request: Request) -> Response:
    """Readiness: the store is reachable and initialised, and the model registry answers (else 503)."""
    api = _state(request)

    def problems() -> bytes:
        found = [store_problem(api.settings.database_url, api.probe, api.schema_revision)]
        if not registry_reachable(api.settings.mlflow_tracking_uri):
            found.append(REGISTRY_UNAVAILABLE)
        return ", ".join(p for p in found if p).encode()

    detail = (await api.readiness.body("readiness", problems)).decode()
    if detail:
        return JSONResponse({"detail": detail}, status_code=503)
    return Response(Ready(status="ready").model_dump_json(), media_type="application/json")


@router.get("/tickers", response_model=list[TickerInfo], responses=_UNAVAILABLE)
async def tickers(request: Request) -> Response:
    """Every ticker with stored prices or daily predictions."""
    return await _cached(request, "tickers", lambda conn: _TICKERS.dump_json(queries.list_tickers(conn)))


@router.get("/predictions/latest", response_model=LatestPredictions, responses=_UNAVAILABLE)
async def latest_predictions(request: Request) -> Response:
    """The newest daily prediction of every ticker."""
    return await _cached(request, "latest", lambda conn: _json(queries.latest(conn)))


@router.get(
    "/predictions/{ticker}", response_model=TickerHistory, responses={**_UNKNOWN_TICKER, **_UNAVAILABLE}
)
async def ticker_predictions(
    request: Request,
    ticker: str,
    start: Annotated[IsoDay | None, Query(description="First as-of day (YYYY-MM-DD)")] = None,
    end: Annotated[IsoDay | None, Query(description="Last as-of day (YYYY-MM-DD)")] = None,
) -> Response:
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
    if not _TICKER.fullmatch(symbol):
        raise HTTPException(404, f"unknown ticker {ticker!r}")

    def history(conn: Connection) -> bytes:
        if not queries.ticker_known(conn, symbol):
            raise HTTPException(404, f"unknown ticker {ticker!r}")
        predictions = queries.history(conn, symbol, start, end)
        return (
            TickerHistory(ticker=symbol, start=start, end=end, predictions=predictions)
            .model_dump_json()
            .encode()
        )

    return await _cached(request, ("history", symbol, start, end), history)


@router.get("/performance", response_model=Performance, responses=_UNAVAILABLE)
async def performance(
    request: Request,
    window: Annotated[
        int | None,
        Query(ge=1, le=10_000, description="Evaluated trading days per model (default: params.yaml)"),
    ] = None,
) -> Response:
    """Rolling metrics per model over its most recent evaluated days, next to the persistence baseline."""
    days = window or _state(request).params.monitoring.window_days
    return await _cached(
        request,
        ("performance", days),
        lambda conn: _json(Performance(window_days=days, models=queries.performance(conn, days))),
    )


@router.get("/monitoring/decisions", response_model=MonitorDecisions, responses=_UNAVAILABLE)
async def monitoring_decisions(
    request: Request,
    start: Annotated[IsoDay | None, Query(description="First as-of day (YYYY-MM-DD)")] = None,
    end: Annotated[IsoDay | None, Query(description="Last as-of day (YYYY-MM-DD)")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="At most this many, newest first")] = 100,
) -> Response:
    """The daily monitor's decisions (retrain, ok, suppressed by cooldown or budget, ...) and why."""
    name = _state(request).params.train.model_name
    return await _cached(
        request,
        ("monitoring/decisions", start, end, limit),
        lambda conn: _json(
            MonitorDecisions(
                model_name=name, decisions=queries.monitor_decisions(conn, name, start, end, limit)
            )
        ),
    )


@router.get(
    "/model",
    response_model=ModelCard,
    responses={404: {"model": ErrorDetail, "description": "No production model yet"}, **_UNAVAILABLE},
)
async def model(request: Request) -> Response:
    """The production model: registry version, its dataset run id, test metrics and when it was promoted."""
    api = _state(request)
    return await _cached(request, "model", lambda conn: _json(_model_card(conn, api)))


def _model_card(conn: Connection, api: ApiState) -> ModelCard:
    if not registry_reachable(api.settings.mlflow_tracking_uri):
        raise HTTPException(503, REGISTRY_UNAVAILABLE)
    # MLflow and torch take seconds to import: only when the model is asked for.
    from stockpredictor import registry
    from stockpredictor.stages.production_model import production_model

    name = api.params.train.model_name
    try:
        found = production_model(api.params, api.settings)
        metrics = registry.run_metrics(found.mlflow_run_id) if found else {}
    except registry.REGISTRY_FAILURES as exc:
        log.warning("model registry failed: %s: %s", type(exc).__name__, redacted(str(exc).strip()[:300]))
        raise HTTPException(503, REGISTRY_UNAVAILABLE) from None
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


@router.get("/docs", include_in_schema=False)
def docs() -> HTMLResponse:
    """Swagger UI from the package's own copy (static/swagger): nothing is loaded from elsewhere."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="stockpredictor API",
        swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER}/swagger-ui.css",
        swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
        oauth2_redirect_url=None,
        swagger_ui_parameters={"validatorUrl": None},
    )


def create_app(
    settings: Settings | None = None,
    params: Params | None = None,
    limits: Limits | None = None,
    allowed_hosts: Sequence[str] = ("*",),
) -> FastAPI:
    """The API on `settings` (default: from the environment) and `params` (default: the params file).

    Nothing is opened until a request needs it; the store is never created or migrated. A request whose
    `Host` is not one of `allowed_hosts` is answered 400 (`serve` passes its own list; the probes are
    answered whatever their `Host`).
    """
    limits = limits or Limits()
    settings = settings or Settings.from_env()
    store_limits = StoreLimits(connections=limits.concurrency)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # one worker thread per request at work (the probes have their own)
        current_default_thread_limiter().total_tokens = limits.concurrency
        yield

    app = FastAPI(
        title="stockpredictor",
        summary="Next-day stock price predictions, their outcomes and the production model",
        version="1",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.api = ApiState(
        settings=settings,
        params=params or load_params(),
        store=readonly_engine(settings.database_url, store_limits),
        probe=readonly_engine(
            settings.database_url, StoreLimits(statement_timeout_seconds=PROBE_TIMEOUT_SECONDS), pooled=False
        ),
        schema_revision=head_revision(),
        answers=AnswerCache(ANSWER_TTL_SECONDS),
        readiness=AnswerCache(READINESS_TTL_SECONDS, limiter=CapacityLimiter(1)),
    )
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(LoadShedding, limits=limits, exempt=UNCHECKED)
    app.add_middleware(TrustedHosts, allowed_hosts=allowed_hosts, exempt=UNCHECKED)

    @app.exception_handler(PoolTimeoutError)
    def _pool_exhausted(_request: Request, _exc: PoolTimeoutError) -> JSONResponse:
        return JSONResponse({"detail": SERVER_BUSY}, status_code=503, headers=busy_headers())

    @app.exception_handler(SQLAlchemyError)
    def _store_down(_request: Request, exc: SQLAlchemyError) -> JSONResponse:
        log.warning("store query failed: %s: %s", type(exc).__name__, str(exc).strip()[:300])
        return JSONResponse({"detail": STORE_UNAVAILABLE}, status_code=503)

    return app
