"""Component `configure`: the pipeline's parameters as one validated list of params overrides."""

from kfp import dsl

from components.image import PROJECT_IMAGE


@dsl.component(base_image=PROJECT_IMAGE, install_kfp_package=False)
def configure(params_overrides: str, tickers: str, n_trials: int) -> str:
    """Validate params.yaml with the overrides (fail before any work); returns them as a JSON list."""
    from stockpredictor.orchestration.runtime import merge_overrides, reported_errors

    with reported_errors():
        return merge_overrides(params_overrides, tickers, n_trials)
