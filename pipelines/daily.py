"""Daily pipeline: ingest -> session -> production model -> prepare input -> predict -> monitor -> [retrain].

A scheduled run (as_of empty) whose session was already predicted from (a weekend, a holiday, a second
run the same evening) stops after `session` with "no new session" and changes nothing. With no
production model yet, the training steps run instead (bootstrap); when monitoring says `retrain`,
they run as a branch of the same run. Its exit step delivers the run's alerts.
"""

from components.configure import configure
from components.ingest import ingest
from components.monitor import monitor
from components.predict import predict
from components.prepare_input import prepare_input
from components.production_model import production_model
from components.session import session
from kfp import dsl

from pipelines.tasks import alerts, retried, step
from pipelines.training import training_steps
from stockpredictor.orchestration.runtime import PRODUCTION_MODEL_NONE
from stockpredictor.stages.session import NEW_SESSION

RETRAIN = "retrain"


def daily_steps(as_of: str, tickers: str, n_trials: int, params_overrides: str) -> None:
    """The daily steps, added to the pipeline being defined (inside its exit handler)."""
    training_args = {
        "as_of": as_of,
        "tickers": tickers,
        "n_trials": n_trials,
        "optimize_workers": 0,
        "params_overrides": params_overrides,
    }
    overrides = step(configure(params_overrides=params_overrides, tickers=tickers, n_trials=n_trials)).output
    fetched = step(retried(ingest(params_overrides=overrides, as_of=as_of)))
    # A scheduled run on a weekend or holiday lands on a session already predicted from: it stops here.
    current = step(session(params_overrides=overrides, as_of=as_of).after(fetched))
    with dsl.If(current.output == NEW_SESSION, name="new-session"):
        production = step(production_model(params_overrides=overrides))
        # Conditions test a single str output: kfp.local evaluates conditions on NamedTuple fields as False.
        with dsl.If(production.outputs["Output"] == PRODUCTION_MODEL_NONE, name="no-production-model"):
            training_steps(**training_args).set_display_name("bootstrap-training").set_caching_options(False)
        with dsl.Else(name="production-model-found"):
            window = step(
                prepare_input(params_overrides=overrides, as_of=as_of, model=production.outputs["model"])
            )
            predicted = step(
                predict(
                    params_overrides=overrides,
                    model=production.outputs["model"],
                    window=window.outputs["window"],
                )
            )
            decision = step(monitor(params_overrides=overrides, as_of=as_of).after(predicted))
            with dsl.If(decision.outputs["Output"] == RETRAIN, name="retrain"):
                training_steps(**training_args).set_display_name("retraining").set_caching_options(False)


@dsl.pipeline(
    name="stockpredictor-daily",
    description="Ingest the day's prices, predict the next trading day, monitor the production model, "
    "retrain when it degrades (or train the first model).",
)
def daily_pipeline(
    as_of: str = "", tickers: str = "", n_trials: int = 0, params_overrides: str = "[]"
) -> None:
    """Predict the next session, monitor the production model, retrain when it degrades; deliver alerts.

    Args:
        as_of: the session to predict from, YYYY-MM-DD; "" = the source's latest completed session (a
            scheduled run: it stops when that session was already predicted from).
        tickers: comma-separated tickers; "" = params.yaml's data.tickers (they matter when it trains).
        n_trials: Optuna trials when it trains; 0 = params.yaml's optimize.n_trials.
        params_overrides: JSON list of "section.key=value" overrides of params.yaml.
    """
    with dsl.ExitHandler(alerts("stockpredictor-daily"), name="daily"):
        daily_steps(as_of, tickers, n_trials, params_overrides)
