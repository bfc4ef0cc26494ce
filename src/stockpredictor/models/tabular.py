"""Tabular learners beside the LSTMs: gradient-boosted trees (`gbm`) and ridge regression (`ridge`).

Both read the same scaled windows as the LSTMs and answer in the same scaled target space, so the
gate, `predict`, the monitor and the API use them unchanged (`TabularForecaster` is the module face).
Inside, each (window, stock) is one pooled row (`tabular_rows`) and the regressor predicts the next
log return divided by the window's volatility; the answer is multiplied back and scaled with the
dataset's y scaler. Only the `log_return` target is supported.

The fitted model is data only: `to_payload` gives JSON-safe values and named numpy arrays (the
trees' nodes), `from_payload` rebuilds it; nothing is pickled and no code is stored.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch import nn

from stockpredictor.config import RETURN_FEATURE, TABULAR_FAMILIES
from stockpredictor.features.scaling import MinMaxScaler
from stockpredictor.features.sequences import ScaledDataset
from stockpredictor.models.linear import LinearModel, fit_ridge
from stockpredictor.models.tabular_rows import RowLayout, tabular_rows
from stockpredictor.models.training import WindowSource, eval_batch_size
from stockpredictor.models.trees import TreeEnsemble, export_trees

GBM, RIDGE = TABULAR_FAMILIES
#: Boosting iterations fitted per `gbm` model; the validation windows choose how many are kept.
GBM_MAX_ITER = 300
FORMAT_VERSION = 1


@dataclass(frozen=True)
class TabularModel:
    """A fitted tabular learner with what it needs to turn windows into scaled targets."""

    family: str
    layout: RowLayout
    y_scaler: MinMaxScaler
    regressor: TreeEnsemble | LinearModel

    def predict_windows(self, x: np.ndarray) -> np.ndarray:
        """Scaled targets (batch, stocks) float32 of windows x (batch, sequence, stocks, inputs)."""
        rows, sigma = tabular_rows(x, self.layout)
        return _scaled(self.regressor.predict(rows), sigma, self.y_scaler).reshape(len(x), -1)

    def to_payload(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-safe description and named arrays (empty for `ridge`)."""
        arrays: dict[str, np.ndarray] = {}
        if isinstance(self.regressor, TreeEnsemble):
            regressor, arrays = self.regressor.to_arrays()
        else:
            regressor = self.regressor.to_json()
        meta = {
            "format_version": FORMAT_VERSION,
            "family": self.family,
            "layout": asdict(self.layout),
            "y_scaler": self.y_scaler.to_json(),
            "regressor": regressor,
        }
        return meta, arrays

    @classmethod
    def from_payload(cls, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> TabularModel:
        """Inverse of `to_payload`; ValueError when the payload is not a model of a known family."""
        if meta.get("format_version") != FORMAT_VERSION or meta.get("family") not in TABULAR_FAMILIES:
            raise ValueError(
                f"not a tabular model payload (family {meta.get('family')!r}, "
                f"format_version {meta.get('format_version')!r})"
            )
        layout_fields = dict(meta["layout"])
        layout = RowLayout(
            **{
                **layout_fields,
                "return_min": tuple(float(v) for v in layout_fields["return_min"]),
                "return_scale": tuple(float(v) for v in layout_fields["return_scale"]),
            }
        )
        regressor: TreeEnsemble | LinearModel
        if meta["family"] == GBM:
            regressor = TreeEnsemble.from_arrays(meta["regressor"], dict(arrays))
            n_columns = regressor.n_columns
        else:
            if arrays:
                raise ValueError(f"a ridge model has no arrays, got {sorted(arrays)}")
            regressor = LinearModel.from_json(meta["regressor"])
            n_columns = len(regressor.coef)
        if n_columns != layout.n_columns:
            raise ValueError(f"the regressor takes {n_columns} columns, the layout makes {layout.n_columns}")
        return cls(str(meta["family"]), layout, MinMaxScaler.from_json(meta["y_scaler"]), regressor)


class TabularForecaster(nn.Module):
    """A `TabularModel` behind the trained models' module contract: x (B, L, S, inputs) -> (B, S)."""

    def __init__(self, model: TabularModel) -> None:
        super().__init__()
        self.tabular = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.tabular.predict_windows(x.detach().cpu().numpy()))


