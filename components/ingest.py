"""Component `ingest`: store the daily bars newer than the latest stored day per ticker."""

from kfp import dsl
from kfp.dsl import Metrics, Output

from components.image import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def ingest(params_overrides: str, as_of: str, rows_added: Output[Metrics]) -> int:
    """Fetch and store new rows per ticker; fails (and KFP retries) when a ticker could not be fetched."""
    from stockpredictor.errors import SourceError
    from stockpredictor.orchestration.runtime import parse_as_of, task_context
    from stockpredictor.stages.ingest import ingest as run

    with task_context(params_overrides) as ctx:
        result = run(ctx.engine, ctx.params, parse_as_of(as_of))
        for ticker, rows in result.added.items():
            rows_added.log_metric(ticker, rows)
        if result.errors:
            raise SourceError(result.failure_message())
        return result.total_added
