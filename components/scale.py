"""Component `scale`: chronological split and train-only scaling of a processed dataset."""

from kfp import dsl
from kfp.dsl import Metrics, Output

from components.image import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def scale(params_overrides: str, dataset_run_id: str, split: Output[Metrics]) -> str:
    """Store the scaled windows and scalers of the dataset; returns its DATASET_RUN_ID for the next steps."""
    from stockpredictor.orchestration.runtime import task_context
    from stockpredictor.stages.scale import scale as run

    with task_context(params_overrides) as ctx:
        result = run(ctx.engine, ctx.params, dataset_run_id)
    for name in ("train", "validation", "test"):
        split.log_metric(f"{name}_windows", getattr(result.split, name))
    split.log_metric("sequence_length", result.sequence_length)
    split.log_metric("stored_bytes", result.stored_bytes)
    return result.dataset_run_id