def row_layout(lags: int, feature_columns: tuple[str, ...], x_scaler: MinMaxScaler) -> RowLayout:
    """The rows of `lags` lags for a dataset with these feature columns and x scaler (stocks, features)."""
    if RETURN_FEATURE not in feature_columns:
        raise ValueError(f"the tabular learners need the feature {RETURN_FEATURE!r}")
    column = feature_columns.index(RETURN_FEATURE)
    n_stocks, n_features = x_scaler.data_min.shape
    return RowLayout(
        n_stocks=int(n_stocks),
        n_features=int(n_features),
        return_column=column,
        lags=lags,
        return_min=tuple(float(v) for v in x_scaler.data_min[:, column]),
        return_scale=tuple(float(v) for v in x_scaler.scale[:, column]),
    )


@dataclass(frozen=True)
class TabularFit:
    """A fitted model, its validation loss (masked MSE of scaled targets, as `fit` reports for the
    LSTMs; NaN without validation windows) and the boosting iterations kept (0 for ridge)."""

    model: TabularModel
    best_val_loss: float
    n_iterations: int


@dataclass(frozen=True)
class _Rows:
    """The rows of every window of a source, their sigma and scaled targets (NaN: not a sample)."""

    rows: np.ndarray
    sigma: np.ndarray
    y_scaled: np.ndarray

    def loss(self, normalised: np.ndarray, y_scaler: MinMaxScaler) -> float:
        """Masked MSE of scaled targets of the regressor's normalised predictions (as for the LSTMs)."""
        predicted = _scaled(normalised, self.sigma, y_scaler)
        known = np.isfinite(self.y_scaled)
        error = predicted[known].astype(np.float64) - self.y_scaled[known].astype(np.float64)
        return float(np.mean(error**2))


def _scaled(normalised: np.ndarray, sigma: np.ndarray, y_scaler: MinMaxScaler) -> np.ndarray:
    """Flat scaled targets (float32) of row predictions (window-major, stocks of the scaler)."""
    n_stocks = y_scaler.data_min.shape[0]
    return y_scaler.transform((normalised * sigma).reshape(-1, n_stocks)).reshape(-1)


def _gather(source: WindowSource, layout: RowLayout) -> _Rows:
    parts = []
    size = eval_batch_size(source)
    for start in range(0, len(source), size):
        x, y = source.batch(np.arange(start, min(start + size, len(source))))
        rows, sigma = tabular_rows(x, layout)
        parts.append((rows, sigma, y.reshape(-1)))
    rows, sigma, y = (np.concatenate(column) for column in zip(*parts, strict=True))
    return _Rows(rows, sigma, y)


def fit_tabular(
    family: str,
    hyperparameters: Mapping[str, Any],
    layout: RowLayout,
    y_scaler: MinMaxScaler,
    train: WindowSource,
    validation: WindowSource | None = None,
    n_iterations: int | None = None,
    seed: int = 0,
) -> TabularFit:
    """Fit `family` on the samples of `train` (pooled rows, volatility-normalised targets).

    `gbm` keeps the number of boosting iterations that minimises the validation loss, or fits
    `n_iterations` when given (a refit without validation windows). Hyperparameters: `lags` (in
    `layout`) and, for `gbm`, `gbm_learning_rate`, `max_leaf_nodes`, `min_samples_leaf`,
    `l2_regularization`; for `ridge`, `alpha`.
    """
    if family not in TABULAR_FAMILIES:
        raise ValueError(f"unknown tabular family {family!r}; choose one of {', '.join(TABULAR_FAMILIES)}")
    if validation is None and family == GBM and n_iterations is None:
        raise ValueError("a gbm fit needs validation windows or a number of iterations")
    fitting = _gather(train, layout)
    known = np.isfinite(fitting.y_scaled)
    if not known.any():
        raise ValueError("the training windows have no known target")
    returns = y_scaler.inverse_transform(fitting.y_scaled.reshape(-1, layout.n_stocks)).reshape(-1)
    rows, target = fitting.rows[known], (returns / fitting.sigma)[known]
    scoring = _gather(validation, layout) if validation is not None else None
    regressor: TreeEnsemble | LinearModel
    if family == RIDGE:
        regressor, kept = fit_ridge(rows, target, float(hyperparameters["alpha"])), 0
    else:
        with _openmp_threads():
            regressor, kept = _fit_gbm(hyperparameters, rows, target, scoring, y_scaler, n_iterations, seed)
    model = TabularModel(family, layout, y_scaler, regressor)
    loss = math.nan if scoring is None else scoring.loss(regressor.predict(scoring.rows), y_scaler)
    return TabularFit(model, loss, kept)


