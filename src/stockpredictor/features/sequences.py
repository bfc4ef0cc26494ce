"""Sliding windows over a panel, a chronological split, and the scaled dataset built from them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stockpredictor.errors import MissingDataError
from stockpredictor.features.scaling import MinMaxScaler


@dataclass(frozen=True)
class Windows:
    """Sliding windows over a scaled panel without copying: sample i ends on day end_days[i]."""

    panel: np.ndarray  # (days, stocks, features) float32, scaled
    targets: np.ndarray  # (days, stocks) float32, scaled target of each day (for the next day)
    end_days: np.ndarray  # (n,) int64
    sequence_length: int

    def __len__(self) -> int:
        return len(self.end_days)

    def batch(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Windows `idx` as x (B, sequence_length, stocks, features) and their targets y (B, stocks)."""
        ends = self.end_days[np.asarray(idx)]
        days = ends[:, None] - self.sequence_length + 1 + np.arange(self.sequence_length)
        return self.panel[days], self.targets[ends]

    def all(self) -> tuple[np.ndarray, np.ndarray]:
        """Every window at once (small datasets, evaluation)."""
        return self.batch(np.arange(len(self)))


@dataclass(frozen=True)
class Split:
    """Sample counts of the chronological train / validation / test split."""

    train: int
    validation: int
    test: int


def sample_end_days(n_days: int, sequence_length: int) -> np.ndarray:
    """End day of every window that has a known target (the last day's target is not known)."""
    return np.arange(sequence_length - 1, n_days - 1, dtype=np.int64)


def chronological_split(n_samples: int, train: float, validation: float) -> Split:
    """Split `n_samples` in time order; every part gets at least one sample or it is an error."""
    n_train = int(n_samples * train)
    n_val = int(n_samples * validation)
    split = Split(n_train, n_val, n_samples - n_train - n_val)
    if min(split.train, split.validation, split.test) < 1:
        raise MissingDataError(
            f"too little history: {n_samples} windows cannot be split into train/validation/test "
            f"({split.train}/{split.validation}/{split.test})"
        )
    return split


@dataclass(frozen=True)
class ScaledDataset:
    """What `scale` stores: the scaled panel once, plus what rebuilds every window from it."""

    x_scaled: np.ndarray  # (days, stocks, features) float32
    y_scaled: np.ndarray  # (days, stocks) float32, NaN where the target is unknown
    sequence_length: int
    split: Split
    x_scaler: MinMaxScaler
    y_scaler: MinMaxScaler

    def windows(self, part: str) -> Windows:
        """Windows of `part` in ("train", "validation", "test")."""
        ends = sample_end_days(len(self.x_scaled), self.sequence_length)
        bounds = {
            "train": (0, self.split.train),
            "validation": (self.split.train, self.split.train + self.split.validation),
            "test": (self.split.train + self.split.validation, len(ends)),
        }
        start, stop = bounds[part]
        return Windows(self.x_scaled, self.y_scaled, ends[start:stop], self.sequence_length)


def scale_dataset(
    features: np.ndarray, targets: np.ndarray, sequence_length: int, train: float, validation: float
) -> ScaledDataset:
    """Split windows chronologically and scale with min-max scalers fitted on the training part only."""
    n_days = len(features)
    ends = sample_end_days(n_days, sequence_length)
    if len(ends) == 0:
        raise MissingDataError(
            f"too little history: {n_days} days cannot make one window of sequence_length "
            f"{sequence_length} with a known next-day target"
        )
    split = chronological_split(len(ends), train, validation)
    last_train_day = int(ends[split.train - 1])
    x_scaler = MinMaxScaler.fit(features[: last_train_day + 1])
    y_scaler = MinMaxScaler.fit(targets[ends[: split.train]])
    return ScaledDataset(
        x_scaled=x_scaler.transform(features),
        y_scaled=y_scaler.transform(targets),
        sequence_length=sequence_length,
        split=split,
        x_scaler=x_scaler,
        y_scaler=y_scaler,
    )
