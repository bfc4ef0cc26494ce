"""Component `predict`: next-day closes from the production model, stored for the API and monitoring."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Markdown, Model, Output

from components.image import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def predict(
    params_overrides: str,
    model: Input[Model],
    window: Input[Dataset],
    predictions: Output[Dataset],
    table: Output[Markdown],
) -> str:
    """Predict the next trading day's closes, store the rows and the JSON files.

    Args:
        params_overrides: JSON list of "section.key=value" overrides of params.yaml (from `configure`).
        model: the production model's reference (from `production-model`).
        window: the model's input window (from `prepare-input`).

    Returns:
        predictions: the predictions JSON (metadata: target date, model URI, as_of).
        table: the forecasts: last close, predicted close and change per ticker, and the stale tickers.
        Output: the target date, YYYY-MM-DD.
    """
    import shutil
    from pathlib import Path

    from stockpredictor.orchestration.runtime import predictions_markdown, task_context
    from stockpredictor.stages.predict import predict as run

    with task_context(params_overrides) as ctx:
        result = run(
            ctx.engine,
            ctx.params,
            ctx.settings,
            Path(window.path) / window.metadata["file"],
            model.metadata["model_uri"],
        )
    shutil.copyfile(result.json_path, predictions.path)
    predictions.metadata.update(
        target_date=result.target_date.isoformat(),
        model_uri=model.metadata["model_uri"],
        as_of=result.as_of.isoformat(),
    )
    Path(table.path).write_text(predictions_markdown(result))
    return result.target_date.isoformat()
