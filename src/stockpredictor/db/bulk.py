"""Bulk writes through each driver's bulk path, idempotent on the table's unique key."""

from __future__ import annotations

import io
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from psycopg2.extras import execute_values
from sqlalchemy import Connection, Table
from sqlalchemy.dialects.sqlite import insert as sqlite_insert


def insert_missing(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], key: Sequence[str]) -> int:
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


def copy_missing(
    conn: Connection, table: Table, frame: pd.DataFrame, key: Sequence[str], constants: dict[str, Any]
) -> int:
    """Bulk-insert a large frame of date/float64 columns plus `constants`, skipping existing keys.

    PostgreSQL: binary COPY (built with numpy, no per-row Python) into a temporary table, then one
    INSERT ... SELECT ... ON CONFLICT DO NOTHING. SQLite: one `executemany`. Returns rows inserted.
    """
    if frame.empty:
        return 0
    if conn.dialect.name != "postgresql":
        statement = sqlite_insert(table).on_conflict_do_nothing(index_elements=list(key))
        columns = list(frame.columns)
        values = frame.astype(object).to_numpy().tolist()
        return int(
            conn.execute(
                statement, [{**constants, **dict(zip(columns, row, strict=True))} for row in values]
            ).rowcount
        )
    staging = f"staging_{uuid.uuid4().hex[:12]}"
    column_types = ", ".join(f"{c} {'date' if c == 'date' else 'double precision'}" for c in frame.columns)
    names = ", ".join([*constants, *frame.columns])
    selected = ", ".join([*(f"%({c})s" for c in constants), *frame.columns])
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"CREATE TEMP TABLE {staging} ({column_types}) ON COMMIT DROP")
        cursor.copy_expert(f"COPY {staging} FROM STDIN WITH (FORMAT binary)", io.BytesIO(_binary_copy(frame)))
        cursor.execute(
            f"INSERT INTO {table.name} ({names}) SELECT {selected} FROM {staging} "
            f"ON CONFLICT ({', '.join(key)}) DO NOTHING",
            constants,
        )
        return int(cursor.rowcount)
    finally:
        cursor.close()


_PG_EPOCH = np.datetime64("2000-01-01", "D")


def _binary_copy(frame: pd.DataFrame) -> bytes:
    """PostgreSQL binary COPY payload of a frame whose columns are `date` (datetime64) or float64."""
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for i, column in enumerate(frame.columns):
        fields += [(f"len{i}", ">i4"), (f"val{i}", ">i4" if column == "date" else ">f8")]
    records = np.empty(len(frame), dtype=np.dtype(fields))
    records["count"] = len(frame.columns)
    for i, column in enumerate(frame.columns):
        if column == "date":
            days = frame[column].to_numpy().astype("datetime64[D]") - _PG_EPOCH
            records[f"len{i}"], records[f"val{i}"] = 4, days.astype(np.int64)
        else:
            records[f"len{i}"], records[f"val{i}"] = 8, frame[column].to_numpy(dtype=np.float64)
    header = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
    return header + records.tobytes() + (-1).to_bytes(2, "big", signed=True)
