"""Bulk writes through each driver's bulk path, idempotent on the table's unique key."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg2.extras import execute_values
from sqlalchemy import Connection, Table
from sqlalchemy.dialects.sqlite import insert as sqlite_insert


def insert_missing(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], key: Sequence[str]
) -> int:
    """Insert `rows`, skipping those whose `key` already exists; returns how many were inserted.

    PostgreSQL: psycopg2 `execute_values` with ON CONFLICT DO NOTHING RETURNING (one round trip
    per page). SQLite: one `executemany` of INSERT ... ON CONFLICT DO NOTHING.
    """
    if not rows:
        return 0
    columns = list(rows[0])
    if conn.dialect.name == "postgresql":
        sql = (
            f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES %s "
            f"ON CONFLICT ({', '.join(key)}) DO NOTHING RETURNING 1"
        )
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            inserted = execute_values(
                cursor, sql, [tuple(r[c] for c in columns) for r in rows], page_size=5000, fetch=True
            )
        finally:
            cursor.close()
        return len(inserted)
    statement = sqlite_insert(table).on_conflict_do_nothing(index_elements=list(key))
    return int(conn.execute(statement, list(rows)).rowcount)


def replace_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], key: Sequence[str]) -> None:
    """Insert `rows`, overwriting the other columns of rows whose `key` already exists."""
    if not rows:
        return
    columns = list(rows[0])
    updates = [c for c in columns if c not in key]
    if conn.dialect.name == "postgresql":
        assignments = ", ".join(f"{c} = EXCLUDED.{c}" for c in updates)
        sql = (
            f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES %s "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {assignments}"
        )
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            execute_values(cursor, sql, [tuple(r[c] for c in columns) for r in rows], page_size=5000)
        finally:
            cursor.close()
        return
    statement = sqlite_insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=list(key), set_={c: statement.excluded[c] for c in updates}
    )
    conn.execute(statement, list(rows))
