"""Dataset arrays stored in chunks: no size ceiling, binary COPY on PostgreSQL, bit-exact.

Each array is a `.npy` header (dtype, shape; object dtypes refused, nothing is unpickled) in
`dataset_arrays` and its raw C-order bytes cut into `chunk_bytes` pieces in `dataset_array_chunks`.
Writes run on the caller's connection, inside its transaction: a crash leaves no partial array.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
from sqlalchemy import Connection, delete, insert, select

from stockpredictor.db.codec import npy_header, parse_npy_header
from stockpredictor.db.schema import dataset_array_chunks, dataset_arrays
from stockpredictor.errors import DataError

CHUNK_BYTES = 8 * 2**20  # bench/arrays.py: 32 and 64 MB chunks were no faster, and cost more memory

_PGCOPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_PGCOPY_TRAILER = struct.pack(">h", -1)


def stored_nbytes(array: np.ndarray) -> int:
    """Bytes `array` occupies in the store (its `.npy` header and its data)."""
    return len(npy_header(array)) + array.nbytes


def write_arrays(
    conn: Connection,
    dataset_run_id: str,
    arrays: Mapping[str, np.ndarray],
    chunk_bytes: int = CHUNK_BYTES,
) -> None:
    """Store `arrays` under `dataset_run_id` in the caller's transaction (names must be new)."""
    if chunk_bytes < 1:
        raise ValueError(f"chunk_bytes must be positive, got {chunk_bytes}")
    contiguous = {name: np.ascontiguousarray(array) for name, array in arrays.items()}
    conn.execute(
        insert(dataset_arrays),
        [
            {
                "dataset_run_id": dataset_run_id,
                "name": name,
                "npy_header": npy_header(array),
                "nbytes": array.nbytes,
                "n_chunks": -(-array.nbytes // chunk_bytes),
            }
            for name, array in contiguous.items()
        ],
    )
    if conn.dialect.name == "postgresql":
        _copy_chunks_in(conn, dataset_run_id, contiguous, chunk_bytes)
        return
    for name, array in contiguous.items():
        rows = [
            {"dataset_run_id": dataset_run_id, "name": name, "chunk": index, "data": piece}
            for index, piece in enumerate(_chunks(array, chunk_bytes))
        ]
        if rows:
            conn.execute(insert(dataset_array_chunks), rows)


def read_arrays(conn: Connection, dataset_run_id: str, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The arrays `names` of `dataset_run_id`, bit for bit as written; DataError if one is missing."""
    headers = {
        row.name: row
        for row in conn.execute(
            select(dataset_arrays).where(
                dataset_arrays.c.dataset_run_id == dataset_run_id, dataset_arrays.c.name.in_(names)
            )
        )
    }
    arrays = {}
    for name in names:
        if name not in headers:
            raise DataError(f"dataset run id {dataset_run_id!r} has no stored array {name!r}")
        shape, fortran_order, dtype = parse_npy_header(headers[name].npy_header)
        buffer = bytearray(headers[name].nbytes)
        if conn.dialect.name == "postgresql":
            received = _copy_chunks_out(conn, dataset_run_id, name, memoryview(buffer))
        else:
            received = _select_chunks(conn, dataset_run_id, name, memoryview(buffer))
        if received != (len(buffer), headers[name].n_chunks):
            raise DataError(f"array {name!r} of dataset run id {dataset_run_id!r} is incomplete in the store")
        flat = np.frombuffer(buffer, dtype=dtype)
        arrays[name] = flat.reshape(shape, order="F" if fortran_order else "C")
    return arrays


def delete_arrays(conn: Connection, dataset_run_id: str, names: Sequence[str]) -> None:
    """Remove the arrays `names` of `dataset_run_id` and their chunks (if stored)."""
    conn.execute(
        delete(dataset_arrays).where(
            dataset_arrays.c.dataset_run_id == dataset_run_id, dataset_arrays.c.name.in_(names)
        )
    )


def _chunks(array: np.ndarray, chunk_bytes: int) -> Iterator[memoryview]:
    data = array.reshape(-1).view(np.uint8).data if array.nbytes else memoryview(b"")
    for start in range(0, len(data), chunk_bytes):
        yield data[start : start + chunk_bytes]


class _CopyInStream:
    """A file-like `read()` over pieces of a binary COPY payload (psycopg2 sends each piece as is)."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces

    def read(self, _size: int = -1) -> bytes:
        return next(self._pieces, b"")


def _copy_pieces(dataset_run_id: str, arrays: Mapping[str, np.ndarray], chunk_bytes: int) -> Iterator[bytes]:
    run_id = dataset_run_id.encode()
    yield _PGCOPY_HEADER
    for name, array in arrays.items():
        encoded = name.encode()
        for index, piece in enumerate(_chunks(array, chunk_bytes)):
            yield (
                struct.pack(">hi", 4, len(run_id))
                + run_id
                + struct.pack(">i", len(encoded))
                + encoded
                + struct.pack(">iii", 4, index, len(piece))
            )
            yield bytes(piece)
    yield _PGCOPY_TRAILER


def _copy_chunks_in(
    conn: Connection, dataset_run_id: str, arrays: Mapping[str, np.ndarray], chunk_bytes: int
) -> None:
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.copy_expert(
            "COPY dataset_array_chunks (dataset_run_id, name, chunk, data) FROM STDIN WITH (FORMAT binary)",
            _CopyInStream(_copy_pieces(dataset_run_id, arrays, chunk_bytes)),
        )
    finally:
        cursor.close()


class _CopyOutSink:
    """A file-like `write()` parsing a one-column binary COPY stream straight into `target`."""

    def __init__(self, target: memoryview) -> None:
        self._target = target
        self.filled = 0
        self.rows = 0
        self._pending = bytearray()
        self._need = len(_PGCOPY_HEADER)
        self._state = "header"
        self._remaining = 0

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while len(view):
            if self._state == "data":
                n = min(self._remaining, len(view))
                self._target[self.filled : self.filled + n] = view[:n]
                self.filled, self._remaining, view = self.filled + n, self._remaining - n, view[n:]
                if not self._remaining:
                    self._state, self._need = "count", 2
                continue
            take = self._need - len(self._pending)
            self._pending += view[:take]
            view = view[take:]
            if len(self._pending) == self._need:
                self._control(bytes(self._pending))
                self._pending.clear()
        return len(data)

    def _control(self, field: bytes) -> None:
        if self._state == "header":
            if field != _PGCOPY_HEADER:
                raise DataError("unexpected binary COPY header from PostgreSQL")
            self._state, self._need = "count", 2
        elif self._state == "count":
            if field == _PGCOPY_TRAILER:
                self._state, self._need = "done", 1
            else:
                self._state, self._need = "length", 4
        elif self._state == "length":
            length = struct.unpack(">i", field)[0]
            if length < 0 or self.filled + length > len(self._target):
                raise DataError("a stored array chunk does not fit its header")
            self.rows += 1
            self._state, self._remaining = ("data", length) if length else ("count", 0)
            self._need = 2
        else:
            raise DataError("data after the end of a binary COPY stream")


def _copy_chunks_out(conn: Connection, dataset_run_id: str, name: str, target: memoryview) -> tuple[int, int]:
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    sink = _CopyOutSink(target)
    try:
        query = cursor.mogrify(
            "SELECT data FROM dataset_array_chunks WHERE dataset_run_id = %s AND name = %s ORDER BY chunk",
            (dataset_run_id, name),
        ).decode()
        cursor.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT binary)", sink)
    finally:
        cursor.close()
    return sink.filled, sink.rows


def _select_chunks(conn: Connection, dataset_run_id: str, name: str, target: memoryview) -> tuple[int, int]:
    filled = rows = 0
    result = conn.execute(
        select(dataset_array_chunks.c.data)
        .where(dataset_array_chunks.c.dataset_run_id == dataset_run_id, dataset_array_chunks.c.name == name)
        .order_by(dataset_array_chunks.c.chunk)
    )
    for (piece,) in result:
        if filled + len(piece) > len(target):
            raise DataError(f"array {name!r} of dataset run id {dataset_run_id!r} is longer than its header")
        target[filled : filled + len(piece)] = piece
        filled, rows = filled + len(piece), rows + 1
    return filled, rows
