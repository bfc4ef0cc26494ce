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


_NPY_MAGIC = b"\x93NUMPY"
#: What a sidecar must hold (`prepare_input` writes them all).
SIDECAR_KEYS = ("dataset_run_id", "tickers", "last_close", "target", "last_day", "as_of", "shape")


def load_input(input_path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """An input window saved by `save_input` and its description (never unpickles).

    Refused with one line (`InputWindowError`): a file that is not a `.npy` array (or an object array),
    a sidecar that is not the JSON `prepare-input` writes, a window that is not one finite float32
    (1, days, stocks, features) array of the shape its sidecar gives.
    """
    sidecar = sidecar_path(input_path)
    for path in (input_path, sidecar):
        if not path.is_file():
            raise InputWindowError(f"{path} not found: run `prepare-input` to create the input window")
    with input_path.open("rb") as head:
        if head.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
            raise InputWindowError(f"{input_path} is not a .npy file (prepare-input writes one)")
    try:
        window = np.load(input_path, allow_pickle=False)
    except (ValueError, EOFError) as exc:
        raise InputWindowError(f"{input_path} is not a numeric .npy window ({exc})") from None
    try:
        description = json.loads(sidecar.read_text())
    except ValueError as exc:
        raise InputWindowError(f"{sidecar} is not the JSON sidecar prepare-input writes ({exc})") from None
    missing = [key for key in SIDECAR_KEYS if key not in description] if isinstance(description, dict) else []
    if not isinstance(description, dict) or missing:
        raise InputWindowError(f"{sidecar} is not the JSON sidecar prepare-input writes (missing {missing})")
    if window.dtype != np.float32 or window.ndim != 4 or window.shape[0] != 1:
        raise InputWindowError(
            f"{input_path}: a {window.dtype} array of shape {window.shape}; a window is one float32 "
            "(1, days, stocks, features) array"
        )
    if list(window.shape) != description["shape"]:
        raise InputWindowError(f"{input_path}: shape {window.shape}, its sidecar says {description['shape']}")
    bad = int(np.size(window) - np.count_nonzero(np.isfinite(window)))
    if bad:
        raise InputWindowError(
            f"{input_path}: {bad} of {window.size} values are NaN or infinite (prepare-input writes finite "
            "windows: absent cells are 0.5 with presence 0); run prepare-input again"
        )
    return window, description
