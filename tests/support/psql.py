"""psql on the test PostgreSQL server as the cluster's Job runs it: connection and names from the
environment only (the SQL files of manifests/base read them with `\\getenv`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import pg_server_url


def run_psql(sql: Path, **names: str) -> subprocess.CompletedProcess[str]:
    """Run the file `sql` as the test server's user, with `names` as environment variables."""
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql is not installed")
    server = make_url(pg_server_url())
    env = {
        "PGHOST": server.host or "127.0.0.1",
        "PGPORT": str(server.port or 5432),
        "PGUSER": server.username or "postgres",
        "PGDATABASE": server.database or "postgres",
        **names,
    }
    if server.password:
        env["PGPASSWORD"] = server.password
    return subprocess.run(
        [psql, "-X", "-q", "-f", str(sql)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
