"""Files the stages write: atomic writes, and the input window `prepare-input` saves for `predict`.

An input window is a (1, sequence_length, stocks, features) float32 `.npy` file with a JSON sidecar
of the same stem describing it (dataset run id, tickers, feature columns, target kind, last observed
day, last close per ticker). Readers see the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from stockpredictor.db.codec import array_to_bytes
from stockpredictor.errors import InputWindowError


def write_bytes_atomic(path: Path, payload: bytes) -> Path:
    """Write `payload` to a temporary file beside `path`, then rename it over `path`; returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: Path, document: Any) -> Path:
    """`document` as indented JSON (dates and paths as strings), written atomically."""
    return write_bytes_atomic(path, (json.dumps(document, indent=2, default=str) + "\n").encode())


def sidecar_path(input_path: Path) -> Path:
    """The JSON description saved next to an input window."""
    return input_path.with_suffix(".json")


def save_input(input_path: Path, window: np.ndarray, description: dict[str, Any]) -> None:
    """Save a (1, ...) float32 window and its description (its `shape` is added) atomically."""
    write_bytes_atomic(input_path, array_to_bytes(window))
    write_json_atomic(sidecar_path(input_path), {**description, "shape": list(window.shape)})


def load_input(input_path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """An input window saved by `save_input` and its description (never unpickles)."""
    sidecar = sidecar_path(input_path)
    for path in (input_path, sidecar):
        if not path.is_file():
            raise InputWindowError(f"{path} not found: run `prepare-input` to create the input window")
    window = np.load(input_path, allow_pickle=False)
    description: dict[str, Any] = json.loads(sidecar.read_text())
    if list(window.shape) != description["shape"] or window.dtype != np.float32:
        raise InputWindowError(
            f"{input_path}: a {window.dtype} array of shape {window.shape}, its sidecar says float32 "
            f"{description['shape']}"
        )
    return window, description
