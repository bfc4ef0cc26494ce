"""Component `monitor`: rolling-window evaluation of the production model and the retraining decision."""

from kfp import dsl
from kfp.dsl import HTML, Markdown, Metrics, Output

from components.image import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def monitor(
    params_overrides: str,
    as_of: str,
    window_metrics: Output[Metrics],
    fan_chart: Output[HTML],
    interval_coverage: Output[Markdown],
) -> str:
    """Log matured predictions and judge the window; returns "retrain", "ok" or "insufficient_data"."""
    import logging
    from pathlib import Path

    from stockpredictor.orchestration.runtime import parse_as_of, task_context
    from stockpredictor.stages.fan_chart import coverage_markdown, recent_fan_chart
    from stockpredictor.stages.monitor import RETRAIN
    from stockpredictor.stages.monitor import monitor as run
    from stockpredictor.stages.notify import record_alert

    with task_context(params_overrides) as ctx:
        result = run(ctx.engine, ctx.params, ctx.settings, parse_as_of(as_of))
        if result.decision == RETRAIN:
            record_alert(
                ctx.engine,
                RETRAIN,
                f"retraining the production model: {result.reason}",
                mlflow_run_id=result.mlflow_run_id,
                as_of=as_of,
            )
        levels = ctx.params.intervals.levels
        Path(fan_chart.path).write_text(recent_fan_chart(ctx.engine, result.as_of, levels))
    Path(interval_coverage.path).write_text(coverage_markdown(result.metrics, levels))
    for name, value in result.metrics.items():
        window_metrics.log_metric(name, value)
    logging.getLogger("monitor").info("%s: %s", result.decision, result.reason)
    return result.decision
