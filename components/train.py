"""Component `train`: final model on the best hyperparameters, logged and registered in MLflow."""

from kfp import dsl
from kfp.dsl import Markdown, Metrics, Model, Output

from components.image import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def train(
    params_overrides: str,
    dataset_run_id: str,
    test_metrics: Output[Metrics],
    report: Output[Markdown],
    model: Output[Model],
) -> str:
    """Train, evaluate once on the test windows and register the model; returns the MLflow run id."""
    from pathlib import Path

    from stockpredictor.orchestration.runtime import task_context, write_model_reference
    from stockpredictor.registry import ModelVersionRef
    from stockpredictor.stages.train import train as run

    with task_context(params_overrides) as ctx:
        result = run(ctx.engine, ctx.params, ctx.settings, dataset_run_id)
    for name, value in result.metrics.items():
        test_metrics.log_metric(name, value)
    Path(report.path).write_text(result.report_markdown)
    registered = ModelVersionRef(
        ctx.params.train.model_name, result.model_version, result.mlflow_run_id, dataset_run_id
    )
    write_model_reference(model, registered)
    return result.mlflow_run_id
