"""Pure modelling layer: architectures, training and price-space metrics (arrays in, arrays out; no I/O).

The names below load their module on first use, so that a torch-free part (`loss`, `significance`,
`metrics`) can be imported without torch (the API does).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
        refit,
    )

_MODULE_OF = {
    **dict.fromkeys(("ARCHITECTURES", "ModelSpec", "build_model", "model_spec"), "architectures"),
    **dict.fromkeys(
        ("BASELINE_METRIC_NAMES", "METRIC_NAMES", "price_metrics", "returns_to_prices"), "metrics"
    ),
    **dict.fromkeys(
        (
            "EpochLog",
            "FitResult",
            "TrainConfig",
            "WindowSource",
            "configure_torch_threads",
            "fit",
            "predict",
            "refit",
        ),
        "training",
    ),
}

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
    "refit",
    "returns_to_prices",
]


def __getattr__(name: str) -> Any:
    """The exported `name`, its module imported on first use."""
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
