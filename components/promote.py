"""Component `promote`: the promotion gate (candidate vs production vs persistence on the same window)."""

from kfp import dsl
from kfp.dsl import Metrics, Output

from components.image import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def promote(params_overrides: str, as_of: str, mlflow_run_id: str, comparison: Output[Metrics]) -> str:
    """Alias the candidate `production` when it passes the gate; returns the decision (reason in the log)."""
    import logging

    from stockpredictor.orchestration.runtime import parse_as_of, task_context
    from stockpredictor.stages.notify import record_alert
    from stockpredictor.stages.promote import promote as run

    with task_context(params_overrides) as ctx:
        result = run(
            ctx.engine, ctx.params, ctx.settings, mlflow_run_id=mlflow_run_id, as_of=parse_as_of(as_of)
        )
        record_alert(
            ctx.engine,
            result.decision,
            f"candidate version {result.candidate_version} {result.decision}: {result.reason}",
            candidate_version=result.candidate_version,
            production_version=result.production_version,
            mlflow_run_id=mlflow_run_id,
        )
    for name, value in result.metrics.items():
        comparison.log_metric(name, value)
    logging.getLogger("promote").info("%s: %s", result.decision, result.reason)
    return result.decision
