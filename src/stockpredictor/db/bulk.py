"""Bulk writes through each driver's bulk path, idempotent on the table's unique key."""

from __future__ import annotations

import io
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from psycopg2.extras import Json, execute_values
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
            inserted = execute_values(cursor, sql, _values(rows, columns), page_size=5000, fetch=True)
        finally:
            cursor.close()
        return len(inserted)
    statement = sqlite_insert(table).on_conflict_do_nothing(index_elements=list(key))
    return int(conn.execute(statement, list(rows)).rowcount)


def _values(rows: Sequence[dict[str, Any]], columns: list[str]) -> list[tuple[Any, ...]]:
    """Row tuples for psycopg2, with JSON columns' dicts and lists adapted as JSON."""
    return [
        tuple(Json(v) if isinstance(v, dict | list) else v for v in (r[c] for c in columns)) for r in rows
    ]


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
            execute_values(cursor, sql, _values(rows, columns), page_size=5000)
        finally:
            cursor.close()
        return
    statement = sqlite_insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=list(key), set_={c: statement.excluded[c] for c in updates}
    )
    conn.execute(statement, list(rows))


def copy_missing(
    conn: Connection,
    table: Table,
    frame: pd.DataFrame,
    key: Sequence[str],
    constants: dict[str, Any],
    count_by: str,
) -> dict[str, int]:
    """Bulk-insert a large frame plus `constants`, skipping existing keys; rows inserted per `count_by`.

    Columns may be datetime64 (stored as dates), float64, or text. PostgreSQL, with the table locked
    against other writers (SHARE ROW EXCLUSIVE: readers go on): when `key` is (text group, date) and
    every group's rows start after its last stored date (an append, what `ingest` writes), one binary
    COPY straight into the table, the floor; otherwise a binary COPY into a temporary table (text as
    codes into a label array), then one INSERT ... SELECT of the rows whose key is absent (exact under
    the lock, half the server CPU of ON CONFLICT DO NOTHING's speculative insertion). Both are built
    with numpy, no per-row Python. SQLite: one `executemany` per group.
    """
    if frame.empty:
        return {}
    if conn.dialect.name != "postgresql":
        statement = sqlite_insert(table).on_conflict_do_nothing(index_elements=list(key))
        counts = {}
        for group, rows in frame.groupby(count_by, sort=False):
            counts[str(group)] = int(conn.execute(statement, _records(rows, constants)).rowcount)
        return counts
    rows = frame.drop_duplicates(subset=list(key))
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        _lock_against_writers(cursor, table.name)
        if _appends(cursor, table.name, rows, key):
            _copy_into(cursor, table.name, rows, constants)
            return {str(group): int(n) for group, n in rows[count_by].value_counts(sort=False).items()}
        staged = _Staged.copy(cursor, rows, constants)
        present = " AND ".join(f"stored.{k} = {staged.values[k]}" for k in key)
        cursor.execute(
            f"WITH inserted AS (INSERT INTO {table.name} ({', '.join(staged.values)}) {staged.select()} "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table.name} stored WHERE {present}) RETURNING {count_by}) "
            f"SELECT {count_by}, count(*) FROM inserted GROUP BY {count_by}",
            staged.arguments,
        )
        counts = {str(group): int(n) for group, n in cursor.fetchall()}
    finally:
        cursor.close()
    return {str(group): counts.get(str(group), 0) for group in frame[count_by].unique()}


def _appends(cursor: Any, table: str, rows: pd.DataFrame, key: Sequence[str]) -> bool:
    """Whether no row can collide with a stored one: `key` is (text group, date), and every group's
    rows start after that group's last stored date (one index probe per group)."""
    if len(key) != 2 or not _is_text(rows[key[0]]) or not pd.api.types.is_datetime64_any_dtype(rows[key[1]]):
        return False
    group, order = key
    firsts = rows.groupby(group, sort=False)[order].min()
    cursor.execute(
        f"SELECT g, (SELECT max({order}) FROM {table} WHERE {group} = g) "
        "FROM unnest(%(groups)s::text[]) AS g",
        {"groups": [str(g) for g in firsts.index]},
    )
    stored = dict(cursor.fetchall())
    return all(stored[str(g)] is None or stored[str(g)] < first.date() for g, first in firsts.items())


