"""Failures of the environment as one-line errors; SQL errors and other OS errors stay bugs."""

from __future__ import annotations

import errno
import sqlite3

import psycopg2
import pytest
from sqlalchemy.exc import DatabaseError, OperationalError

from stockpredictor.errors import ResourceError, StoreError
from stockpredictor.failures import reported_as_user_errors

PG_URL = "postgresql+psycopg2://sp:s3cret@db.example:5432/stockpredictor"


class StorageInternalError(Exception):
    """What Optuna raises from the driver's error."""


def test_an_error_raised_from_a_lost_connection_names_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKPREDICTOR_DATABASE_URL", PG_URL)
    lost = OperationalError("SELECT 1", {}, psycopg2.OperationalError("server closed the connection"))
    with pytest.raises(StoreError) as info, reported_as_user_errors():
        raise StorageInternalError("An exception is raised during the commit.") from lost
    assert str(info.value).startswith(
        "store postgresql+psycopg2://sp:***@db.example:5432/stockpredictor (STOCKPREDICTOR_DATABASE_URL): "
        "connection refused or lost (server closed the connection)"
    )


def test_sqlite_file_errors_are_user_errors_but_sql_errors_are_bugs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKPREDICTOR_DATABASE_URL", "sqlite:////data/store.db")
    full = OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full"))
    with (
        pytest.raises(StoreError, match=r"database or disk is full; check the file's folder"),
        reported_as_user_errors(),
    ):
        raise full
    with pytest.raises(StoreError, match=r"file is not a database"), reported_as_user_errors():
        raise DatabaseError("SELECT", {}, sqlite3.DatabaseError("file is not a database"))
    with pytest.raises(OperationalError, match="no such table"), reported_as_user_errors():
        raise OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: prices"))


@pytest.mark.parametrize(
    ("code", "advice"),
    [
        (errno.ENOSPC, "free disk space"),
        (errno.EROFS, "use a writable location"),
        (errno.EACCES, "check the permissions of the file and its folder"),
    ],
)
def test_os_errors_a_user_can_fix_are_one_line(code: int, advice: str) -> None:
    with pytest.raises(ResourceError) as info, reported_as_user_errors():
        raise OSError(code, "the system said no", "/data/predictions/x.json")
    assert str(info.value) == f"/data/predictions/x.json: the system said no; {advice}, then rerun"


def test_other_os_errors_stay_bugs() -> None:
    with pytest.raises(FileNotFoundError), reported_as_user_errors():
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/opt/missing")
