"""Component `monitor`: rolling-window evaluation of the production model and the retraining decision."""

from kfp import dsl
from kfp.dsl import HTML, Markdown, Metrics, Output

from components.image import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def monitor(
    params_overrides: str,
    as_of: str,
    window_metrics: Output[Metrics],
    summary: Output[Markdown],
    fan_chart: Output[HTML],
    interval_coverage: Output[Markdown],
) -> str:
    """Log matured predictions and judge the production model on its window.

    Args:
        params_overrides: JSON list of "section.key=value" overrides of params.yaml (from `configure`).
        as_of: the session judged, YYYY-MM-DD; "" = the source's latest completed session.

    Returns:
        window_metrics: the window's statistics and tests, and the evaluations this run added.
        summary: the decision, its reason and the window's statistics, whatever serves.
        fan_chart: forecasts with their prediction intervals and the actual closes, per ticker.
        interval_coverage: the window's interval coverage, width and score beside the baselines'.
        Output: the decision, e.g. "retrain", "ok", "insufficient_data", "recalibrate".
    """
    import logging
    from pathlib import Path

    from stockpredictor.orchestration.cards import monitor_card
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
    Path(summary.path).write_text(monitor_card(result))
    window_metrics.log_metric("new_evaluations", result.n_new_evaluations)
    for name, value in result.metrics.items():
        window_metrics.log_metric(name, value)
    logging.getLogger("monitor").info("%s: %s", result.decision, result.reason)
    return result.decision
