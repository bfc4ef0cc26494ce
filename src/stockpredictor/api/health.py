"""Reachability of the store and of the MLflow tracking store, without writing to either."""

from __future__ import annotations

import sqlite3
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from stockpredictor.api.models import ComponentHealth
from stockpredictor.db.engine import current_revision, engine_for, normalise_url

TIMEOUT_SECONDS = 5.0


def _failure(exc: BaseException) -> ComponentHealth:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return ComponentHealth(ok=False, detail=f"{type(exc).__name__}: {first_line}".rstrip(": "))


def database_health(url: str) -> ComponentHealth:
    """The store opens (migrated on first use, as every stage does) and answers a query."""
    try:
        engine = engine_for(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        revision = current_revision(engine)
    except SQLAlchemyError as exc:
        return _failure(exc)
    return ComponentHealth(ok=True, detail=f"{engine.dialect.name} reachable, schema revision {revision}")


def registry_health(tracking_uri: str) -> ComponentHealth:
    """The MLflow tracking URI answers: an HTTP server's /health, or the database/folder store opens."""
    scheme = urlparse(tracking_uri).scheme
    try:
        if scheme in ("http", "https"):
            return _http_health(tracking_uri)
        if scheme == "sqlite":
            return _sqlite_health(tracking_uri)
        if scheme in ("", "file"):
            return _folder_health(Path(urlparse(tracking_uri).path if scheme else tracking_uri))
        return _database_health(tracking_uri)
    except (OSError, sqlite3.Error, SQLAlchemyError, ArgumentError, ValueError) as exc:
        return _failure(exc)


def _http_health(uri: str) -> ComponentHealth:
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            return ComponentHealth(ok=True, detail=f"MLflow server at {url} answered {response.status}")
    except urllib.error.HTTPError as exc:
        return ComponentHealth(ok=False, detail=f"MLflow server at {url} answered {exc.code}")


def _sqlite_health(uri: str) -> ComponentHealth:
    database = make_url(uri).database
    if not database or not Path(database).is_file():
        return ComponentHealth(ok=False, detail=f"no MLflow store at {database} (nothing was trained yet)")
    with sqlite3.connect(
        f"{Path(database).resolve().as_uri()}?mode=ro", uri=True, timeout=TIMEOUT_SECONDS
    ) as db:
        tables = db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
    return ComponentHealth(ok=True, detail=f"MLflow sqlite store {database} opens ({tables} tables)")


def _folder_health(folder: Path) -> ComponentHealth:
    if folder.is_dir():
        return ComponentHealth(ok=True, detail=f"MLflow file store {folder} exists")
    return ComponentHealth(ok=False, detail=f"no MLflow file store at {folder}")


def _database_health(uri: str) -> ComponentHealth:
    engine = create_engine(normalise_url(uri), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    return ComponentHealth(ok=True, detail=f"MLflow {engine.dialect.name} store reachable")
