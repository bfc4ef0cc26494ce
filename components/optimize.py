"""Components of stage `optimize`: create the study, run its workers in parallel, collect the best trial."""

from kfp import dsl
from kfp.dsl import Metrics, Output

from components.image import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def optimize_study(params_overrides: str, dataset_run_id: str, workers: int) -> list[int]:
    """Create (or keep, to resume) the dataset's study; returns the worker indices (0 workers = params')."""
    from stockpredictor.orchestration.runtime import task_context
    from stockpredictor.stages.optimize import create_study, worker_indices

    with task_context(params_overrides) as ctx:
        create_study(ctx.engine, ctx.params, dataset_run_id)
        return worker_indices(ctx.params, workers)


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def optimize_worker(params_overrides: str, dataset_run_id: str, worker: int) -> int:
    """Run trials of the shared study until its budget is taken; returns how many this worker ran."""
    from stockpredictor.orchestration.runtime import task_context
    from stockpredictor.stages.optimize import run_worker

    with task_context(params_overrides) as ctx:
        return run_worker(ctx.engine, ctx.params, dataset_run_id, worker)


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def optimize_collect(params_overrides: str, dataset_run_id: str, study: Output[Metrics]) -> str:
    """Fail orphaned trials and store the best hyperparameters; returns them as JSON."""
    import json

    from stockpredictor.orchestration.runtime import task_context
    from stockpredictor.stages.optimize import collect

    with task_context(params_overrides) as ctx:
        result = collect(ctx.engine, ctx.params, dataset_run_id)
    study.log_metric("best_validation_loss", result.best_value)
    study.log_metric("complete_trials", result.n_complete)
    study.log_metric("pruned_trials", result.n_pruned)
    return json.dumps(result.best_params, sort_keys=True)
