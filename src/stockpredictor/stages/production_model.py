"""Stage `production-model`: the concrete version behind the `production` alias and its dataset run id.

No production model (nothing promoted yet) is an ordinary outcome, returned as None: the daily
pipeline bootstraps training on it.
"""

from __future__ import annotations

from stockpredictor import registry
from stockpredictor.config import Params, Settings
from stockpredictor.registry import ProductionModel


def production_model(params: Params, settings: Settings) -> ProductionModel | None:
    """`models:/NAME/VERSION` of the model aliased `production` and its `dataset_run_id`, or None."""
    registry.use_tracking(settings)
    return registry.production_model(params.train.model_name)
