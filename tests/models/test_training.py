"""fit / predict: learning, determinism, early stopping, best-weights restore, callbacks, NaN targets."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from stockpredictor.features.sequences import Windows
from stockpredictor.models import ModelSpec, TrainConfig, build_model, fit, predict
from tests.models.conftest import LearnableProblem, MakeWindows

STOCKS, FEATURES, SEQ = 2, 3, 5


def _model(architecture: str = "lstm", hidden_size: int = 16, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(ModelSpec(architecture, STOCKS, FEATURES + 1, hidden_size, 1, 0.0, 2))  # + presence


def _numpy_mse(model: torch.nn.Module, windows: Windows) -> float:
    """Validation loss recomputed independently of `fit`: predict, then a masked mean in float64."""
    _, y = windows.batch(np.arange(len(windows)))
    error = predict(model, windows).astype(np.float64) - y
    return float(np.nanmean(np.square(error)))


@pytest.mark.parametrize("architecture", ["lstm", "lstm_attention", "lstm_cross_attention"])
def test_fit_learns_a_learnable_problem(architecture: str, learnable_problem: LearnableProblem) -> None:
    train, validation = learnable_problem(160, STOCKS, FEATURES, SEQ)
    model = _model(architecture)
    before = _numpy_mse(model, validation)
    result = fit(
        model, train, validation, TrainConfig(learning_rate=0.01, batch_size=16, max_epochs=8, patience=8)
    )
    assert [log.epoch for log in result.history] == list(range(1, 9))
    assert result.history[-1].train_loss < 0.3 * result.history[0].train_loss
    assert result.best_val_loss < 0.3 * before
    assert _numpy_mse(model, validation) == pytest.approx(result.best_val_loss, abs=1e-6)


def test_fit_is_deterministic(learnable_problem: LearnableProblem) -> None:
    train, validation = learnable_problem(60, STOCKS, FEATURES, SEQ, noise=0.5)
    config = TrainConfig(learning_rate=0.01, batch_size=8, max_epochs=4, patience=4, seed=3)
    first, second = _model(), _model()
    assert fit(first, train, validation, config) == fit(second, train, validation, config)
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_best_weights_are_restored_when_the_last_epoch_is_worse(learnable_problem: LearnableProblem) -> None:
    # Few noisy samples and a wide model: validation improves, then the model overfits the noise.
    train, validation = learnable_problem(48, STOCKS, FEATURES, SEQ, noise=0.5)
    model = _model(hidden_size=32)
    result = fit(
        model, train, validation, TrainConfig(learning_rate=0.01, batch_size=8, max_epochs=20, patience=20)
    )
    last = result.history[-1]
    assert not result.stopped_early and last.epoch == 20
    assert 1 < result.best_epoch < last.epoch
    assert result.best_val_loss == min(log.val_loss for log in result.history)
    assert last.val_loss > 1.2 * result.best_val_loss  # the final weights really were worse
    # A shallow state_dict().copy() would leave the last epoch's weights (and loss) here.
    assert _numpy_mse(model, validation) == pytest.approx(result.best_val_loss, abs=1e-6)
    assert not model.training


def test_early_stopping_after_patience(learnable_problem: LearnableProblem) -> None:
    train, validation = learnable_problem(48, STOCKS, FEATURES, SEQ, noise=0.5)
    model = _model(hidden_size=32)
    result = fit(
        model, train, validation, TrainConfig(learning_rate=0.01, batch_size=8, max_epochs=20, patience=3)
    )
    assert result.stopped_early
    assert len(result.history) == result.best_epoch + 3
    assert all(log.val_loss >= result.best_val_loss for log in result.history[result.best_epoch :])
    assert _numpy_mse(model, validation) == pytest.approx(result.best_val_loss, abs=1e-6)


def test_on_epoch_sees_every_epoch_and_its_exceptions_propagate(learnable_problem: LearnableProblem) -> None:
    train, validation = learnable_problem(60, STOCKS, FEATURES, SEQ)
    config = TrainConfig(learning_rate=0.01, batch_size=8, max_epochs=3, patience=3)
    calls: list[tuple[int, float, float]] = []
    result = fit(_model(), train, validation, config, on_epoch=lambda *args: calls.append(args))
    assert calls == [(log.epoch, log.train_loss, log.val_loss) for log in result.history]

    class Pruned(Exception):
        pass

    def prune_at_two(epoch: int, train_loss: float, val_loss: float) -> None:
        calls.append((epoch, train_loss, val_loss))
        if epoch == 2:
            raise Pruned

    calls.clear()
    with pytest.raises(Pruned):
        fit(_model(), train, validation, config, on_epoch=prune_at_two)
    assert [epoch for epoch, _, _ in calls] == [1, 2]


def test_nan_targets_and_absent_cells_are_left_out_of_the_loss(make_windows: MakeWindows) -> None:
    rng = np.random.default_rng(0)
    panel = rng.normal(size=(40, STOCKS, FEATURES))
    targets = panel[:, :, 0].copy()
    targets[::3, 1] = np.nan  # stock 1 has no target on every third day
    panel[33, 0] = np.nan  # stock 0 is absent on day 33: its validation windows over it are no samples
    train = make_windows(panel, targets, SEQ, SEQ - 1, 30)
    validation = make_windows(panel, targets, SEQ, 30, 40)
    model = _model()
    result = fit(
        model, train, validation, TrainConfig(learning_rate=0.01, batch_size=8, max_epochs=2, patience=2)
    )
    assert all(np.isfinite([log.train_loss, log.val_loss]).all() for log in result.history)
    _, y = validation.batch(np.arange(len(validation)))
    assert np.isnan(y[3:8, 0]).all() and np.isfinite(y[[0, 1, 2, 8, 9], 0]).all()  # ends 33..37 hold day 33
    assert _numpy_mse(model, validation) == pytest.approx(result.best_val_loss, abs=1e-6)


def test_predict_is_ordered_batch_independent_and_keeps_the_mode(learnable_problem: LearnableProblem) -> None:
    _, validation = learnable_problem(60, STOCKS, FEATURES, SEQ)
    model = _model().train()
    whole = predict(model, validation)
    assert whole.shape == (len(validation), STOCKS) and whole.dtype == np.float32
    np.testing.assert_allclose(predict(model, validation, batch_size=4), whole, rtol=1e-6, atol=1e-6)
    x, _ = validation.batch(np.array([5]))
    with torch.no_grad():
        np.testing.assert_allclose(model.eval()(torch.from_numpy(x)).numpy()[0], whole[5], rtol=1e-6)
    model.train()
    predict(model, validation)
    assert model.training


@pytest.mark.parametrize(
    "kwargs",
    [
        {"learning_rate": 0.0},
        {"batch_size": 0},
        {"max_epochs": 0},
        {"patience": 0},
        {"weight_decay": -1.0},
    ],
)
def test_invalid_train_config(kwargs: dict[str, Any]) -> None:
    settings: dict[str, Any] = {"learning_rate": 0.01, "batch_size": 8, "max_epochs": 2, "patience": 1}
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        TrainConfig(**{**settings, **kwargs})


def test_empty_splits_are_rejected(learnable_problem: LearnableProblem) -> None:
    train, validation = learnable_problem(60, STOCKS, FEATURES, SEQ)
    empty = Windows(validation.panel, validation.targets, validation.end_days[:0], SEQ)
    with pytest.raises(ValueError, match="empty split"):
        fit(_model(), train, empty, TrainConfig(learning_rate=0.01, batch_size=8, max_epochs=1, patience=1))


class _KernelRecorder(torch.nn.Module):
    """A linear forecaster that records whether oneDNN's kernels were on at each forward pass."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(features, 1)
        self.onednn: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.onednn.append(bool(torch.backends.mkldnn.enabled))
        return self.linear(x[:, -1]).squeeze(-1)


@pytest.mark.parametrize(("stocks", "onednn"), [(4, True), (249, True), (250, False), (300, False)])
def test_fit_and_predict_use_the_cheaper_kernels_for_the_universe_and_restore_the_flag(
    learnable_problem: LearnableProblem, stocks: int, onednn: bool
) -> None:
    train, validation = learnable_problem(40, stocks, 2, 5)
    model = _KernelRecorder(validation.batch(np.array([0]))[0].shape[-1])
    fit(model, train, validation, TrainConfig(learning_rate=1e-3, batch_size=8, max_epochs=1, patience=1))
    predict(model, validation)
    assert model.onednn and set(model.onednn) == {onednn}
    assert torch.backends.mkldnn.enabled  # what it was before
