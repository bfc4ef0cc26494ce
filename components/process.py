"""Component `process`: causal features from all raw data up to as_of, stored as a new dataset."""

from kfp import dsl
from kfp.dsl import Dataset, Markdown, Output

from components.image import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def process(params_overrides: str, as_of: str, dataset: Output[Dataset], summary: Output[Markdown]) -> str:
    """Build and store the feature panel as a new dataset version.

    Args:
        params_overrides: JSON list of "section.key=value" overrides of params.yaml (from `configure`).
        as_of: last day of data the features use, YYYY-MM-DD; "" = the source's latest completed session.

    Returns:
        dataset: a reference to the stored dataset (its metadata: id, tickers, features, days).
        summary: the dataset's id, sessions x tickers x features and its absent cells.
        Output: the new DATASET_RUN_ID.
    """
    from pathlib import Path

    from stockpredictor.orchestration.cards import process_card
    from stockpredictor.orchestration.runtime import parse_as_of, task_context, write_reference
    from stockpredictor.stages.process import process as run

    with task_context(params_overrides) as ctx:
        result = run(ctx.engine, ctx.params, parse_as_of(as_of))
    write_reference(
        dataset,
        dataset_run_id=result.dataset_run_id,
        as_of=result.as_of.isoformat(),
        tickers=list(result.tickers),
        feature_columns=list(result.feature_columns),
        n_days=result.n_days,
        first_date=result.first_date.isoformat(),
        last_date=result.last_date.isoformat(),
        absent_cells=result.absent_cells,
    )
    Path(summary.path).write_text(process_card(result))
    return result.dataset_run_id
