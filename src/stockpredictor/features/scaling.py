"""Min-max scaling fitted per (stock, feature) column, applied vectorised, stored as JSON."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class MinMaxScaler:
    """Scales the last axes of an array to [0, 1] with one (min, max) per column, like sklearn's.

    `data_min`/`data_max` have the shape of one row (e.g. (stocks, features) for a panel); a
    column that is constant on the fitting data gets scale 1, as in scikit-learn.
    """

    data_min: np.ndarray
    data_max: np.ndarray

    @classmethod
    def fit(cls, rows: np.ndarray) -> MinMaxScaler:
        """Fit on `rows` (first axis = observations); NaN rows are ignored."""
        rows = np.asarray(rows, dtype=np.float64)
        if not np.isfinite(rows).any(axis=0).all():
            raise ValueError("cannot fit a scaler: a column has no finite value")
        return cls(data_min=np.nanmin(rows, axis=0), data_max=np.nanmax(rows, axis=0))

    @classmethod
    def fit_with_fallback(cls, rows: np.ndarray) -> MinMaxScaler:
        """`fit`, except that a column with no finite value (a stock absent from all of `rows`) takes
        the range of its feature (the last axis; of the whole array when 2-D) over every stock."""
        rows = np.asarray(rows, dtype=np.float64)
        if not np.isfinite(rows).any():
            raise ValueError("cannot fit a scaler: no finite value")
        pooled = tuple(range(rows.ndim - 1)) if rows.ndim > 2 else None
        low, high = np.nanmin(rows, axis=pooled), np.nanmax(rows, axis=pooled)
        seen = np.isfinite(rows).any(axis=0)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns, replaced below
            data_min, data_max = np.nanmin(rows, axis=0), np.nanmax(rows, axis=0)
        return cls(
            data_min=np.where(seen, data_min, np.broadcast_to(low, seen.shape)),
            data_max=np.where(seen, data_max, np.broadcast_to(high, seen.shape)),
        )

    @property
    def scale(self) -> np.ndarray:
        span = self.data_max - self.data_min
        return 1.0 / np.where(span > 0, span, 1.0)

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Scaled float32 copy of `values` (any leading axes)."""
        return ((np.asarray(values, dtype=np.float64) - self.data_min) * self.scale).astype(np.float32)

    def inverse_transform(self, scaled: np.ndarray) -> np.ndarray:
        """Back to the original units (float64)."""
        return np.asarray(scaled, dtype=np.float64) / self.scale + self.data_min

    def to_json(self) -> dict[str, Any]:
        """JSON-safe parameters (floats round-trip exactly through `repr`)."""
        return {
            "kind": "minmax",
            "shape": list(self.data_min.shape),
            "data_min": self.data_min.ravel().tolist(),
            "data_max": self.data_max.ravel().tolist(),
        }

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> MinMaxScaler:
        if payload.get("kind") != "minmax":
            raise ValueError(f"not a min-max scaler: kind={payload.get('kind')!r}")
        shape = tuple(payload["shape"])
        return cls(
            data_min=np.asarray(payload["data_min"], dtype=np.float64).reshape(shape),
            data_max=np.asarray(payload["data_max"], dtype=np.float64).reshape(shape),
        )
