"""The files of a tabular model (`models.tabular`) in an MLflow model folder: JSON and `.npy`, no pickle.

`write_tabular` lays out `tabular/model.json` (family, row layout, y scaler, coefficients or tree
scalars) and one `tabular/<array>.npy` per array of the trees; `read_tabular` reads them back with
`json` and `numpy.load(allow_pickle=False)` (object arrays are refused) and validates the payload.
The registry checks the folder against the run's manifest and `registry_manifest.structure_problems`
before calling `read_tabular`. This module does no I/O beyond the given folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from stockpredictor.models.tabular import TabularModel
from stockpredictor.registry_manifest import TABULAR_DATA, TABULAR_META_FILE


def write_tabular(directory: Path, model: TabularModel) -> None:
    """Write `model` under `directory / TABULAR_DATA` (created)."""
    data = directory / TABULAR_DATA
    data.mkdir(parents=True)
    meta, arrays = model.to_payload()
    (data / TABULAR_META_FILE).write_text(json.dumps(meta, sort_keys=True))
    for name, array in arrays.items():
        np.save(data / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)


def read_tabular(directory: Path) -> TabularModel:
    """The model written by `write_tabular` under `directory`; ValueError when it is not one."""
    data = directory / TABULAR_DATA
    try:
        meta = json.loads((data / TABULAR_META_FILE).read_text())
        arrays = {path.stem: np.load(path, allow_pickle=False) for path in sorted(data.glob("*.npy"))}
        return TabularModel.from_payload(meta, arrays)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a tabular model: {type(exc).__name__}: {exc}") from None
