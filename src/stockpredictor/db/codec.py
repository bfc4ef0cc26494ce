"""Arrays to and from `.npy` bytes; reading never unpickles."""

from __future__ import annotations

import io

import numpy as np


def array_to_bytes(array: np.ndarray) -> bytes:
    """Serialise a numeric array as `.npy` bytes (object arrays are refused)."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def array_from_bytes(payload: bytes) -> np.ndarray:
    """Read `.npy` bytes with pickle disabled."""
    return np.load(io.BytesIO(payload), allow_pickle=False)
