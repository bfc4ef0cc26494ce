"""Shared benchmark plumbing: machine description, timers, peak memory, a scratch store."""

from __future__ import annotations

import os
import resource
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def machine() -> str:
    """Cores and memory of this machine, printed next to every figure."""
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return f"{os.cpu_count()} cores, {pages / 2**30:.0f} GiB"


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
