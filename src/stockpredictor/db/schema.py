"""Every table of the store, defined once. Alembic migrations create and evolve them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

_RUN_ID = String(64)
_TICKER = String(16)


def _dataset_fk() -> Column[str]:
    return Column(
        "dataset_run_id",
        _RUN_ID,
        ForeignKey("processed_feature_data.dataset_run_id", ondelete="CASCADE"),
        primary_key=True,
    )


raw_stock_data = Table(
    "raw_stock_data",
    metadata,
    Column("ticker", _TICKER, primary_key=True),
    Column("date", Date, primary_key=True),
    Column("open", Double, nullable=False),
    Column("high", Double, nullable=False),
    Column("low", Double, nullable=False),
    Column("close", Double, nullable=False),
    Column("volume", Double, nullable=False),
    Column("source", String(16), nullable=False),
    Column("ingested_at", DateTime(timezone=True), nullable=False),
)

processed_feature_data = Table(
    "processed_feature_data",
    metadata,
    Column("dataset_run_id", _RUN_ID, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("source", String(16), nullable=False),
    Column("target", String(16), nullable=False),
    Column("tickers", JSON, nullable=False),
    Column("feature_columns", JSON, nullable=False),
    Column("params", JSON, nullable=False),
)

scaled_feature_sets = Table(
    "scaled_feature_sets",
    metadata,
    _dataset_fk(),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sequence_length", Integer, nullable=False),
    Column("n_train", Integer, nullable=False),
    Column("n_validation", Integer, nullable=False),
    Column("n_test", Integer, nullable=False),
)

# The arrays of a dataset (processed: dates, features, close, targets; scaled: x_scaled, y_scaled):
# one `.npy` header per array, its raw bytes split into chunks (no size ceiling, bulk-written).
dataset_arrays = Table(
    "dataset_arrays",
    metadata,
    _dataset_fk(),
    Column("name", String(32), primary_key=True),
    Column("npy_header", LargeBinary, nullable=False),
    Column("nbytes", BigInteger, nullable=False),
    Column("n_chunks", Integer, nullable=False),
)

dataset_array_chunks = Table(
    "dataset_array_chunks",
    metadata,
    Column("dataset_run_id", _RUN_ID, primary_key=True),
    Column("name", String(32), primary_key=True),
    Column("chunk", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
    ForeignKeyConstraint(
        ["dataset_run_id", "name"],
        ["dataset_arrays.dataset_run_id", "dataset_arrays.name"],
        ondelete="CASCADE",
    ),
)

scalers = Table(
    "scalers",
    metadata,
    _dataset_fk(),
    Column("x_scaler", JSON, nullable=False),
    Column("y_scaler", JSON, nullable=False),
)

optimization_results = Table(
    "optimization_results",
    metadata,
    _dataset_fk(),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("study_name", String(128), nullable=False),
    Column("best_params", JSON, nullable=False),
    Column("best_value", Double, nullable=False),
    Column("n_complete", Integer, nullable=False),
    Column("n_pruned", Integer, nullable=False),
)


def _prediction_columns() -> list[Column[object]]:
    """A forecast: which model predicted what for which ticker, from which day for which day."""
    return [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("kind", String(8), nullable=False),  # daily | test
        Column("model_run_id", String(64), nullable=False),
        Column("model_version", String(16)),
        Column("ticker", _TICKER, nullable=False),
        Column("as_of_date", Date, nullable=False),
        Column("target_date", Date, nullable=False),
        Column("last_close", Double, nullable=False),
        Column("predicted_close", Double, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        # the distribution around it (NULL: made before intervals existed, or a `test` forecast):
        Column("volatility", Double),  # forecast standard deviation of the next log return
        Column(
            "intervals", JSON(none_as_null=True)
        ),  # {"0.8": [lower close, upper close], ...}: the served intervals
        Column(
            "baseline_volatility", JSON(none_as_null=True)
        ),  # {"ewma": sd, "rolling": sd}: the baselines' forecasts
    ]


latest_predictions = Table(
    "latest_predictions",
    metadata,
    *_prediction_columns(),
    UniqueConstraint("kind", "model_run_id", "ticker", "as_of_date", name="uq_prediction"),
)

#: Daily forecasts replaced by `predict --replace`, kept with when they were replaced.
prediction_history = Table(
    "prediction_history",
    metadata,
    *_prediction_columns(),
    Column("replaced_at", DateTime(timezone=True), nullable=False),
)

model_performance_log = Table(
    "model_performance_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_run_id", String(64), nullable=False),
    Column("ticker", _TICKER, nullable=False),
    Column("as_of_date", Date, nullable=False),
    Column("target_date", Date, nullable=False),
    Column("last_close", Double, nullable=False),
    Column("predicted_close", Double, nullable=False),
    Column("actual_close", Double, nullable=False),
    Column("error", Double, nullable=False),
    Column("pct_error", Double, nullable=False),
    Column("direction_correct", Boolean, nullable=False),
    Column("persistence_error", Double, nullable=False),
    Column("evaluated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("model_run_id", "ticker", "target_date", name="uq_performance"),
)

model_promotions = Table(
    "model_promotions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("model_name", String(128), nullable=False),
    Column("candidate_run_id", String(64)),
    Column("candidate_version", Integer, nullable=False),
    Column("production_version", Integer),
    Column("decision", String(16), nullable=False),  # promoted | rejected | forced
    Column("reason", Text, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("as_of_date", Date),  # the data the decision saw; NULL on rows from before revision 0003
)

monitor_decisions = Table(
    "monitor_decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("as_of_date", Date, nullable=False),
    Column("model_name", String(128), nullable=False),
    Column("model_run_id", String(64)),  # the production model judged; NULL when there was none
    Column("decision", String(24), nullable=False),  # retrain | ok | insufficient_data | suppressed_* | ...
    Column("reason", Text, nullable=False),
    Column("statistics", JSON, nullable=False),
    UniqueConstraint("model_name", "as_of_date", name="uq_monitor_decision"),  # a rerun replaces its day
)

#: Online calibration of the prediction intervals: one multiplier per served model version, ticker
#: and level, updated by the monitor from matured forecasts (`models.intervals.track_quantile`).
interval_calibration = Table(
    "interval_calibration",
    metadata,
    Column("model_name", String(128), primary_key=True),
    Column("model_version", String(16), primary_key=True),
    Column("ticker", _TICKER, primary_key=True),
    Column("level", Double, primary_key=True),
    Column("through_date", Date, primary_key=True),  # the last target day folded in
    Column("multiplier", Double, nullable=False),
    Column("n_updates", Integer, nullable=False),
    Column("recalibrated_on", Date),  # the monitor's last recalibration of this row
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

#: The alerts outbox: what the pipelines report to the webhook, each event delivered once.
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("kind", String(16), nullable=False),  # failure | retrain | promoted | rejected | forced
    Column("text", Text, nullable=False),
    Column("fields", JSON, nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
)

#: The trust root of the registered models: per MLflow run, the manifest of its logged model's files
#: (`registry_manifest.Manifest`) and its digest, written by the stage that logs the model in the same
#: transaction as the rest of what it records; a model loads only when MLflow's copy matches this one.
model_manifests = Table(
    "model_manifests",
    metadata,
    Column("mlflow_run_id", _RUN_ID, primary_key=True),
    Column("model_id", String(64), nullable=False),  # the logged model `m-...`
    Column("manifest_sha256", String(64), nullable=False),
    Column("files", JSON, nullable=False),  # [[relative path, size, sha256], ...] sorted by path
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)
