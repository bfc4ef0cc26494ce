"""Component `promote`: the promotion gate (candidate vs production vs persistence on the same window)."""

from kfp import dsl
from kfp.dsl import Markdown, Metrics, Output

from components.image import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def promote(
    params_overrides: str,
    as_of: str,
    mlflow_run_id: str,
    comparison: Output[Metrics],
    summary: Output[Markdown],
) -> str:
    """Alias the candidate `production` when it passes the gate.

    Args:
        params_overrides: JSON list of "section.key=value" overrides of params.yaml (from `configure`).
        as_of: the last day of the gate window, YYYY-MM-DD; "" = the source's latest completed session.
        mlflow_run_id: the MLflow run of the candidate (from `train`).

    Returns:
        comparison: candidate, production and baselines on the same gate window.
        summary: the decision, its reason, and the decision table on the gate window.
        Output: the decision: "promoted", "rejected" or "forced".
    """
    import logging
    from pathlib import Path

    from stockpredictor.orchestration.cards import promote_card
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
    Path(summary.path).write_text(promote_card(result))
    logging.getLogger("promote").info("%s: %s", result.decision, result.reason)
    return result.decision