def _openmp_threads() -> Any:
    """One OpenMP thread for scikit-learn unless OMP_NUM_THREADS says otherwise: on 2 loaded cores a
    300-tree fit took 130 s with the default threads and 1.6 s with one (oversubscription)."""
    return threadpool_limits(limits=None if "OMP_NUM_THREADS" in os.environ else 1, user_api="openmp")


def _fit_gbm(
    hyperparameters: Mapping[str, Any],
    rows: np.ndarray,
    target: np.ndarray,
    scoring: _Rows | None,
    y_scaler: MinMaxScaler,
    n_iterations: int | None,
    seed: int,
) -> tuple[TreeEnsemble, int]:
    """Boosted trees on (rows, target), cut at the iteration of least validation loss (or `n_iterations`)."""
    # Imported here: serving evaluates the exported trees with numpy and need not pay ~1 s for sklearn.
    from sklearn.ensemble import HistGradientBoostingRegressor

    gbm = HistGradientBoostingRegressor(
        learning_rate=float(hyperparameters["gbm_learning_rate"]),
        max_iter=n_iterations or GBM_MAX_ITER,
        max_leaf_nodes=int(hyperparameters["max_leaf_nodes"]),
        min_samples_leaf=int(hyperparameters["min_samples_leaf"]),
        l2_regularization=float(hyperparameters["l2_regularization"]),
        early_stopping=False,
        random_state=seed,
    ).fit(rows, target)
    if n_iterations is None:
        assert scoring is not None
        losses = [scoring.loss(staged, y_scaler) for staged in gbm.staged_predict(scoring.rows)]
        n_iterations = int(np.argmin(losses)) + 1
    return export_trees(gbm, n_iterations), n_iterations


def fit_on_dataset(
    hyperparameters: Mapping[str, Any],
    dataset: ScaledDataset,
    feature_columns: tuple[str, ...],
    seed: int = 0,
) -> TabularFit:
    """Fit the tabular family `hyperparameters["architecture"]` on a dataset's training windows, the
    boosting iterations chosen on its validation windows."""
    layout = row_layout(int(hyperparameters["lags"]), feature_columns, dataset.x_scaler)
    return fit_tabular(
        str(hyperparameters["architecture"]),
        hyperparameters,
        layout,
        dataset.y_scaler,
        dataset.windows("train"),
        dataset.windows("validation"),
        seed=seed,
    )


def refit_on(
    hyperparameters: Mapping[str, Any],
    dataset: ScaledDataset,
    feature_columns: tuple[str, ...],
    windows: WindowSource,
    n_iterations: int,
    seed: int = 0,
) -> TabularModel:
    """The same configuration fitted on `windows` (e.g. every window up to the as-of) with no validation:
    `gbm` grows `n_iterations` trees (at least 1: the split fit's choice)."""
    family = str(hyperparameters["architecture"])
    layout = row_layout(int(hyperparameters["lags"]), feature_columns, dataset.x_scaler)
    iterations = max(1, n_iterations) if family == GBM else None
    return fit_tabular(
        family, hyperparameters, layout, dataset.y_scaler, windows, n_iterations=iterations, seed=seed
    ).model