def copy_replace(
    conn: Connection, table: Table, frame: pd.DataFrame, key: Sequence[str], constants: dict[str, Any]
) -> None:
    """Bulk-insert a large frame plus `constants`, overwriting the other columns of rows whose `key`
    exists (columns as in `copy_missing`).

    PostgreSQL: when constants fix part of `key` and no stored row has those values (a training's
    first write of its test forecasts), one binary COPY straight into the table, under the lock
    `copy_missing` takes (half the server CPU); otherwise a binary COPY into a temporary table, then
    one INSERT ... ON CONFLICT DO UPDATE.
    """
    if frame.empty:
        return
    if conn.dialect.name != "postgresql":
        replace_rows(conn, table, _records(frame, constants), key)
        return
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        fixed = {k: constants[k] for k in key if k in constants}
        if fixed and _absent(cursor, table.name, fixed):
            _copy_into(cursor, table.name, frame, constants)
            return
        staged = _Staged.copy(cursor, frame, constants)
        assignments = ", ".join(f"{c} = EXCLUDED.{c}" for c in staged.values if c not in key)
        cursor.execute(
            f"INSERT INTO {table.name} ({', '.join(staged.values)}) {staged.select()} "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {assignments}",
            staged.arguments,
        )
    finally:
        cursor.close()


def _lock_against_writers(cursor: Any, table: str) -> None:
    """Lock `table` against other writers until the transaction ends (SHARE ROW EXCLUSIVE: readers go on)."""
    cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")


def _copy_into(cursor: Any, table: str, frame: pd.DataFrame, constants: dict[str, Any]) -> None:
    """One binary COPY of `frame` plus `constants` straight into `table` (a None constant is left out:
    the column's NULL)."""
    given = {name: value for name, value in constants.items() if value is not None}
    columns = ", ".join([*frame.columns, *given])
    payload = io.BytesIO(_binary_copy(frame, given))
    cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT binary)", payload)


def _absent(cursor: Any, table: str, values: dict[str, Any]) -> bool:
    """Whether no row of `table` has these column values, with the table locked against other writers
    so that none can appear before the transaction ends."""
    _lock_against_writers(cursor, table)
    matches = " AND ".join(f"{column} = %({column})s" for column in values)
    cursor.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {table} WHERE {matches})", values)
    return bool(cursor.fetchone()[0])


def _records(frame: pd.DataFrame, constants: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows as dicts for SQLite's executemany, datetime64 columns as dates."""
    dated = frame.assign(
        **{c: frame[c].dt.date for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])}
    )
    return [{**constants, **{str(k): v for k, v in r.items()}} for r in dated.to_dict("records")]


@dataclass(frozen=True)
class _Staged:
    """A frame COPYed (binary) into a temporary table dropped at commit: the SQL value of each column,
    `constants` first (as parameters), text columns decoded, and the arguments those values need."""

    table: str
    values: dict[str, str]
    arguments: dict[str, Any]

    @classmethod
    def copy(cls, cursor: Any, frame: pd.DataFrame, constants: dict[str, Any]) -> _Staged:
        labels = {c: pd.factorize(frame[c]) for c in frame.columns if _is_text(frame[c])}
        encoded = frame.assign(**{c: codes + 1 for c, (codes, _) in labels.items()})
        table = f"staging_{uuid.uuid4().hex[:12]}"
        types = {c: _sql_type(encoded[c]) for c in encoded.columns}
        cursor.execute(
            f"CREATE TEMP TABLE {table} ({', '.join(f'{c} {t}' for c, t in types.items())}) ON COMMIT DROP"
        )
        cursor.copy_expert(f"COPY {table} FROM STDIN WITH (FORMAT binary)", io.BytesIO(_binary_copy(encoded)))
        values = {
            **{c: f"%({c})s" for c in constants},
            **{
                c: f"(%({c})s::text[])[{table}.{c}]" if c in labels else f"{table}.{c}" for c in frame.columns
            },
        }
        arguments = {**constants, **{c: [str(v) for v in uniques] for c, (_, uniques) in labels.items()}}
        return cls(table, values, arguments)

    def select(self) -> str:
        return f"SELECT {', '.join(self.values.values())} FROM {self.table}"


