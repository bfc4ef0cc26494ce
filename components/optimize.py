"""Components of stage `optimize`: create the study, run its workers in parallel, collect the best trial."""

from kfp import dsl
from kfp.dsl import HTML, Markdown, Metrics, Output

from components.image import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def optimize_study(params_overrides: str, dataset_run_id: str, workers: int) -> list[int]:
    """Create (or keep, to resume) the dataset's Optuna study.

    Args:
        params_overrides: JSON list of "section.key=value" overrides of params.yaml (from `configure`).
        dataset_run_id: the scaled dataset the search tunes on.
        workers: parallel workers sharing the study; 0 = params.yaml's optimize.workers.

    Returns:
        Output: the worker indices, one per worker pod of the ParallelFor.
    """
    from stockpredictor.orchestration.runtime import task_context
    from stockpredictor.stages.optimize_study import create_study, worker_indices

    with task_context(params_overrides) as ctx:
        create_study(ctx.engine, ctx.params, dataset_run_id)
        return worker_indices(ctx.params, workers)


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def optimize_worker(params_overrides: str, dataset_run_id: str, worker: int) -> int:
    """Run trials of the shared study until its budget is taken.

    Args:
        params_overrides: JSON list of "section.key=value" overrides of params.yaml (from `configure`).
        dataset_run_id: the scaled dataset the search tunes on.
        worker: this worker's index (recorded on its trials).

    Returns:
        Output: how many trials this worker ran.
    """
    from stockpredictor.orchestration.runtime import task_context
    from stockpredictor.stages.optimize import run_worker

    with task_context(params_overrides) as ctx:
        return run_worker(ctx.engine, ctx.params, dataset_run_id, worker)


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def optimize_collect(
    params_overrides: str,
    dataset_run_id: str,
    study: Output[Metrics],
    summary: Output[Markdown],
    history: Output[HTML],
) -> str:
    """Fail orphaned trials and store the best hyperparameters.

    Args:
        params_overrides: JSON list of "section.key=value" overrides of params.yaml (from `configure`).
        dataset_run_id: the scaled dataset the search tuned on.

    Returns:
        study: the best validation loss and the complete and pruned trial counts.
        summary: trial counts, the best value and hyperparameters, and the hyperparameters that mattered.
        history: the optimisation history, each trial's validation loss and the best so far.
        Output: the best hyperparameters as JSON.
    """
    import json
    from pathlib import Path

    from stockpredictor.orchestration.cards import optimize_card
    from stockpredictor.orchestration.figures import figures_html, search_figure
    from stockpredictor.orchestration.runtime import task_context
    from stockpredictor.stages.optimize_study import collect, search_history

    with task_context(params_overrides) as ctx:
        result = collect(ctx.engine, ctx.params, dataset_run_id)
        trials = search_history(ctx.engine, dataset_run_id)
    study.log_metric("best_validation_loss", result.best_value)
    study.log_metric("complete_trials", result.n_complete)
    study.log_metric("pruned_trials", result.n_pruned)
    Path(summary.path).write_text(optimize_card(result, trials))
    page = figures_html(f"Search {result.study_name}", {"optimisation history": search_figure(trials)})
    Path(history.path).write_text(page)
    return json.dumps(result.best_params, sort_keys=True)
