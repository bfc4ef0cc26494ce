"""Sliding windows over a panel, a chronological split, and the scaled dataset built from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from stockpredictor.errors import MissingDataError
from stockpredictor.features.scaling import MinMaxScaler

#: What an absent cell (a stock without a row on a session) holds in the model input: the middle of
#: the scaled range. The presence channel beside it tells the model the cell is absent.
ABSENT_FILL = 0.5


def complete_windows(panel: np.ndarray, sequence_length: int) -> np.ndarray:
    """(days, stocks) bool: the window of `sequence_length` sessions ending on day t has the stock on
    every session (False for the first `sequence_length - 1` days). NaN features mark absent cells."""
    absent = (~np.isfinite(panel).all(axis=2)).astype(np.int64)
    counts = np.concatenate([np.zeros((1, absent.shape[1]), np.int64), np.cumsum(absent, axis=0)])
    complete = np.zeros(absent.shape, dtype=bool)
    if len(absent) >= sequence_length:
        complete[sequence_length - 1 :] = (
            counts[sequence_length:] - counts[: len(absent) - sequence_length + 1]
        ) == 0
    return complete


def sample_mask(panel: np.ndarray, targets: np.ndarray, sequence_length: int) -> np.ndarray:
    """(days, stocks) bool: (window end, stock) is a sample: its whole window and its target are present."""
    return complete_windows(panel, sequence_length) & np.isfinite(targets)


@dataclass(frozen=True)
class ModelInputs:
    """A panel as the models see it, computed once for all of its windows (a window's input is then one
    gather): every cell's input (its scaled features, absent cells set to `ABSENT_FILL`, then the
    presence channel) and whether the window ending on each day is complete for each stock."""

    inputs: np.ndarray  # (days, stocks, features + 1) float32
    complete: np.ndarray  # (days, stocks) bool: `complete_windows`

    @classmethod
    def of(cls, panel: np.ndarray, sequence_length: int) -> ModelInputs:
        """The model inputs of `panel` (NaN features mark absent cells)."""
        present = np.isfinite(panel).all(axis=-1, keepdims=True)
        inputs = np.concatenate(
            [np.where(present, panel, np.float32(ABSENT_FILL)), present.astype(np.float32)], axis=-1
        )
        return cls(inputs.astype(np.float32, copy=False), complete_windows(panel, sequence_length))


@dataclass(frozen=True)
class Windows:
    """Sliding windows over a scaled panel, gathered batch by batch: sample i ends on day end_days[i].

    The model input of a window is its scaled features, absent cells set to `ABSENT_FILL`, followed
    by a presence channel (1 present, 0 absent): `n_inputs` = features + 1. A target is NaN (masked
    out of the loss and the metrics) unless the stock is present on every day of the window and the
    target itself is known. No window is materialised beyond its batch: the panel's `ModelInputs` are
    computed once (the panel's size plus one channel), given by the dataset the windows come from so
    that its splits share them, or computed on first use.
    """

    panel: np.ndarray  # (days, stocks, features) float32, scaled, NaN where absent
    targets: np.ndarray  # (days, stocks) float32, scaled target of each day (for the next session)
    end_days: np.ndarray  # (n,) int64
    sequence_length: int
    model_inputs: ModelInputs | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.end_days)

    @property
    def n_inputs(self) -> int:
        """Input channels per stock and day: the features and the presence channel."""
        return int(self.panel.shape[2]) + 1

    @property
    def sample_nbytes(self) -> int:
        """Bytes of one window's model input (float32)."""
        return 4 * self.sequence_length * int(self.panel.shape[1]) * self.n_inputs

    @cached_property
    def _inputs(self) -> ModelInputs:
        return self.model_inputs or ModelInputs.of(self.panel, self.sequence_length)

    def batch(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Windows `idx` as x (B, sequence_length, stocks, n_inputs) and their targets y (B, stocks)."""
        ends = self.end_days[np.asarray(idx)]
        days = ends[:, None] - self.sequence_length + 1 + np.arange(self.sequence_length)
        return self._inputs.inputs[days], self._targets(ends)

    def observed_targets(self) -> np.ndarray:
        """(n, stocks) float32: the targets `batch` gives every window, without building any input."""
        return self._targets(self.end_days)

    def complete(self) -> np.ndarray:
        """(n, stocks) bool: the stock is present on every day of window i."""
        return self._inputs.complete[self.end_days]

    def samples_per_stock(self) -> np.ndarray:
        """(stocks,) int: how many of the windows are a sample of each stock (whole window and target)."""
        return (self.complete() & np.isfinite(self.targets[self.end_days])).sum(axis=0)

    def _targets(self, ends: np.ndarray) -> np.ndarray:
        known = self._inputs.complete[ends]
        return np.where(known, self.targets[ends], np.float32(np.nan)).astype(np.float32, copy=False)


@dataclass(frozen=True)
class Split:
    """Sample counts of the chronological train / validation / test split."""

    train: int
    validation: int
    test: int


def sample_end_days(panel: np.ndarray, targets: np.ndarray, sequence_length: int) -> np.ndarray:
    """End day of every window with at least one sample (a stock with its whole window and its target)."""
    return np.flatnonzero(sample_mask(panel, targets, sequence_length).any(axis=1)).astype(np.int64)


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

    x_scaled: np.ndarray  # (days, stocks, features) float32, NaN where the stock is absent
    y_scaled: np.ndarray  # (days, stocks) float32, NaN where the target is unknown
    sequence_length: int
    split: Split
    x_scaler: MinMaxScaler
    y_scaler: MinMaxScaler

    @property
    def n_inputs(self) -> int:
        """Input channels per stock and day of the models trained on it: features + presence."""
        return int(self.x_scaled.shape[2]) + 1

    def windows(self, part: str) -> Windows:
        """Windows of `part` in ("train", "validation", "test", "all": every window, for the refit)."""
        ends = sample_end_days(self.x_scaled, self.y_scaled, self.sequence_length)
        bounds = {
            "train": (0, self.split.train),
            "validation": (self.split.train, self.split.train + self.split.validation),
            "test": (self.split.train + self.split.validation, len(ends)),
            "all": (0, len(ends)),
        }
        start, stop = bounds[part]
        return Windows(
            self.x_scaled, self.y_scaled, ends[start:stop], self.sequence_length, self._model_inputs
        )

    @cached_property
    def _model_inputs(self) -> ModelInputs:
        """The panel's model inputs, shared by the windows of every part."""
        return ModelInputs.of(self.x_scaled, self.sequence_length)


def scale_dataset(
    features: np.ndarray,
    targets: np.ndarray,
    sequence_length: int,
    train: float,
    validation: float,
) -> ScaledDataset:
    """Split windows chronologically and scale with min-max scalers fitted on the training part only.

    The scalers see only present cells: the features of the days up to the last training window's
    end, and the targets of the training samples. A stock listed after the training part is scaled
    with the range of each feature over all stocks' training cells.
    """
    mask = sample_mask(features, targets, sequence_length)
    ends = np.flatnonzero(mask.any(axis=1))
    if len(ends) == 0:
        raise MissingDataError(
            f"too little history: {len(features)} days cannot make one window of sequence_length "
            f"{sequence_length} with a known next-session target"
        )
    split = chronological_split(len(ends), train, validation)
    train_ends = ends[: split.train]
    x_scaler = MinMaxScaler.fit_with_fallback(features[: int(train_ends[-1]) + 1])
    y_scaler = MinMaxScaler.fit_with_fallback(np.where(mask[train_ends], targets[train_ends], np.nan))
    return ScaledDataset(
        x_scaled=x_scaler.transform(features),
        y_scaled=y_scaler.transform(targets),
        sequence_length=sequence_length,
        split=split,
        x_scaler=x_scaler,
        y_scaler=y_scaler,
    )
