"""Component `configure`: the pipeline's parameters as one validated list of params overrides."""

from kfp import dsl

from components.image import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def configure(params_overrides: str, tickers: str, n_trials: int) -> str:
    """Validate params.yaml with the overrides (fail before any work).

    Args:
        params_overrides: JSON list of "section.key=value" overrides of params.yaml.
        tickers: comma-separated tickers replacing data.tickers; "" keeps params.yaml's.
        n_trials: Optuna trials replacing optimize.n_trials; 0 keeps params.yaml's.

    Returns:
        Output: the overrides with tickers and n_trials folded in, as the JSON list every later step reads.
    """
    from stockpredictor.orchestration.runtime import merge_overrides, reported_errors

    with reported_errors():
        return merge_overrides(params_overrides, tickers, n_trials)
