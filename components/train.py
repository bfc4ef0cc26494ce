"""Component `train`: final model on the best hyperparameters, logged and registered in MLflow."""

from kfp import dsl
from kfp.dsl import HTML, ClassificationMetrics, Markdown, Metrics, Model, Output

from components.image import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def train(
    params_overrides: str,
    dataset_run_id: str,
    test_metrics: Output[Metrics],
    report: Output[Markdown],
    figures: Output[HTML],
    direction: Output[ClassificationMetrics],
    direction_always_up: Output[ClassificationMetrics],
    direction_last_move: Output[ClassificationMetrics],
    model: Output[Model],
) -> str:
    """Train, evaluate once on the test windows and register the model.

    Args:
        params_overrides: JSON list of "section.key=value" overrides of params.yaml (from `configure`).
        dataset_run_id: the scaled dataset to train on (its best hyperparameters from `optimize`).

    Returns:
        test_metrics: the test-window metrics beside persistence's and the direction baselines'.
        report: the training report: hyperparameters, test metrics beside every baseline, per ticker.
        figures: the loss curves and each ticker's predicted and actual closes on the test windows.
        direction: the model's down / no change / up confusion matrix on the test windows (rows: actual).
        direction_always_up: the same matrix of the "always up" baseline.
        direction_last_move: the same matrix of the "last move" baseline.
        model: a reference to the registered MLflow model version.
        Output: the MLflow run id.
    """
    from pathlib import Path

    from stockpredictor.models.metrics import DIRECTIONS
    from stockpredictor.orchestration.figures import figures_html
    from stockpredictor.orchestration.runtime import task_context, write_model_reference
    from stockpredictor.registry import ModelVersionRef
    from stockpredictor.stages.train import LOSS_CURVES
    from stockpredictor.stages.train import train as run

    with task_context(params_overrides) as ctx:
        result = run(ctx.engine, ctx.params, ctx.settings, dataset_run_id)
    for name, value in result.metrics.items():
        test_metrics.log_metric(name, value)
    Path(report.path).write_text(result.report_markdown)
    no_curves = "" if LOSS_CURVES in result.figures else "No loss curves: a tabular model has no epochs."
    page = figures_html(f"Training run {result.mlflow_run_id}", result.figures, no_curves)
    Path(figures.path).write_text(page)
    matrices = {"model": direction, "always_up": direction_always_up, "last_move": direction_last_move}
    for who, artifact in matrices.items():
        artifact.log_confusion_matrix(list(DIRECTIONS), result.directions[who])
    registered = ModelVersionRef(
        ctx.params.train.model_name, result.model_version, result.mlflow_run_id, dataset_run_id
    )
    write_model_reference(model, registered)
    return result.mlflow_run_id
