"""Best hyperparameters per dataset (`optimization_results`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from stockpredictor.db.schema import optimization_results


@dataclass(frozen=True)
class OptimizationRecord:
    """The outcome of a hyperparameter search on one dataset."""

    dataset_run_id: str
    study_name: str
    best_params: dict[str, Any]
    best_value: float
    n_complete: int
    n_pruned: int


def save_optimization(conn: Connection, record: OptimizationRecord) -> None:
    """Store `record`, replacing an earlier result for the same dataset (call inside a transaction)."""
    table = optimization_results
    conn.execute(delete(table).where(table.c.dataset_run_id == record.dataset_run_id))
    conn.execute(insert(table).values(created_at=datetime.now(UTC), **dataclasses.asdict(record)))


def load_optimization(conn: Connection, dataset_run_id: str) -> OptimizationRecord | None:
    """The stored search result for `dataset_run_id`, or None when none was run."""
    row = conn.execute(
        select(optimization_results).where(optimization_results.c.dataset_run_id == dataset_run_id)
    ).one_or_none()
    if row is None:
        return None
    return OptimizationRecord(
        row.dataset_run_id,
        row.study_name,
        dict(row.best_params),
        row.best_value,
        row.n_complete,
        row.n_pruned,
    )


def previous_optimization(conn: Connection, dataset_run_id: str) -> OptimizationRecord | None:
    """The most recently stored search result of another dataset than `dataset_run_id`, or None."""
    table = optimization_results
    row = conn.execute(
        select(table.c.dataset_run_id)
        .where(table.c.dataset_run_id != dataset_run_id)
        .order_by(table.c.created_at.desc(), table.c.dataset_run_id.desc())  # ids sort by creation
        .limit(1)
    ).one_or_none()
    return None if row is None else load_optimization(conn, row.dataset_run_id)
