"""Training pipeline: ingest -> process -> scale -> optimize -> train -> promote."""

from components.configure import configure
from components.ingest import ingest
from components.optimize import optimize
from components.process import process
from components.promote import promote
from components.scale import scale
from components.train import train
from kfp import dsl

from pipelines.tasks import heavy, retried, step


@dsl.pipeline(
    name="stockpredictor-training",
    description="Ingest new prices, build a new dataset version, tune, train, register, gate-promote.",
)
def training_pipeline(
    as_of: str = "", tickers: str = "", n_trials: int = 0, params_overrides: str = "[]"
) -> None:
    """Train a model on the data up to `as_of` and promote it if it passes the gate.

    as_of: YYYY-MM-DD, "" = the source's latest day; tickers: comma-separated, "" = params.yaml's;
    n_trials: Optuna trials, 0 = params.yaml's; params_overrides: JSON list of "section.key=value".
    """
    overrides = step(configure(params_overrides=params_overrides, tickers=tickers, n_trials=n_trials)).output
    fetched = step(retried(ingest(params_overrides=overrides, as_of=as_of)))
    dataset = step(process(params_overrides=overrides, as_of=as_of).after(fetched))
    scaled = step(scale(params_overrides=overrides, dataset_run_id=dataset.outputs["Output"]), cache=True)
    tuned = step(
        heavy(optimize(params_overrides=overrides, dataset_run_id=scaled.outputs["Output"])), cache=True
    )
    trained = step(
        heavy(train(params_overrides=overrides, dataset_run_id=scaled.outputs["Output"]).after(tuned)),
        cache=True,
    )
    step(promote(params_overrides=overrides, as_of=as_of, mlflow_run_id=trained.outputs["Output"]))
