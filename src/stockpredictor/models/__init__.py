"""Pure modelling layer: architectures, training and price-space metrics (arrays in, arrays out; no I/O)."""

from stockpredictor.models.architectures import ARCHITECTURES, ModelSpec, build_model
from stockpredictor.models.metrics import METRIC_NAMES, per_ticker_metrics, price_metrics, returns_to_prices
from stockpredictor.models.training import EpochLog, FitResult, TrainConfig, WindowSource, fit, predict

__all__ = [
    "ARCHITECTURES",
    "METRIC_NAMES",
    "EpochLog",
    "FitResult",
    "ModelSpec",
    "TrainConfig",
    "WindowSource",
    "build_model",
    "fit",
    "per_ticker_metrics",
    "predict",
    "price_metrics",
    "returns_to_prices",
]
