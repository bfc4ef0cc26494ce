"""Pure modelling layer: architectures, training and price-space metrics (arrays in, arrays out; no I/O)."""

from stockpredictor.models.architectures import ARCHITECTURES, ModelSpec, build_model, model_spec
from stockpredictor.models.metrics import (
    BASELINE_METRIC_NAMES,
    METRIC_NAMES,
    price_metrics,
    returns_to_prices,
)
from stockpredictor.models.training import (
    EpochLog,
    FitResult,
    TrainConfig,
    WindowSource,
    configure_torch_threads,
    fit,
    predict,
)

__all__ = [
    "ARCHITECTURES",
    "BASELINE_METRIC_NAMES",
    "METRIC_NAMES",
    "EpochLog",
    "FitResult",
    "ModelSpec",
    "TrainConfig",
    "WindowSource",
    "build_model",
    "configure_torch_threads",
    "fit",
    "model_spec",
    "predict",
    "price_metrics",
    "returns_to_prices",
]
