"""Ridge in closed form: recovers known coefficients, shrinks with its penalty, ignores constant columns."""

from __future__ import annotations

import numpy as np
import pytest

from stockpredictor.models.linear import LinearModel, fit_ridge

COEF = np.array([1.5, -2.0, 0.0, 0.25])


def _data(n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rows = np.random.default_rng(0).normal(size=(n, 4)) * [1.0, 10.0, 1.0, 0.1]
    return rows, rows @ COEF + 3.0


def test_without_penalty_the_coefficients_are_recovered() -> None:
    rows, y = _data()
    model = fit_ridge(rows, y, alpha=0.0)
    np.testing.assert_allclose(model.coef, COEF, atol=1e-10)
    assert model.intercept == pytest.approx(3.0)
    np.testing.assert_allclose(model.predict(rows), y)


def test_the_penalty_shrinks_the_coefficients_and_ignores_a_column_s_units() -> None:
    rows, y = _data()
    small, large = fit_ridge(rows, y, alpha=1.0), fit_ridge(rows, y, alpha=1e4)
    assert np.abs(large.coef).sum() < np.abs(small.coef).sum() < np.abs(COEF).sum() + 1e-9
    rescaled = rows * [1.0, 1e-3, 1.0, 1e3]  # the same columns in other units: the same predictions
    np.testing.assert_allclose(fit_ridge(rescaled, y, alpha=1e4).predict(rescaled), large.predict(rows))


def test_a_constant_column_gets_no_weight_and_the_json_round_trips() -> None:
    rows, y = _data()
    rows[:, 2] = 7.0
    model = fit_ridge(rows, y, alpha=0.5)
    assert model.coef[2] == 0.0
    again = LinearModel.from_json(model.to_json())
    assert np.array_equal(again.predict(rows), model.predict(rows))
    with pytest.raises(ValueError, match="finite"):
        LinearModel.from_json({"coef": [1.0, float("nan")], "intercept": 0.0})
