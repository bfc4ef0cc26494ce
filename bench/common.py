"""Shared benchmark plumbing: machine description, timers, peak memory, a scratch store."""

from __future__ import annotations

import functools
import os
import resource
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def machine() -> str:
    """Cores, memory and speed of this machine, printed next to every figure."""
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    speed = f"reference loop {reference_loop_seconds():.2f} CPU s"
    return f"{os.cpu_count()} cores, {pages / 2**30:.0f} GiB, {speed}"


@functools.cache
def reference_loop_seconds() -> float:
    """CPU seconds of a fixed pure-Python loop (3 million additions), measured once per process.

    Machines of the same size differ in speed (seen: 2.5x between two sessions' 2-core machines), so
    CPU figures from two machines compare only through this: divide each by its machine's reference.
    """
    start, total = time.process_time(), 0
    for i in range(3 * 10**6):
        total += i
    return time.process_time() - start


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def timed(label: str, results: dict[str, float]) -> Iterator[None]:
    """Record the wall time of the block under `label` and print it."""
    start = time.perf_counter()
    yield
    results[label] = time.perf_counter() - start
    print(f"  {label:<28} {results[label]:8.2f} s   ({machine()})", flush=True)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` on this machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_cpu_seconds(conn: Connection) -> float:
    """CPU seconds used by the PostgreSQL backend serving `conn` (0 on SQLite: it runs in this process)."""
    if conn.dialect.name != "postgresql":
        return 0.0
    return process_cpu_seconds(conn.connection.dbapi_connection.get_backend_pid())  # type: ignore[union-attr]


def server_cpu_seconds(engine: Engine) -> float:
    """CPU seconds used so far by every open backend of `engine`'s PostgreSQL database (0 on SQLite)."""
    if engine.dialect.name != "postgresql":
        return 0.0
    with engine.connect() as conn:
        pids = conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).scalars()
        return sum(process_cpu_seconds(pid) for pid in pids)


def load() -> str:
    """The machine's load averages: on a shared machine wall times stretch with it, CPU times do not."""
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


@contextmanager
def scratch_postgres() -> Iterator[str]:
    """A fresh PostgreSQL database for one benchmark, dropped afterwards."""
    server = os.environ.get("STOCKPREDICTOR_BENCH_PG_URL", DEFAULT_PG_URL)
    name = f"sp_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
