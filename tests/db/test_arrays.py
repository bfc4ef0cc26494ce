"""Chunked dataset arrays on real SQLite and real PostgreSQL: bit-exact across chunks, atomic, pickle-free."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Connection, Engine, func, insert, select, text, update

from stockpredictor.db.arrays import read_arrays, write_arrays
from stockpredictor.db.codec import npy_split
from stockpredictor.db.schema import dataset_array_chunks, dataset_arrays, processed_feature_data
from stockpredictor.errors import DataError

CHUNK = 1000  # bytes: every array below spans several chunks, most end in a partial one


def add_dataset_row(conn: Connection, dataset_run_id: str) -> None:
    """The processed-dataset row the arrays of `dataset_run_id` belong to."""
    conn.execute(
        insert(processed_feature_data).values(
            dataset_run_id=dataset_run_id,
            created_at=datetime.now(UTC),
            as_of=date(2021, 6, 1),
            source="sample",
            target="log_return",
            tickers=[],
            feature_columns=[],
            params={},
        )
    )


def stored_rows(engine: Engine) -> list[int]:
    """Rows in the dataset table, the array headers and the chunks."""
    with engine.connect() as conn:
        return [
            int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in (processed_feature_data, dataset_arrays, dataset_array_chunks)
        ]


def awkward_arrays() -> dict[str, np.ndarray]:
    """Arrays whose bits must survive: NaN payloads, -0.0, infinities, dates, Fortran order, empty."""
    rng = np.random.default_rng(7)
    nan_payloads = np.array([0x7FC00001, 0xFFC12345, 0x7F800001, 0x80000000, 0x7F800000], dtype=np.uint32)
    features = rng.normal(size=(53, 7, 3)).astype(np.float32)
    features.reshape(-1)[: nan_payloads.size] = nan_payloads.view(np.float32)
    return {
        "features": features,
        "close": np.asfortranarray(rng.normal(size=(41, 9))),
        "dates": np.arange("2001-01-01", "2001-12-31", dtype="datetime64[D]"),
        "counts": rng.integers(-(2**62), 2**62, size=333, dtype=np.int64),
        "empty": np.zeros((0, 4), np.float32),
    }


def test_arrays_larger_than_a_chunk_round_trip_bit_for_bit(engine: Engine) -> None:
    arrays = awkward_arrays()
    with engine.begin() as conn:
        add_dataset_row(conn, "run1")
        write_arrays(conn, "run1", arrays, chunk_bytes=CHUNK)
    with engine.connect() as conn:
        restored = read_arrays(conn, "run1", list(arrays))
        chunks: dict[str, int] = dict(
            conn.execute(
                select(dataset_array_chunks.c.name, func.count()).group_by(dataset_array_chunks.c.name)
            ).all()
        )
    for name, array in arrays.items():
        assert restored[name].dtype == array.dtype and restored[name].shape == array.shape
        assert restored[name].tobytes(order="C") == array.tobytes(order="C"), name
        assert chunks.get(name, 0) == -(-array.nbytes // CHUNK)
    assert chunks["features"] > 1


def test_object_arrays_are_refused_on_write_and_on_read(engine: Engine) -> None:
    with engine.begin() as conn:
        add_dataset_row(conn, "run1")
        with pytest.raises(ValueError, match="allow_pickle"):
            write_arrays(conn, "run1", {"objects": np.array([{"a": 1}], dtype=object)})
        write_arrays(conn, "run1", {"x": np.zeros(3)})
        pickled = io.BytesIO()
        np.save(pickled, np.zeros(3, dtype=object), allow_pickle=True)
        conn.execute(update(dataset_arrays).values(npy_header=npy_split(pickled.getvalue())[0]))
    with engine.connect() as conn, pytest.raises(ValueError, match="allow_pickle"):
        read_arrays(conn, "run1", ["x"])


def test_a_missing_or_truncated_array_is_a_data_error(engine: Engine) -> None:
    with engine.begin() as conn:
        add_dataset_row(conn, "run1")
        write_arrays(conn, "run1", {"x": np.arange(1000.0)}, chunk_bytes=CHUNK)
        conn.execute(dataset_array_chunks.delete().where(dataset_array_chunks.c.chunk == 3))
    with engine.connect() as conn:
        with pytest.raises(DataError, match=r"'x'.*incomplete"):
            read_arrays(conn, "run1", ["x"])
        with pytest.raises(DataError, match="no stored array 'y'"):
            read_arrays(conn, "run1", ["y"])


def test_an_error_before_commit_leaves_no_dataset(engine: Engine) -> None:
    with pytest.raises(RuntimeError), engine.begin() as conn:
        add_dataset_row(conn, "run1")
        write_arrays(conn, "run1", awkward_arrays(), chunk_bytes=CHUNK)
        raise RuntimeError("crash after the chunks, before the commit")
    assert stored_rows(engine) == [0, 0, 0]


# The child writes 256 chunks of 1 MB in one transaction and is SIGKILLed once some have reached
# the database (PostgreSQL: COPY progress; SQLite: pages spilled to the write-ahead log).
_WRITER = """
import sys
import numpy as np
from stockpredictor.db.engine import make_engine
from stockpredictor.db.arrays import write_arrays
from tests.db.test_arrays import add_dataset_row
with make_engine(sys.argv[1]).begin() as conn:
    add_dataset_row(conn, "crashed")
    write_arrays(conn, "crashed", {"big": np.ones(2**25)}, chunk_bytes=2**20)
"""


def chunks_written(engine: Engine) -> int:
    """How many chunks the uncommitted writer has sent so far (at least, as far as can be seen)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT coalesce(max(tuples_processed), 0) FROM pg_stat_progress_copy "
                        "WHERE datname = current_database() AND relid = 'dataset_array_chunks'::regclass"
                    )
                ).scalar_one()
            )
    wal = Path(f"{engine.url.database}-wal")
    return wal.stat().st_size // 2**20 if wal.exists() else 0


def test_a_writer_killed_mid_write_leaves_nothing_behind(engine: Engine, db_url: str) -> None:
    repo = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, db_url], cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)}
    )
    while chunks_written(engine) < 4 and child.poll() is None:
        time.sleep(0.005)
    assert child.poll() is None, "the writer finished before it could be killed mid-write"
    progress = chunks_written(engine)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert 4 <= progress < 256
    assert stored_rows(engine) == [0, 0, 0]
    with engine.begin() as conn:  # the id is free again: nothing holds it
        add_dataset_row(conn, "crashed")
        write_arrays(conn, "crashed", {"big": np.ones(10)})
