"""The tabular learners: hand-checked rows, a planted signal found, the module contract, the payload."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stockpredictor.features.scaling import MinMaxScaler
from stockpredictor.features.sequences import scale_dataset
from stockpredictor.models import predict
from stockpredictor.models.tabular import (
    TabularForecaster,
    TabularModel,
    fit_on_dataset,
    fit_tabular,
    row_layout,
)
from stockpredictor.models.tabular_rows import RowLayout, tabular_rows, window_sigma

RETURNS = np.array([[0.01, 0.02], [-0.02, 0.0], [0.03, 0.04], [0.00, -0.01]])  # (sessions, stocks)
OTHER = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6], [0.7, 0.8]])
IDENTITY = RowLayout(
    n_stocks=2, n_features=2, return_column=0, lags=2, return_min=(0.0, 0.0), return_scale=(1.0, 1.0)
)


def _window(returns: np.ndarray, present: np.ndarray) -> np.ndarray:
    """One window (1, sessions, 2 stocks, 2 features + presence) scaled by the identity, 0.5 where absent."""
    features = np.stack([returns, OTHER], axis=-1)
    filled = np.where(present[..., None], features, 0.5)
    return np.concatenate([filled, present[..., None].astype(float)], axis=-1)[None].astype(np.float32)


def test_a_row_holds_own_market_and_peer_returns_over_sigma_then_features_level_and_identity() -> None:
    x = _window(RETURNS, np.ones((4, 2), dtype=bool))
    rows, sigma = tabular_rows(x, IDENTITY)
    s0, s1 = RETURNS.astype(np.float32).astype(np.float64).std(axis=0)
    r = x[0, :, :, 0].astype(np.float64)
    market = r.mean(axis=1)
    expected_first = [
        r[3, 0] / s0,
        r[2, 0] / s0,  # own, newest first
        market[3] / s0,
        market[2] / s0,  # market
        r[3, 0] / s0,
        r[3, 1] / s1,  # peers, each over its own sigma
        r[3, 0],
        x[0, 3, 0, 1],  # the last session's features
        np.log(s0),
        1.0,
        0.0,  # ticker identity
    ]
    np.testing.assert_allclose(sigma, [s0, s1])
    np.testing.assert_allclose(rows[0], expected_first)
    np.testing.assert_allclose(rows[1][-2:], [0.0, 1.0])
    assert rows.shape == (2, IDENTITY.n_columns)


def test_an_absent_session_is_left_out_of_sigma_and_the_market_and_is_zero_as_a_lag() -> None:
    present = np.ones((4, 2), dtype=bool)
    present[2, 1] = False  # stock 1 has no row on the third session
    x = _window(RETURNS, present)
    rows, sigma = tabular_rows(x, IDENTITY)
    r = x[0, :, :, 0].astype(np.float64)
    s1 = r[[0, 1, 3], 1].std()
    assert sigma[1] == pytest.approx(s1)
    assert rows[1][1] == 0.0  # stock 1's second lag is the absent session
    assert rows[0][3] == pytest.approx(r[2, 0] / sigma[0])  # that session's market is stock 0 alone
    assert window_sigma(np.full((1, 3, 1), np.nan))[0, 0] > 0  # no return at all: the floor


def _planted(days: int = 700, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Both stocks follow the market's (their mean) move of the day before."""
    rng = np.random.default_rng(seed)
    moves = rng.normal(scale=0.01, size=(days + 1, 2))
    for day in range(1, days + 1):
        moves[day] += 0.8 * moves[day - 1].mean()
    features = np.stack([moves[:-1], rng.normal(size=(days, 2))], axis=-1).astype(np.float32)
    targets = moves[1:].astype(np.float32)
    targets[-1] = np.nan
    return features, targets


@pytest.mark.parametrize(
    "hyperparameters",
    [
        {"architecture": "ridge", "lags": 2, "alpha": 1.0},
        {
            "architecture": "gbm",
            "lags": 2,
            "gbm_learning_rate": 0.1,
            "max_leaf_nodes": 8,
            "min_samples_leaf": 20,
            "l2_regularization": 0.1,
        },
    ],
)
def test_both_families_find_a_planted_market_signal_and_answer_like_a_trained_module(
    hyperparameters: dict[str, object],
) -> None:
    features, targets = _planted()
    dataset = scale_dataset(features, targets, 10, 0.7, 0.15)
    fitted = fit_on_dataset(hyperparameters, dataset, ("log_return_1", "noise"), seed=0)
    validation = dataset.windows("validation")
    x, y = validation.batch(np.arange(len(validation)))
    no_change = np.broadcast_to(dataset.y_scaler.transform(np.zeros(2)), y.shape)
    known = np.isfinite(y)
    baseline = float(np.mean((no_change[known] - y[known]) ** 2))
    assert fitted.best_val_loss < 0.9 * baseline  # the signal explains a share of stock 0's variance
    module = TabularForecaster(fitted.model)
    outputs = predict(module, validation)
    assert outputs.dtype == np.float32 and outputs.shape == y.shape
    assert np.array_equal(outputs, module(torch.from_numpy(x)).numpy())
    loss = float(np.mean((outputs[known].astype(np.float64) - y[known]) ** 2))
    assert loss == pytest.approx(fitted.best_val_loss)
    meta, arrays = fitted.model.to_payload()
    again = TabularModel.from_payload(meta, arrays)
    assert np.array_equal(again.predict_windows(x), outputs)
    assert (fitted.n_iterations > 0) == (hyperparameters["architecture"] == "gbm")


def test_a_refit_keeps_the_given_iterations_and_a_payload_of_another_shape_is_refused() -> None:
    features, targets = _planted(300)
    dataset = scale_dataset(features, targets, 10, 0.7, 0.15)
    layout = row_layout(3, ("log_return_1", "noise"), dataset.x_scaler)
    hyperparameters = {
        "gbm_learning_rate": 0.1,
        "max_leaf_nodes": 4,
        "min_samples_leaf": 20,
        "l2_regularization": 1.0,
    }
    refit = fit_tabular(
        "gbm", hyperparameters, layout, dataset.y_scaler, dataset.windows("train"), n_iterations=5
    )
    assert refit.n_iterations == 5 and np.isnan(refit.best_val_loss)
    meta, arrays = refit.model.to_payload()
    with pytest.raises(ValueError, match="columns"):
        TabularModel.from_payload({**meta, "layout": {**meta["layout"], "lags": 2}}, arrays)
    with pytest.raises(ValueError, match="not a tabular model"):
        TabularModel.from_payload({**meta, "family": "pickle"}, arrays)
    with pytest.raises(ValueError, match="log_return_1"):
        row_layout(3, ("rsi_14", "noise"), MinMaxScaler(np.zeros((2, 2)), np.ones((2, 2))))
