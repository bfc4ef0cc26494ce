"""The exported trees predict exactly what scikit-learn predicts, from data only."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

from stockpredictor.models.trees import TreeEnsemble, export_trees


def _data(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    x[rng.random(x.shape) < 0.1] = np.nan  # missing values take the learned side
    y = 2 * np.nan_to_num(x[:, 0]) + np.sin(np.nan_to_num(x[:, 1])) + 0.1 * rng.normal(size=n)
    return x, y


@pytest.fixture(scope="module")
def fitted() -> HistGradientBoostingRegressor:
    x, y = _data(0, 800)
    return HistGradientBoostingRegressor(max_iter=30, max_leaf_nodes=12, random_state=0).fit(x, y)


def test_the_numpy_predictor_equals_sklearn_bit_for_bit(fitted: HistGradientBoostingRegressor) -> None:
    rows, _ = _data(1, 500)
    rows[:5] = np.nan  # rows missing everywhere
    assert np.array_equal(export_trees(fitted).predict(rows), fitted.predict(rows))


def test_the_first_iterations_equal_sklearn_s_staged_prediction(
    fitted: HistGradientBoostingRegressor,
) -> None:
    rows, _ = _data(2, 200)
    staged = list(fitted.staged_predict(rows))
    kept = export_trees(fitted, 7)
    assert kept.n_trees == 7 and np.array_equal(kept.predict(rows), staged[6])


def test_the_arrays_round_trip_and_a_broken_ensemble_is_refused(
    fitted: HistGradientBoostingRegressor,
) -> None:
    trees = export_trees(fitted)
    rows, _ = _data(3, 50)
    scalars, arrays = trees.to_arrays()
    assert np.array_equal(TreeEnsemble.from_arrays(scalars, arrays).predict(rows), trees.predict(rows))
    inner = int(np.flatnonzero(~trees.is_leaf)[1])
    looping = trees.left.copy()
    looping[inner] = 0  # a child before its parent: a cycle back to the first root
    with pytest.raises(ValueError, match="follow their parent"):
        dataclasses.replace(trees, left=looping)
    with pytest.raises(ValueError, match="arrays"):
        TreeEnsemble.from_arrays(scalars, {**arrays, "extra": np.zeros(1)})
    with pytest.raises(ValueError, match="columns"):
        trees.predict(rows[:, :5])


def test_categorical_splits_are_not_exported() -> None:
    x = np.random.default_rng(0).integers(0, 4, size=(200, 1)).astype(float)
    model = HistGradientBoostingRegressor(max_iter=3, categorical_features=[0]).fit(x, x[:, 0] % 2)
    with pytest.raises(ValueError, match="categorical"):
        export_trees(model)
