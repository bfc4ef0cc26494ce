"""Component `scale`: chronological split and train-only scaling of a processed dataset."""

from kfp import dsl
from kfp.dsl import Markdown, Metrics, Output

from components.image import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def scale(
    params_overrides: str, dataset_run_id: str, split: Output[Metrics], summary: Output[Markdown]
) -> str:
    """Store the scaled windows and scalers of the dataset.

    Args:
        params_overrides: JSON list of "section.key=value" overrides of params.yaml (from `configure`).
        dataset_run_id: the processed dataset to scale (from `process`).

    Returns:
        split: windows per part (train, validation, test), the window length and the bytes stored.
        summary: the split's sizes with the days its first and last windows end on.
        Output: the same DATASET_RUN_ID, for the next steps.
    """
    from pathlib import Path

    from stockpredictor.orchestration.cards import scale_card
    from stockpredictor.orchestration.runtime import task_context
    from stockpredictor.stages.scale import scale as run

    with task_context(params_overrides) as ctx:
        result = run(ctx.engine, ctx.params, dataset_run_id)
    for name in ("train", "validation", "test"):
        split.log_metric(f"{name}_windows", getattr(result.split, name))
    split.log_metric("sequence_length", result.sequence_length)
    split.log_metric("stored_bytes", result.stored_bytes)
    Path(summary.path).write_text(scale_card(result))
    return result.dataset_run_id
