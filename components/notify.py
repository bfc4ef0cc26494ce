"""Component `notify`: the exit step of both pipelines, delivering their alerts (see `stages.notify`)."""

from kfp import dsl

from components.image import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def notify(pipeline: str, status: dsl.PipelineTaskFinalStatus) -> int:
    """Record the run's failure, if it failed, and deliver every undelivered alert.

    Args:
        pipeline: the pipeline's name, shown in the alerts.
        status: the final status of the steps this exit handler guards (set by KFP).

    Returns:
        Output: how many alerts were delivered.
    """
    from stockpredictor.orchestration.runtime import task_context
    from stockpredictor.stages.notify import notify as run

    with task_context() as ctx:
        result = run(ctx.engine, ctx.settings, pipeline, status.state, status.error_message)
    return result.delivered
