"""The store as the API sees it: read-only connections, a pool sized to the server's concurrency.

The API never creates or migrates a store. SQLite files are opened `mode=ro` (a missing file stays
missing); PostgreSQL sessions are read-only and every statement has a time limit. Whether the store
is usable is `store_problem`: None, or what is wrong, in words that name no host, port or file.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool, QueuePool

from stockpredictor.db.engine import VERSION_TABLE, normalise_url
from stockpredictor.errors import ConfigError

log = logging.getLogger(__name__)

STORE_NOT_INITIALISED = "store not initialised"
STORE_UNAVAILABLE = "store unavailable"
STORE_OUTDATED = "store schema differs from this server's"


@dataclass(frozen=True)
class StoreLimits:
    """How many connections the API holds, how long a request waits for one, and the time limit of a
    statement (PostgreSQL; also the connect timeout, and SQLite's wait for a writer's lock)."""

    connections: int = 16
    pool_timeout_seconds: float = 1.0
    statement_timeout_seconds: float = 5.0


def _url(database_url: str) -> URL:
    """The parsed URL of a SQLite or PostgreSQL store; ConfigError for anything else."""
    try:
        url = make_url(normalise_url(database_url))
    except (ArgumentError, ValueError):
        raise ConfigError("the database URL (STOCKPREDICTOR_DATABASE_URL) is malformed") from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        shown = url.render_as_string(hide_password=True)
        raise ConfigError(f"the API reads SQLite or PostgreSQL stores, not {shown}")
    return url


def _sqlite_file(url: URL) -> Path | None:
    return Path(url.database).resolve() if url.database and url.database != ":memory:" else None


def _sqlite_connect(path: Path | None, timeout: float) -> sqlite3.Connection:
    """A read-only connection; SQLite cannot create the file through it."""
    uri = f"{path.as_uri()}?mode=ro" if path else "file::memory:?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)


def readonly_engine(database_url: str, limits: StoreLimits, *, pooled: bool = True) -> Engine:
    """An engine whose connections cannot write; `pooled=False` opens one connection per use."""
    url = _url(database_url)
    pool: dict[str, Any] = (
        {
            "poolclass": QueuePool,
            "pool_size": limits.connections,
            "max_overflow": 0,
            "pool_timeout": limits.pool_timeout_seconds,
        }
        if pooled
        else {"poolclass": NullPool}
    )
    if url.get_backend_name() == "sqlite":
        path = _sqlite_file(url)
        return create_engine(
            "sqlite://",
            creator=lambda: _sqlite_connect(path, limits.statement_timeout_seconds),
            **pool,
        )
    statement_ms = int(1000 * limits.statement_timeout_seconds)
    options = f"-c default_transaction_read_only=on -c statement_timeout={statement_ms}"
    return create_engine(
        url,
        connect_args={"options": options, "connect_timeout": max(1, round(limits.statement_timeout_seconds))},
        pool_pre_ping=pooled,
        **pool,
    )


def store_problem(database_url: str, engine: Engine, revision: str | None) -> str | None:
    """None when the store answers at schema `revision`, else what is wrong (naming no location)."""
    url = _url(database_url)
    if url.get_backend_name() == "sqlite":
        path = _sqlite_file(url)
        if path is not None and not path.is_file():
            return STORE_NOT_INITIALISED
    try:
        with engine.connect() as conn:
            tables = set(conn.dialect.get_table_names(conn))
            if VERSION_TABLE not in tables:
                return STORE_NOT_INITIALISED
            found = conn.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").scalar()
    except SQLAlchemyError as exc:
        log.warning("store check failed: %s", str(exc).strip().splitlines()[0] if str(exc).strip() else exc)
        return STORE_UNAVAILABLE
    if found is None:
        return STORE_NOT_INITIALISED
    return None if found == revision else STORE_OUTDATED
