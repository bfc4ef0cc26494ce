"""Component `optimize`: Optuna search on the dataset's validation windows."""

from kfp import dsl
from kfp.dsl import Metrics, Output

from components.image import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def optimize(params_overrides: str, dataset_run_id: str, study: Output[Metrics]) -> str:
    """Run the study and store the best hyperparameters; returns them as JSON."""
    import json

    from stockpredictor.runtime import runtime_context
    from stockpredictor.stages.optimize import optimize as run

    ctx = runtime_context(params_overrides)
    result = run(ctx.engine, ctx.params, dataset_run_id)
    study.log_metric("best_validation_loss", result.best_value)
    study.log_metric("complete_trials", result.n_complete)
    study.log_metric("pruned_trials", result.n_pruned)
    return json.dumps(result.best_params, sort_keys=True)
