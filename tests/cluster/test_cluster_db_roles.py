"""Least privilege in the database: the SQL the one-shot Job runs (db-roles.sql and db-reader.sql, from
the rendered ConfigMap) is run with psql on the real test PostgreSQL, twice, for two role/database
pairs as on the cluster; each role logs in, owns its database only and has no other privilege. The
API's reader role reads every table of the project's database, those migrated later included, and
cannot write: not in its read-only sessions, nor after switching them to read-write."""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.pool import NullPool

from stockpredictor.db.engine import make_engine, migrate
from stockpredictor.db.schema import model_manifests
from tests.cluster.assets import MANIFESTS
from tests.conftest import pg_server_url
from tests.support.psql import run_psql

SQL_CONFIGMAP = "stockpredictor-db-roles"


def rendered_sql(resources: list[dict[str, Any]], name: str = "db-roles.sql") -> str:
    (configmap,) = [
        r for r in resources if r["kind"] == "ConfigMap" and r["metadata"]["name"] == SQL_CONFIGMAP
    ]
    return str(configmap["data"][name])


def run_db_roles(sql: Path, role: str, database: str, password: str) -> subprocess.CompletedProcess[str]:
    """db-roles.sql as the Job runs it."""
    return run_psql(sql, DB_ROLE=role, DB_NAME=database, DB_PASSWORD=password)


@pytest.fixture
def pairs(pg_admin: Engine) -> Iterator[list[tuple[str, str]]]:
    """Two fresh (role, database) names, dropped afterwards."""
    suffix = uuid.uuid4().hex[:10]
    names = [
        (f"sp_role_project_{suffix}", f"sp_db_project_{suffix}"),
        (f"sp_role_mlflow_{suffix}", f"sp_db_mlflow_{suffix}"),
    ]
    yield names
    with pg_admin.connect() as conn:
        for _, database in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        for role, _ in names:
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))


def connect_as(role: str, database: str) -> Engine:
    url = make_url(pg_server_url()).set(username=role, password=None, database=database)
    return create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


def test_the_job_runs_the_sql_of_the_configmap(kind_resources: list[dict[str, Any]]) -> None:
    for name in ("db-roles.sql", "db-reader.sql"):
        assert rendered_sql(kind_resources, name) == (MANIFESTS / "base" / name).read_text()
    (job,) = [
        r for r in kind_resources if r["kind"] == "Job" and r["metadata"]["name"] == "stockpredictor-db-roles"
    ]
    pod = job["spec"]["template"]["spec"]
    (container,) = [c for c in pod["containers"] if c["name"] == "db-roles"]
    script = " ".join(container["command"] + container["args"])
    mount = next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "db-roles")
    volume = next(v for v in pod["volumes"] if v["name"] == "db-roles")
    assert volume["configMap"]["name"] == SQL_CONFIGMAP
    calls = re.findall(r'DB_ROLE=(\w+) DB_NAME=(\w+) DB_PASSWORD="\$(\w+)" psql -X -q -f (\S+)', script)
    assert calls == [
        ("stockpredictor", "stockpredictor", "STOCKPREDICTOR_DB_PASSWORD", f"{mount}/db-roles.sql"),
        ("mlflow", "mlflow", "MLFLOW_DB_PASSWORD", f"{mount}/db-roles.sql"),
    ]
    reader = re.findall(
        r'DB_ROLE=(\w+) DB_NAME=(\w+) DB_READER=(\w+) DB_READER_PASSWORD="\$(\w+)" psql -X -q -f (\S+)',
        script,
    )
    assert reader == [
        (
            "stockpredictor",
            "stockpredictor",
            "stockpredictor_reader",
            "STOCKPREDICTOR_READER_DB_PASSWORD",
            f"{mount}/db-reader.sql",
        )
    ]


