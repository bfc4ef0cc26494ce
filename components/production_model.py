"""Component `production-model`: the registry's production model, or a signal to bootstrap training."""

from kfp import dsl
from kfp.dsl import Model, Output

from components.image import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def production_model(params_overrides: str, model: Output[Model]) -> str:
    """Look up the registry's production model.

    Args:
        params_overrides: JSON list of "section.key=value" overrides of params.yaml (from `configure`).

    Returns:
        model: the production model's reference (metadata: model URI, version, MLflow run, dataset).
        Output: "found", or "none" when there is no production model yet (the daily run then trains).
    """
    from stockpredictor.orchestration.runtime import (
        PRODUCTION_MODEL_FOUND,
        PRODUCTION_MODEL_NONE,
        task_context,
        write_model_reference,
        write_reference,
    )
    from stockpredictor.stages.production_model import production_model as lookup

    with task_context(params_overrides) as ctx:
        production = lookup(ctx.params, ctx.settings)
    if production is None:
        write_reference(model)
        return PRODUCTION_MODEL_NONE
    write_model_reference(model, production)
    return PRODUCTION_MODEL_FOUND
