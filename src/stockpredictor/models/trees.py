"""A fitted `HistGradientBoostingRegressor` as plain node arrays, and a numpy predictor equal to its own.

The exported ensemble is data only (integers and floats, stored as `.npy` and read without pickle):
every tree's nodes are concatenated, `tree_starts[t]` is the index of tree t's root. A row walks
each tree from its root: NaN goes where `missing_left` says, otherwise left when value <= threshold.
The prediction is `baseline` plus the trees' leaf values added in tree order, exactly as scikit-learn
sums them (same float64 operations in the same order, so the results are bitwise equal).
Only numeric splits and the squared-error loss are supported (no categorical features).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

#: The node arrays of an ensemble and their dtypes (what is stored, in this order).
NODE_ARRAYS: dict[str, type] = {
    "feature": np.int64,
    "threshold": np.float64,
    "missing_left": np.bool_,
    "left": np.int64,
    "right": np.int64,
    "is_leaf": np.bool_,
    "value": np.float64,
}


@dataclass(frozen=True)
class TreeEnsemble:
    """Gradient-boosted regression trees as flat node arrays (child indices are global)."""

    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    is_leaf: np.ndarray
    value: np.ndarray
    tree_starts: np.ndarray  # (trees,) int64
    baseline: float
    n_columns: int

    def __post_init__(self) -> None:
        n = len(self.value)
        if any(len(getattr(self, name)) != n for name in NODE_ARRAYS):
            raise ValueError("the node arrays of a tree ensemble differ in length")
        inner = ~self.is_leaf
        children = np.concatenate([self.left[inner], self.right[inner], self.tree_starts])
        if len(children) and (children.min() < 0 or children.max() >= n):
            raise ValueError("a tree ensemble refers to a node it does not have")
        if inner.any() and (self.feature[inner].min() < 0 or self.feature[inner].max() >= self.n_columns):
            raise ValueError(f"a tree ensemble splits on a column beyond its {self.n_columns}")
        if inner.any() and not (
            (self.left[inner] > np.flatnonzero(inner)).all()
            and (self.right[inner] > np.flatnonzero(inner)).all()
        ):
            raise ValueError("a tree ensemble's children must follow their parent (no cycles)")

    @property
    def n_trees(self) -> int:
        return len(self.tree_starts)

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """(n,) float64 predictions of rows (n, n_columns)."""
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != self.n_columns:
            raise ValueError(f"expected rows of {self.n_columns} columns, got shape {rows.shape}")
        node = np.broadcast_to(self.tree_starts, (len(rows), self.n_trees)).copy()
        row_index = np.arange(len(rows))[:, None]
        active = ~self.is_leaf[node]
        while active.any():
            at = node[active]
            values = rows[np.broadcast_to(row_index, node.shape)[active], self.feature[at]]
            go_left = np.where(np.isnan(values), self.missing_left[at], values <= self.threshold[at])
            node[active] = np.where(go_left, self.left[at], self.right[at])
            active = ~self.is_leaf[node]
        leaves = self.value[node]
        out = np.full(len(rows), 0.0) + self.baseline
        for t in range(self.n_trees):  # the order scikit-learn adds them in
            out += leaves[:, t]
        return out

    def to_arrays(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-safe scalars and the named arrays that `from_arrays` rebuilds the ensemble from."""
        arrays = {name: getattr(self, name) for name in (*NODE_ARRAYS, "tree_starts")}
        return {"baseline": self.baseline, "n_columns": self.n_columns}, arrays

    @classmethod
    def from_arrays(cls, scalars: dict[str, Any], arrays: dict[str, np.ndarray]) -> TreeEnsemble:
        """Inverse of `to_arrays`; arrays are cast to their dtypes, unknown or missing names are refused."""
        names = {f.name for f in fields(cls)} - {"baseline", "n_columns"}
        if set(arrays) != names:
            raise ValueError(f"a tree ensemble needs arrays {sorted(names)}, got {sorted(arrays)}")
        cast: dict[str, Any] = {
            name: np.asarray(arrays[name]).astype(dtype) for name, dtype in NODE_ARRAYS.items()
        }
        return cls(
            **cast,
            tree_starts=np.asarray(arrays["tree_starts"]).astype(np.int64),
            baseline=float(scalars["baseline"]),
            n_columns=int(scalars["n_columns"]),
        )


def export_trees(model: Any, n_iterations: int | None = None) -> TreeEnsemble:
    """The first `n_iterations` (default: all) trees of a fitted single-output
    `HistGradientBoostingRegressor` with the squared-error loss and no categorical feature."""
    if getattr(model, "n_trees_per_iteration_", None) != 1 or model.loss != "squared_error":
        raise ValueError("only a fitted squared-error HistGradientBoostingRegressor can be exported")
    predictors = [tree for (tree,) in model._predictors[: n_iterations or len(model._predictors)]]
    nodes = [p.nodes for p in predictors]
    if any(n["is_categorical"].any() for n in nodes):
        raise ValueError("categorical splits cannot be exported")
    sizes = np.array([len(n) for n in nodes], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    stacked = np.concatenate(nodes)
    offsets = np.repeat(starts, sizes)
    return TreeEnsemble(
        feature=stacked["feature_idx"].astype(np.int64),
        threshold=stacked["num_threshold"].astype(np.float64),
        missing_left=stacked["missing_go_to_left"].astype(bool),
        left=stacked["left"].astype(np.int64) + offsets,
        right=stacked["right"].astype(np.int64) + offsets,
        is_leaf=stacked["is_leaf"].astype(bool),
        value=stacked["value"].astype(np.float64),
        tree_starts=starts,
        baseline=float(np.asarray(model._baseline_prediction).ravel()[0]),
        n_columns=int(model.n_features_in_),
    )
