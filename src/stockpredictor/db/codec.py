"""Arrays to and from `.npy` bytes and `.npy` headers; reading never unpickles."""

from __future__ import annotations

import io

import numpy as np

_OBJECT_REFUSED = "object arrays cannot be stored or loaded (allow_pickle=False)"


def array_to_bytes(array: np.ndarray) -> bytes:
    """Serialise a numeric array as `.npy` bytes (object arrays are refused)."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def array_from_bytes(payload: bytes) -> np.ndarray:
    """Read `.npy` bytes with pickle disabled."""
    return np.load(io.BytesIO(payload), allow_pickle=False)


def npy_header(array: np.ndarray) -> bytes:
    """The `.npy` header (magic, version, dict) of C-contiguous `array`; object dtypes are refused."""
    if array.dtype.hasobject:
        raise ValueError(_OBJECT_REFUSED)
    fields = np.lib.format.header_data_from_array_1_0(array)
    buffer = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(buffer, fields)
    except ValueError:  # a header over 64 KiB (very wide structured dtypes) needs format 2.0
        buffer = io.BytesIO()
        np.lib.format.write_array_header_2_0(buffer, fields)
    return buffer.getvalue()


def _read_header(payload: bytes) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    stream = io.BytesIO(payload)
    version = np.lib.format.read_magic(stream)
    reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran_order, dtype = reader(stream)
    return tuple(shape), bool(fortran_order), dtype, stream.tell()


def parse_npy_header(header: bytes) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) of a `.npy` header; object dtypes are refused."""
    shape, fortran_order, dtype, _ = _read_header(header)
    if dtype.hasobject:
        raise ValueError(_OBJECT_REFUSED)
    return shape, fortran_order, dtype


def npy_split(payload: bytes) -> tuple[bytes, memoryview]:
    """A whole `.npy` payload split into its header and its raw data (the data is not copied)."""
    offset = _read_header(payload)[3]
    return payload[:offset], memoryview(payload)[offset:]
