"""Response models of the prediction API (they are its OpenAPI schema)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _as_utc(value: datetime) -> datetime:
    """Stored times are UTC; SQLite returns them without their offset."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


class _Response(BaseModel):
    model_config = ConfigDict(frozen=True)


class ErrorDetail(_Response):
    """Body of every 404, 503 and 504 answer."""

    detail: str


class Alive(_Response):
    """The process answers (liveness: nothing else is checked)."""

    status: Literal["alive"]


class Ready(_Response):
    """The store is reachable at this server's schema and the MLflow registry answers."""

    status: Literal["ready"]


class TickerInfo(_Response):
    """A ticker present in the store: its stored price range and its newest daily prediction."""

    ticker: str
    first_price_date: date | None
    last_price_date: date | None
    latest_prediction_as_of: date | None


class PredictionInterval(_Response):
    """A central prediction interval of the next close, calibrated online on matured forecasts."""

    level: float = Field(description="nominal coverage, e.g. 0.8")
    lower: float
    upper: float


class Prediction(_Response):
    """A next-day forecast made after the close of `as_of_date` for `target_date`."""

    ticker: str
    as_of_date: date
    target_date: date
    last_close: float
    predicted_close: float
    change_pct: float = Field(description="100 * (predicted_close / last_close - 1)")
    direction: Literal["up", "down", "no call"] = Field(
        description="predicted_close against last_close; `no call` when they are equal (persistence)"
    )
    mlflow_run_id: str = Field(description="MLflow run of the model that made the prediction")
    model_version: str | None
    created_at: UtcDatetime
    volatility: float | None = Field(
        None, description="forecast standard deviation of the next log return (null: made without one)"
    )
    intervals: list[PredictionInterval] = Field(
        default_factory=list, description="central intervals of the next close, narrowest level first"
    )


class LatestPredictions(_Response):
    """The newest daily prediction of every ticker (tickers may differ in as-of day if one went stale)."""

    as_of_date: date | None = Field(description="Newest as-of day among the predictions (null: none yet)")
    predictions: list[Prediction]


class PredictionOutcome(Prediction):
    """A prediction with the actual close of its target day, once that day's price is stored."""

    actual_close: float | None
    error: float | None = Field(description="predicted_close - actual_close")
    direction_correct: bool | None = Field(
        description="sign(predicted - last_close) == sign(actual - last_close); null when not known yet "
        "or when the forecast calls no move"
    )


class TickerHistory(_Response):
    """Daily predictions of one ticker with as-of day in [start, end] (the newest one per day)."""

    ticker: str
    start: date | None
    end: date | None
    predictions: list[PredictionOutcome]


class Metrics(_Response):
    """Errors of the model and of persistence (tomorrow = today) on the same evaluated predictions."""

    evaluations: int
    first_target_date: date
    last_target_date: date
    mae: float
    rmse: float
    mape: float = Field(description="percent")
    directional_accuracy: float | None = Field(
        description="share of correct directions; null (no call) when the model called no move"
    )
    persistence_mae: float
    persistence_rmse: float
    persistence_mape: float = Field(description="percent")
    mae_ratio: float | None = Field(description="mae / persistence_mae (null when persistence is exact)")
    log_mae: float = Field(
        description="the scale-free loss: absolute log-return error, the tickers of a day weighing the same"
    )
    persistence_log_mae: float
    log_mae_ratio: float | None = Field(
        description="log_mae / persistence_log_mae, the headline figure (< 1 beats persistence)"
    )
    loss_p_worse: float | None = Field(
        description="one-sided Diebold-Mariano p-value that the model's loss exceeds persistence's "
        "(null: fewer than 2 days)"
    )
    loss_p_better: float | None = Field(description="the same test's p-value that it is smaller")


class ModelPerformance(_Response):
    """Rolling metrics of one model over its last `window_days` evaluated trading days."""

    mlflow_run_id: str = Field(description="MLflow run of the model")
    model_version: str | None
    overall: Metrics
    tickers: dict[str, Metrics]


class Performance(_Response):
    window_days: int
    models: list[ModelPerformance] = Field(description="Most recently evaluated model first")


class ModelCard(_Response):
    """The model behind the `production` alias, its test metrics and when it was promoted."""

    name: str
    version: str
    mlflow_run_id: str = Field(description="MLflow run that trained the model")
    model_uri: str
    dataset_run_id: str | None
    test_metrics: dict[str, float | None] = Field(description="Test-window metrics logged by training")
    promoted_at: UtcDatetime | None
    promotion_decision: str | None
    promotion_reason: str | None
    baseline: str | None = Field(
        description="`persistence` when the baseline serves (no trained model beat it yet), else null"
    )


class MonitorDecision(_Response):
    """One decision of the daily monitor about the production model, with the numbers behind it."""

    as_of_date: date
    created_at: UtcDatetime
    mlflow_run_id: str | None = Field(description="The production model judged (null: there was none)")
    decision: Literal[
        "retrain",
        "ok",
        "insufficient_data",
        "suppressed_cooldown",
        "suppressed_budget",
        "awaiting_evidence",
        "recalibrate",
    ]
    reason: str = Field(description="What decided it, with test statistics and p-values")
    statistics: dict[str, float | None] = Field(
        description="Window metrics and tests (dm_statistic, dm_p_value, direction_p_value, ...); "
        "null where a test could not run"
    )


class MonitorDecisions(_Response):
    """The monitor's decisions with as-of day in [start, end], newest first."""

    model_name: str
    decisions: list[MonitorDecision]