def test_each_role_owns_only_its_database_and_is_no_superuser(
    kind_resources: list[dict[str, Any]], pairs: list[tuple[str, str]], pg_admin: Engine, tmp_path: Path
) -> None:
    sql = tmp_path / "db-roles.sql"
    sql.write_text(rendered_sql(kind_resources))
    for _ in range(2):  # it runs at every MLflow pod start: idempotent
        for role, database in pairs:
            result = run_db_roles(sql, role, database, f"pw-{uuid.uuid4().hex}")
            assert result.returncode == 0, result.stderr
    with pg_admin.connect() as conn:
        for role, database in pairs:
            attributes = conn.execute(
                text(
                    "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolcanlogin,"
                    " rolpassword IS NOT NULL FROM pg_authid WHERE rolname = :role"
                ),
                {"role": role},
            ).one()
            assert tuple(attributes) == (False, False, False, False, False, True, True), role
            owned = (
                conn.execute(
                    text(
                        "SELECT datname FROM pg_database"
                        " WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = :r)"
                    ),
                    {"r": role},
                )
                .scalars()
                .all()
            )
            assert owned == [database]
    (project_role, project_db), (mlflow_role, mlflow_db) = pairs
    with connect_as(project_role, project_db).connect() as conn:  # the owner works in its database
        conn.execute(text("CREATE TABLE prices (day date)"))
        with pytest.raises(ProgrammingError, match="permission denied to create database"):
            conn.execute(text('CREATE DATABASE "sp_never"'))
    for role, database in ((mlflow_role, project_db), (project_role, mlflow_db)):
        with pytest.raises(OperationalError, match="permission denied for database"):
            connect_as(role, database).connect()


def test_a_missing_name_stops_the_script(
    pairs: list[tuple[str, str]], kind_resources: list[dict[str, Any]], tmp_path: Path
) -> None:
    sql = tmp_path / "db-roles.sql"
    sql.write_text(rendered_sql(kind_resources))
    role, _ = pairs[0]
    result = run_db_roles(sql, role, "", "pw")
    assert result.returncode != 0


@pytest.fixture
def reader(pairs: list[tuple[str, str]], pg_admin: Engine) -> Iterator[str]:
    """A fresh name for the reader role of the project's database (dropped with that database)."""
    name = f"sp_role_reader_{uuid.uuid4().hex[:10]}"
    yield name
    with pg_admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{pairs[0][1]}" WITH (FORCE)'))
        conn.execute(text(f'DROP ROLE IF EXISTS "{name}"'))


WRITES = (
    "INSERT INTO events (created_at, kind, text, fields) VALUES (now(), 'failure', 'x', '{}')",
    "UPDATE early SET x = 2",
    "DELETE FROM early",
    "CREATE TABLE planted (x int)",
)


def test_the_reader_role_reads_every_table_and_cannot_write(
    kind_resources: list[dict[str, Any]], pairs: list[tuple[str, str]], reader: str, tmp_path: Path
) -> None:
    (owner, database), _ = pairs
    roles, reader_sql = tmp_path / "db-roles.sql", tmp_path / "db-reader.sql"
    roles.write_text(rendered_sql(kind_resources))
    reader_sql.write_text(rendered_sql(kind_resources, "db-reader.sql"))
    names = {"DB_ROLE": owner, "DB_NAME": database, "DB_READER": reader}
    assert run_db_roles(roles, owner, database, "pw-owner").returncode == 0
    with connect_as(owner, database).connect() as conn:  # a table from before the reader existed
        conn.execute(text("CREATE TABLE early (x int)"))
        conn.execute(text("INSERT INTO early VALUES (1)"))
    result = run_psql(reader_sql, **names, DB_READER_PASSWORD="pw-reader")
    assert result.returncode == 0, result.stderr
    owner_engine = make_engine(connect_as(owner, database).url.render_as_string(hide_password=False))
    migrate(owner_engine)  # the project's tables, created by the owner after the grants
    owner_engine.dispose()
    result = run_psql(reader_sql, **names, DB_READER_PASSWORD="pw-reader")  # the Job reruns: idempotent
    assert result.returncode == 0, result.stderr

    with connect_as(reader, database).connect() as conn:
        assert conn.execute(text("SHOW default_transaction_read_only")).scalar() == "on"
        assert conn.execute(text("SELECT x FROM early")).scalar() == 1
        assert conn.execute(select(model_manifests)).all() == []
        for statement in WRITES:
            with pytest.raises(DBAPIError, match="read-only transaction"):
                conn.execute(text(statement))
        # a compromised reader can switch its session back to read-write: the privileges still refuse
        conn.execute(text("SET default_transaction_read_only = off"))
        for statement in WRITES:
            with pytest.raises(ProgrammingError, match=r"permission denied for (table|schema)"):
                conn.execute(text(statement))
        with pytest.raises(ProgrammingError, match="permission denied to create database"):
            conn.execute(text('CREATE DATABASE "sp_never"'))
    with connect_as(owner, database).connect() as conn:
        assert conn.execute(text("SELECT x FROM early")).scalars().all() == [1]
        assert conn.execute(text("SELECT count(*) FROM events")).scalar() == 0
