"""Engines for the store, and schema migration to the latest Alembic revision."""

from __future__ import annotations

import fcntl
import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url

from stockpredictor.config import DATABASE_URL_ENV, redacted
from stockpredictor.db.schema import metadata
from stockpredictor.errors import StoreError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_TABLE = "stockpredictor_alembic_version"
_PG_MIGRATION_LOCK = 7_310_001  # advisory lock id held while migrating PostgreSQL

# Alembic logs every plugin it loads at INFO on each revision check; only its warnings matter here.
logging.getLogger("alembic").setLevel(logging.WARNING)


def normalise_url(url: str) -> str:
    """Use psycopg2 for PostgreSQL URLs that name no driver (SQLAlchemy 2.1 defaults to psycopg 3)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)


def sqlite_file_problem(database: Path) -> str | None:
    """Why no SQLite file can be made at `database` (a folder, a path below a file, a folder that cannot be
    created), or None once its folder exists."""
    if database.is_dir():
        return f"{database} is a folder; name a database file"
    blocking = next((p for p in database.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        return f"{blocking} is a file, not a folder; choose another path"
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        why = exc.strerror or exc
        return f"cannot create the folder {database.parent} ({why}); check the path and permissions"
    return None


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get their folder, WAL and a busy timeout for concurrent writers."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        problem = sqlite_file_problem(Path(parsed.database))
        if problem is not None:
            raise StoreError(f"store {redacted(url)} ({DATABASE_URL_ENV}): {problem}")
    engine = create_engine(url, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()
        # The driver opens a transaction before the first write: make it take the write lock there and
        # then (BEGIN IMMEDIATE), so a writer waits for another one instead of failing at once.
        dbapi_connection.isolation_level = "IMMEDIATE"

    return engine


def alembic_config(engine: Engine) -> Config:
    """Alembic configuration for migrating `engine` (its connection may be handed over in `attributes`)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def head_revision() -> str | None:
    """The newest revision shipped with the code."""
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision in one transaction; safe when several processes start at once.

    On SQLite the DDL runs inside an explicit BEGIN IMMEDIATE (the driver would otherwise run each
    CREATE on its own), so a crash leaves the store as it was. A store with our tables but no version
    row (an interrupted setup of an older release) is refused with how to repair it.
    """
    if current_revision(engine) == head_revision():
        return
    with _migration_lock(engine):
        if current_revision(engine) != head_revision():
            config = alembic_config(engine)
            with write_transaction(engine) as conn:
                _refuse_unversioned_tables(conn, engine)
                config.attributes["connection"] = conn
                command.upgrade(config, "head")


def _refuse_unversioned_tables(conn: Connection, engine: Engine) -> None:
    version = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()
    found = sorted(set(inspect(conn).get_table_names()) & set(metadata.tables))
    if version is not None or not found:
        return
    if engine.dialect.name == "sqlite":
        repair = f"move the file {engine.url.database} aside (it holds no schema version) and rerun"
    else:
        repair = "drop those tables (or use an empty database) and rerun"
    raise StoreError(
        f"store {redacted(str(engine.url))} has tables ({', '.join(found)}) but no schema version: "
        f"its first schema setup was interrupted; {repair}"
    )


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@cache
def engine_for(url: str) -> Engine:
    """A migrated engine per URL, shared within the process."""
    engine = make_engine(url)
    migrate(engine)
    return engine


def take_turns(conn: Connection, *key: str) -> None:
    """Make concurrent writers of the same `key` (e.g. "scale", a dataset run id) take turns until the
    transaction ends, so that the later one reads what the earlier one wrote before it decides.

    PostgreSQL: a transaction-scoped advisory lock on a 64-bit hash of `key`. SQLite: nothing to do
    inside `write_transaction`, which holds the database's write lock from its start.
    """
    if conn.dialect.name == "postgresql":
        digest = hashlib.blake2b("\0".join(key).encode(), digest_size=8).digest()
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": int.from_bytes(digest, signed=True)})


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A write transaction; on SQLite it takes the write lock up front (BEGIN IMMEDIATE).

    In WAL mode a deferred transaction that reads before it writes cannot wait for a concurrent
    writer: SQLite answers "database is locked" at once instead of using the busy timeout.
    """
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn
