"""Versioned feature datasets: `processed_feature_data`, `scaled_feature_sets`, `scalers`."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, func, insert, select

from stockpredictor.db.arrays import delete_arrays, read_arrays, stored_nbytes, write_arrays
from stockpredictor.db.schema import processed_feature_data, scaled_feature_sets, scalers
from stockpredictor.errors import DatasetNotFoundError
from stockpredictor.features.panel import Panel
from stockpredictor.features.scaling import MinMaxScaler
from stockpredictor.features.sequences import ScaledDataset, Split

PANEL_ARRAYS = ("dates", "features", "close", "targets")
SCALED_ARRAYS = ("x_scaled", "y_scaled")


@dataclass(frozen=True)
class ProcessedDataset:
    """A stored feature panel and how it was made."""

    dataset_run_id: str
    as_of: date
    source: str
    target: str
    params: dict[str, Any]
    panel: Panel


def new_dataset_run_id() -> str:
    """A unique, time-sortable id such as `20261127T153000_4f9a1c`."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}_{secrets.token_hex(3)}"


def newest_dataset_as_of(conn: Connection) -> date | None:
    """The latest as-of day any stored dataset was built on (None: no dataset yet)."""
    newest: date | None = conn.execute(select(func.max(processed_feature_data.c.as_of))).scalar()
    return newest


def save_processed(
    conn: Connection,
    dataset_run_id: str,
    panel: Panel,
    *,
    as_of: date,
    source: str,
    target: str,
    params: dict[str, Any],
) -> None:
    """Insert a new processed dataset (its id must be new) with its arrays, in the caller's transaction."""
    conn.execute(
        insert(processed_feature_data).values(
            dataset_run_id=dataset_run_id,
            created_at=datetime.now(UTC),
            as_of=as_of,
            source=source,
            target=target,
            tickers=list(panel.tickers),
            feature_columns=list(panel.feature_columns),
            params=params,
        )
    )
    write_arrays(conn, dataset_run_id, {name: getattr(panel, name) for name in PANEL_ARRAYS})


def load_processed(conn: Connection, dataset_run_id: str) -> ProcessedDataset:
    """The processed dataset `dataset_run_id`, or DatasetNotFoundError naming it."""
    row = conn.execute(
        select(processed_feature_data).where(processed_feature_data.c.dataset_run_id == dataset_run_id)
    ).one_or_none()
    if row is None:
        raise _no_processed(dataset_run_id)
    panel = Panel(
        tickers=tuple(row.tickers),
        feature_columns=tuple(row.feature_columns),
        **read_arrays(conn, dataset_run_id, PANEL_ARRAYS),
    )
    return ProcessedDataset(dataset_run_id, row.as_of, row.source, row.target, dict(row.params), panel)


def dataset_tickers(conn: Connection, dataset_run_id: str) -> tuple[str, ...]:
    """The tickers of processed dataset `dataset_run_id` (its arrays are not read)."""
    tickers = conn.execute(
        select(processed_feature_data.c.tickers).where(
            processed_feature_data.c.dataset_run_id == dataset_run_id
        )
    ).scalar_one_or_none()
    if tickers is None:
        raise _no_processed(dataset_run_id)
    return tuple(tickers)


def _no_processed(dataset_run_id: str) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"no processed dataset with dataset run id {dataset_run_id!r} (run `process` first)"
    )


def save_scaled(conn: Connection, dataset_run_id: str, dataset: ScaledDataset) -> None:
    """Store the scaled panel and its scalers under `dataset_run_id`, replacing an earlier scaling of it."""
    conn.execute(scaled_feature_sets.delete().where(scaled_feature_sets.c.dataset_run_id == dataset_run_id))
    conn.execute(scalers.delete().where(scalers.c.dataset_run_id == dataset_run_id))
    delete_arrays(conn, dataset_run_id, SCALED_ARRAYS)
    conn.execute(
        insert(scaled_feature_sets).values(
            dataset_run_id=dataset_run_id,
            created_at=datetime.now(UTC),
            sequence_length=dataset.sequence_length,
            n_train=dataset.split.train,
            n_validation=dataset.split.validation,
            n_test=dataset.split.test,
        )
    )
    write_arrays(conn, dataset_run_id, {name: getattr(dataset, name) for name in SCALED_ARRAYS})
    conn.execute(
        insert(scalers).values(
            dataset_run_id=dataset_run_id,
            x_scaler=dataset.x_scaler.to_json(),
            y_scaler=dataset.y_scaler.to_json(),
        )
    )


def stored_scaling(
    conn: Connection, dataset_run_id: str
) -> tuple[int, Split, dict[str, Any], dict[str, Any]] | None:
    """(sequence length, split, x scaler JSON, y scaler JSON) of the stored scaling, if any."""
    row = conn.execute(
        select(
            scaled_feature_sets.c.sequence_length,
            scaled_feature_sets.c.n_train,
            scaled_feature_sets.c.n_validation,
            scaled_feature_sets.c.n_test,
            scalers.c.x_scaler,
            scalers.c.y_scaler,
        )
        .join(scalers, scalers.c.dataset_run_id == scaled_feature_sets.c.dataset_run_id)
        .where(scaled_feature_sets.c.dataset_run_id == dataset_run_id)
    ).one_or_none()
    if row is None:
        return None
    return row.sequence_length, Split(row.n_train, row.n_validation, row.n_test), row.x_scaler, row.y_scaler


def load_scalers(conn: Connection, dataset_run_id: str) -> tuple[MinMaxScaler, MinMaxScaler]:
    """The (x, y) scalers fitted for `dataset_run_id`."""
    row = conn.execute(select(scalers).where(scalers.c.dataset_run_id == dataset_run_id)).one_or_none()
    if row is None:
        raise DatasetNotFoundError(
            f"no scalers stored for dataset run id {dataset_run_id!r} (run `scale` first)"
        )
    return MinMaxScaler.from_json(row.x_scaler), MinMaxScaler.from_json(row.y_scaler)


def load_scaled(conn: Connection, dataset_run_id: str) -> ScaledDataset:
    """The scaled dataset `dataset_run_id` with its scalers."""
    row = conn.execute(
        select(scaled_feature_sets).where(scaled_feature_sets.c.dataset_run_id == dataset_run_id)
    ).one_or_none()
    if row is None:
        raise DatasetNotFoundError(
            f"no scaled dataset with dataset run id {dataset_run_id!r} (run `scale` first)"
        )
    x_scaler, y_scaler = load_scalers(conn, dataset_run_id)
    return ScaledDataset(
        **read_arrays(conn, dataset_run_id, SCALED_ARRAYS),
        sequence_length=row.sequence_length,
        split=Split(row.n_train, row.n_validation, row.n_test),
        x_scaler=x_scaler,
        y_scaler=y_scaler,
    )


def scaled_nbytes(dataset: ScaledDataset) -> int:
    """Bytes the scaled dataset's arrays occupy in the store."""
    return sum(stored_nbytes(getattr(dataset, name)) for name in SCALED_ARRAYS)


def as_numpy_dates(values: np.ndarray) -> list[date]:
    """Panel dates (datetime64[D]) as `datetime.date` objects."""
    return [d.item() for d in values.astype("datetime64[D]")]
