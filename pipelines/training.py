"""Training pipeline: ingest -> process -> scale -> optimize -> train -> promote, then its alerts."""

from components.configure import configure
from components.ingest import ingest
from components.optimize import optimize_collect, optimize_study, optimize_worker
from components.process import process
from components.promote import promote
from components.scale import scale
from components.train import train
from kfp import dsl

from pipelines.tasks import HEAVY, alerts, retried, step

#: At most this many optimize workers run at once (KFP needs the limit at compile time); more wait.
MAX_PARALLEL_WORKERS = 8


@dsl.pipeline
def optimize_search(params_overrides: str, dataset_run_id: str, workers: int) -> str:
    """Create the study, fan out its workers (at most MAX_PARALLEL_WORKERS at once), collect the best trial.

    A nested pipeline so that the loop's inputs are pipeline inputs: kfp.local (2.17) replaces every
    input a ParallelFor takes from a task output by the loop item.

    Args:
        params_overrides: JSON list of "section.key=value" overrides of params.yaml (from `configure`).
        dataset_run_id: the scaled dataset the search tunes on.
        workers: parallel workers sharing the study; 0 = params.yaml's optimize.workers.

    Returns:
        Output: the best hyperparameters as JSON.
    """
    study = step(
        optimize_study(params_overrides=params_overrides, dataset_run_id=dataset_run_id, workers=workers)
    )
    with dsl.ParallelFor(items=study.output, parallelism=MAX_PARALLEL_WORKERS) as worker:
        searched = step(
            optimize_worker(params_overrides=params_overrides, dataset_run_id=dataset_run_id, worker=worker),
            cache=True,
            resources=HEAVY,
        )
    collected = optimize_collect(params_overrides=params_overrides, dataset_run_id=dataset_run_id)
    return step(collected.after(searched), cache=True).outputs["Output"]


@dsl.pipeline(name="stockpredictor-training-steps")
def training_steps(
    as_of: str, tickers: str, n_trials: int, optimize_workers: int, params_overrides: str
) -> None:
    """The training steps; a pipeline of their own so that the daily pipeline nests them too.

    Args:
        as_of: last day of data, YYYY-MM-DD; "" = the source's latest completed session.
        tickers: comma-separated tickers; "" = params.yaml's data.tickers.
        n_trials: Optuna trials; 0 = params.yaml's optimize.n_trials.
        optimize_workers: parallel Optuna workers sharing the study; 0 = params.yaml's optimize.workers.
        params_overrides: JSON list of "section.key=value" overrides of params.yaml.
    """
    overrides = step(configure(params_overrides=params_overrides, tickers=tickers, n_trials=n_trials)).output
    fetched = step(retried(ingest(params_overrides=overrides, as_of=as_of)))
    dataset = step(process(params_overrides=overrides, as_of=as_of).after(fetched))
    scaled = step(scale(params_overrides=overrides, dataset_run_id=dataset.outputs["Output"]), cache=True)
    dataset_run_id = scaled.outputs["Output"]
    tuned = optimize_search(
        params_overrides=overrides, dataset_run_id=dataset_run_id, workers=optimize_workers
    ).set_display_name("optimize")
    trained = step(
        train(params_overrides=overrides, dataset_run_id=dataset_run_id).after(tuned),
        cache=True,
        resources=HEAVY,
    )
    step(promote(params_overrides=overrides, as_of=as_of, mlflow_run_id=trained.outputs["Output"]))


@dsl.pipeline(
    name="stockpredictor-training",
    description="Ingest new prices, build a new dataset version, tune, train, register, gate-promote.",
)
def training_pipeline(
    as_of: str = "",
    tickers: str = "",
    n_trials: int = 0,
    optimize_workers: int = 0,
    params_overrides: str = "[]",
) -> None:
    """Train a model on the data up to `as_of` and promote it if it passes the gate; then deliver alerts.

    Args:
        as_of: last day of data, YYYY-MM-DD; "" = the source's latest completed session.
        tickers: comma-separated tickers; "" = params.yaml's data.tickers.
        n_trials: Optuna trials; 0 = params.yaml's optimize.n_trials.
        optimize_workers: parallel Optuna workers sharing the study; 0 = params.yaml's optimize.workers
            (default 1).
        params_overrides: JSON list of "section.key=value" overrides of params.yaml.
    """
    with dsl.ExitHandler(alerts("stockpredictor-training"), name="training"):
        training_steps(
            as_of=as_of,
            tickers=tickers,
            n_trials=n_trials,
            optimize_workers=optimize_workers,
            params_overrides=params_overrides,
        ).set_display_name("training")
