"""Component `session`: whether the daily run has a new session to process ("no new session" otherwise)."""

from kfp import dsl

from components.image import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def session(params_overrides: str, as_of: str) -> str:
    """Tell whether the daily run has a session to predict from.

    Args:
        params_overrides: JSON list of "section.key=value" overrides of params.yaml (from `configure`).
        as_of: the session to predict from, YYYY-MM-DD; "" = the source's latest completed session.

    Returns:
        Output: "new session", or "no new session" when as_of is empty and its session was predicted from.
    """
    import sys

    from stockpredictor.orchestration.runtime import parse_as_of, task_context
    from stockpredictor.stages.session import session as check

    with task_context(params_overrides) as ctx:
        result = check(ctx.engine, ctx.params, parse_as_of(as_of))
    print(f"{result.status}: {result.reason}", file=sys.stderr, flush=True)
    return result.status
