"""Component `ingest`: store the daily bars newer than the latest stored day per ticker."""

from kfp import dsl
from kfp.dsl import Markdown, Metrics, Output

from components.image import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def ingest(params_overrides: str, as_of: str, rows_added: Output[Metrics], summary: Output[Markdown]) -> int:
    """Fetch, check and store new rows per ticker; fails (and KFP retries) when a ticker could not be fetched.

    Args:
        params_overrides: JSON list of "section.key=value" overrides of params.yaml (from `configure`).
        as_of: last day to fetch, YYYY-MM-DD; "" = the source's latest completed session.

    Returns:
        rows_added: new rows stored per ticker, and `rows_refused`: impossible rows not stored.
        summary: rows and new days per ticker, failures, and every refused row with its date and reason.
        Output: the number of new rows stored.
    """
    from pathlib import Path

    from stockpredictor.errors import SourceError
    from stockpredictor.orchestration.cards import ingest_card
    from stockpredictor.orchestration.runtime import parse_as_of, task_context
    from stockpredictor.stages.ingest import ingest as run

    with task_context(params_overrides) as ctx:
        result = run(ctx.engine, ctx.params, parse_as_of(as_of))
        for ticker, rows in result.added.items():
            rows_added.log_metric(ticker, rows)
        rows_added.log_metric("rows_refused", len(result.refused))
        Path(summary.path).write_text(ingest_card(result))
        if result.errors:
            raise SourceError(result.failure_message())
        return result.total_added
