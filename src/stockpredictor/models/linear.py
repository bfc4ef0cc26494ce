"""Ridge regression in closed form on standardised columns, kept as coefficients in the columns' units."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LinearModel:
    """prediction = rows @ coef + intercept."""

    coef: np.ndarray  # (columns,) float64
    intercept: float

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """(n,) float64 predictions of rows (n, columns)."""
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != len(self.coef):
            raise ValueError(f"expected rows of {len(self.coef)} columns, got shape {rows.shape}")
        out: np.ndarray = rows @ self.coef + self.intercept
        return out

    def to_json(self) -> dict[str, Any]:
        """JSON-safe coefficients (floats round-trip exactly)."""
        return {"coef": self.coef.tolist(), "intercept": self.intercept}

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> LinearModel:
        coef = np.asarray(payload["coef"], dtype=np.float64)
        if coef.ndim != 1 or not np.isfinite(coef).all():
            raise ValueError("a linear model needs a flat list of finite coefficients")
        return cls(coef=coef, intercept=float(payload["intercept"]))


def fit_ridge(rows: np.ndarray, y: np.ndarray, alpha: float) -> LinearModel:
    """Minimise ||y - X b - c||^2 + alpha ||s * b||^2, s the columns' standard deviations.

    The penalty applies to the standardised columns (so it does not depend on a column's units);
    constant columns get no weight. The intercept is not penalised.
    """
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    rows = np.asarray(rows, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(rows) == 0 or len(rows) != len(y):
        raise ValueError(f"need as many targets as rows, got {len(y)} and {len(rows)}")
    mean, std = rows.mean(axis=0), rows.std(axis=0)
    varies = std > 0
    z = (rows[:, varies] - mean[varies]) / std[varies]
    gram = z.T @ z + alpha * np.eye(z.shape[1])
    beta = np.linalg.solve(gram, z.T @ (y - y.mean()))
    coef = np.zeros(rows.shape[1])
    coef[varies] = beta / std[varies]
    return LinearModel(coef=coef, intercept=float(y.mean() - mean @ coef))
