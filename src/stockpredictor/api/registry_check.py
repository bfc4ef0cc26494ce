"""Whether the MLflow tracking store answers, without writing to it (and without saying where it is)."""

from __future__ import annotations

import logging
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from stockpredictor.config import redacted
from stockpredictor.db.engine import normalise_url

log = logging.getLogger(__name__)

REGISTRY_UNAVAILABLE = "model registry unavailable"
PROBE_TIMEOUT_SECONDS = 2.0  # for each check of a store: /readyz, which checks two, answers within ~4 s


def registry_reachable(tracking_uri: str) -> bool:
    """An HTTP server's /health answers 200, or the database/folder store exists and opens read-only."""
    scheme = urlparse(tracking_uri).scheme
    try:
        if scheme in ("http", "https"):
            return _http_ok(tracking_uri)
        if scheme == "sqlite":
            return _sqlite_opens(tracking_uri)
        if scheme in ("", "file"):
            return Path(urlparse(tracking_uri).path if scheme else tracking_uri).is_dir()
        return _database_answers(tracking_uri)
    except (OSError, sqlite3.Error, SQLAlchemyError, ArgumentError, ValueError) as exc:
        log.warning("MLflow check failed: %s: %s", type(exc).__name__, redacted(str(exc).strip()[:200]))
        return False


def _http_ok(uri: str) -> bool:
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=PROBE_TIMEOUT_SECONDS) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError as exc:
        log.warning("MLflow /health answered %s", exc.code)
        return False


def _sqlite_opens(uri: str) -> bool:
    database = make_url(uri).database
    if not database or not Path(database).is_file():
        return False
    path = Path(database).resolve()
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=PROBE_TIMEOUT_SECONDS) as db:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return True


def _database_answers(uri: str) -> bool:
    engine = create_engine(
        normalise_url(uri), poolclass=NullPool, connect_args={"connect_timeout": int(PROBE_TIMEOUT_SECONDS)}
    )
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    return True
