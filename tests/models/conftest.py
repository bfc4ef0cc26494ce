"""Small synthetic window sets for the modelling tests, built with the real `Windows` class."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch

from stockpredictor.features.sequences import Windows

MakeWindows = Callable[[np.ndarray, np.ndarray, int, int, int], Windows]
LearnableProblem = Callable[..., tuple[Windows, Windows]]


def _make_windows(
    panel: np.ndarray, targets: np.ndarray, sequence_length: int, start: int, stop: int
) -> Windows:
    return Windows(
        panel.astype(np.float32),
        targets.astype(np.float32),
        np.arange(start, stop, dtype=np.int64),
        sequence_length,
    )


def _learnable_problem(
    days: int, stocks: int, features: int, sequence_length: int, noise: float = 0.0, seed: int = 0
) -> tuple[Windows, Windows]:
    rng = np.random.default_rng(seed)
    panel = rng.normal(size=(days, stocks, features))
    mix = rng.normal(size=features) / np.sqrt(features)
    targets = (
        0.7 * panel @ mix + 0.3 * np.roll(panel, 1, axis=0) @ mix + noise * rng.normal(size=(days, stocks))
    )
    split = sequence_length - 1 + (days - sequence_length) * 3 // 4
    return (
        _make_windows(panel, targets, sequence_length, sequence_length - 1, split),
        _make_windows(panel, targets, sequence_length, split, days),
    )


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, and two intra-op threads collapse when the CPU is shared."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def make_windows() -> MakeWindows:
    """(panel, targets, sequence_length, start, stop) -> Windows ending on days start..stop-1."""
    return _make_windows


@pytest.fixture
def learnable_problem() -> LearnableProblem:
    """(days, stocks, features, sequence_length, noise=0, seed=0) -> (train, validation) windows.

    The target of day t is a fixed linear mix of the features of days t and t-1, plus Gaussian noise;
    validation is the last quarter of the windows.
    """
    return _learnable_problem
