"""The scale-free loss and the one paired test the gate and the monitor share (pure: cells in, numbers out).

A forecast cell is one (session, ticker): a predicted close, the actual close and the last close before
it. Its loss is the absolute log-return error |ln(predicted / actual)|, the distance between the
predicted and the actual log return from the last close; persistence's loss on the cell is
|ln(last_close / actual)|, the size of the actual move. A session's loss is the mean over the tickers
forecast that session (every ticker weighs the same, whatever its price), a window's the mean over its
sessions, and the headline figure is the ratio of the model's window loss to persistence's on the same
cells (< 1 beats persistence). Why this loss: a dollar MAE pools prices, so a $600 stock outweighs a
$30 one twenty times; a log-return error is unit-free and is the quantity the models forecast; the
absolute value (not the square) keeps one crash day from deciding a window; the ratio to persistence
makes windows of calm and turbulent markets comparable.

The test: a one-sided Diebold–Mariano test (`significance.diebold_mariano`) on the per-session losses.
`p_worse` is the p-value of H1 "the model's expected loss exceeds persistence's" (the monitor's
evidence for retraining and demotion); `p_better` that of H1 "it is smaller" (the gate's evidence for
promotion).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stockpredictor.models.significance import diebold_mariano


@dataclass(frozen=True)
class LossComparison:
    """A forecaster's scale-free loss next to persistence's on the same cells, and the paired test.

    `statistic`, `p_worse` and `p_better` are NaN when fewer than two sessions were forecast.
    """

    log_mae: float
    persistence_log_mae: float
    ratio: float
    n_sessions: int
    n_cells: int
    statistic: float
    p_worse: float
    p_better: float

    def as_metrics(self, prefix: str = "") -> dict[str, float]:
        """The figures as flat metrics (`log_mae`, `persistence_log_mae`, `log_mae_ratio`, `loss_*`)."""
        return {
            f"{prefix}log_mae": self.log_mae,
            f"{prefix}persistence_log_mae": self.persistence_log_mae,
            f"{prefix}log_mae_ratio": self.ratio,
            f"{prefix}loss_dm_statistic": self.statistic,
            f"{prefix}loss_p_worse": self.p_worse,
            f"{prefix}loss_p_better": self.p_better,
            f"{prefix}loss_sessions": float(self.n_sessions),
        }


def session_losses(
    sessions: np.ndarray, predicted: np.ndarray, actual: np.ndarray, last_close: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per session (sorted), the mean over its cells of the model's and of persistence's loss.

    All arguments are 1-d arrays, one entry per cell; `sessions` holds any sortable session key.
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in (predicted, actual, last_close)]
    if len({a.shape for a in (*arrays, np.asarray(sessions))}) != 1 or arrays[0].ndim != 1:
        raise ValueError("need four 1-d cell arrays of one length")
    predicted, actual, last_close = arrays
    if not all(np.isfinite(a).all() and (a > 0).all() for a in arrays):
        raise ValueError("prices must be finite and > 0")
    _, index = np.unique(np.asarray(sessions), return_inverse=True)
    counts = np.bincount(index)
    model = np.bincount(index, np.abs(np.log(predicted / actual))) / counts
    persistence = np.bincount(index, np.abs(np.log(last_close / actual))) / counts
    return model, persistence


def versus_persistence(
    sessions: np.ndarray, predicted: np.ndarray, actual: np.ndarray, last_close: np.ndarray
) -> LossComparison:
    """The scale-free loss of the forecast cells next to persistence's, with the paired test.

    The ratio is inf when persistence is exact and the model is not, 1.0 when both are exact.
    Raises ValueError when there is no cell.
    """
    if len(predicted) == 0:
        raise ValueError("no forecast cell to compare")
    model, persistence = session_losses(sessions, predicted, actual, last_close)
    model_loss, persistence_loss = float(model.mean()), float(persistence.mean())
    exact = math.inf if model_loss > 0 else 1.0  # persistence made no error
    ratio = model_loss / persistence_loss if persistence_loss > 0 else exact
    if len(model) < 2:
        statistic = p_worse = p_better = math.nan
    else:
        worse = diebold_mariano(model, persistence)
        statistic, p_worse = worse.statistic, worse.p_value
        p_better = diebold_mariano(persistence, model).p_value
    return LossComparison(
        log_mae=model_loss,
        persistence_log_mae=persistence_loss,
        ratio=ratio,
        n_sessions=len(model),
        n_cells=len(predicted),
        statistic=statistic,
        p_worse=p_worse,
        p_better=p_better,
    )


def significant(p_value: float, alpha: float) -> bool:
    """True when a test ran (`p_value` is a number) and its p-value is below `alpha`."""
    return not math.isnan(p_value) and p_value < alpha