#: Day 0 of PostgreSQL's binary `date`.
PG_EPOCH = np.datetime64("2000-01-01", "D")


def _binary_copy(frame: pd.DataFrame, constants: dict[str, Any] | None = None) -> bytes:
    """PostgreSQL binary COPY payload of `frame`'s columns, then `constants` on every row.

    By dtype: integers as int4, datetime64 as date, text as UTF-8, the rest float8; a constant is text
    or a timezone-aware datetime (timestamptz). Rows are written in groups of equal text lengths
    (numpy records have fixed widths); COPY takes rows in any order.
    """
    constants = constants or {}
    text = [c for c in frame.columns if _is_text(frame[c])]
    labels = {c: pd.factorize(frame[c]) for c in text}
    utf8 = {c: [str(v).encode() for v in uniques] for c, (_, uniques) in labels.items()}
    combined = np.zeros(len(frame), dtype=np.int64)  # the text widths of each row, base 2**16
    for c in text:
        combined = combined * 2**16 + np.array([len(b) for b in utf8[c]], dtype=np.int64)[labels[c][0]]
    group, keys = pd.factorize(combined)  # hashing: no sort of the rows
    fixed = {name: _constant_field(value) for name, value in constants.items()}
    chunks = [b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")]
    for g, key in enumerate(keys):
        rows = np.flatnonzero(group == g) if len(keys) > 1 else np.arange(len(frame))
        shape = {c: (int(key) >> (16 * (len(text) - 1 - k))) % 2**16 for k, c in enumerate(text)}
        kinds = {
            c: f"S{shape[c]}"
            if c in text
            else ">i4"
            if pd.api.types.is_integer_dtype(frame[c]) or pd.api.types.is_datetime64_any_dtype(frame[c])
            else ">f8"
            for c in frame.columns
        }
        fields: list[tuple[str, str]] = [("count", ">i2")]
        for i, kind in enumerate([*kinds.values(), *(kind for kind, _ in fixed.values())]):
            fields += [(f"len{i}", ">i4"), (f"val{i}", kind)]
        records = np.empty(len(rows), dtype=np.dtype(fields))
        records["count"] = len(kinds) + len(fixed)
        for i, column in enumerate(frame.columns):
            if column in text:
                values = np.array(utf8[column], dtype=kinds[column])[labels[column][0][rows]]
            elif pd.api.types.is_datetime64_any_dtype(frame[column]):
                values = (frame[column].to_numpy()[rows].astype("datetime64[D]") - PG_EPOCH).astype(np.int64)
            else:
                values = frame[column].to_numpy()[rows]
            records[f"len{i}"], records[f"val{i}"] = np.dtype(kinds[column]).itemsize, values
        for i, (kind, value) in enumerate(fixed.values(), start=len(kinds)):
            records[f"len{i}"], records[f"val{i}"] = np.dtype(kind).itemsize, value
        chunks.append(records.tobytes())
    return b"".join([*chunks, (-1).to_bytes(2, "big", signed=True)])


def _sql_type(column: pd.Series) -> str:
    """The column type of what `_binary_copy` writes for `column` (not text)."""
    if pd.api.types.is_integer_dtype(column):
        return "integer"
    return "date" if pd.api.types.is_datetime64_any_dtype(column) else "double precision"


def _is_text(column: pd.Series) -> bool:
    return column.dtype == object or pd.api.types.is_string_dtype(column)


def _constant_field(value: Any) -> tuple[str, Any]:
    """The record field of a constant column: (numpy kind, value)."""
    if isinstance(value, str):
        encoded = value.encode()
        return f"S{len(encoded)}", encoded
    if isinstance(value, datetime) and value.tzinfo is not None:
        return ">i8", (value - _PG_EPOCH_UTC) // timedelta(microseconds=1)
    raise TypeError(f"a COPY constant must be text or a timezone-aware datetime, not {value!r}")


_PG_EPOCH_UTC = datetime(2000, 1, 1, tzinfo=UTC)
