"""Component `prepare-input`: the production model's scaled input window for as_of."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components.image import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def prepare_input(params_overrides: str, as_of: str, model: Input[Model], window: Output[Dataset]) -> str:
    """Save the production model's input window (.npy + JSON sidecar) in the `window` folder.

    Args:
        params_overrides: JSON list of "section.key=value" overrides of params.yaml (from `configure`).
        as_of: the day the window ends on or before, YYYY-MM-DD; "" = the source's latest completed session.
        model: the production model's reference; its dataset's features and scalers build the window.

    Returns:
        window: the folder with the .npy window and its sidecar (metadata: file, dataset, days, tickers).
        Output: the window's last observed day, YYYY-MM-DD.
    """
    from pathlib import Path

    from stockpredictor.orchestration.runtime import parse_as_of, task_context
    from stockpredictor.stages.prepare_input import prepare_input as run

    with task_context(params_overrides) as ctx:
        result = run(
            ctx.engine,
            ctx.params,
            model.metadata["dataset_run_id"],
            parse_as_of(as_of),
            output_dir=Path(window.path),
        )
    window.metadata.update(
        file=result.path.name,
        dataset_run_id=result.dataset_run_id,
        as_of=result.as_of.isoformat(),
        last_day=result.last_day.isoformat(),
        tickers=list(result.tickers),
    )
    return result.last_day.isoformat()
