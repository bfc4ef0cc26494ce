"""The monitor's decision log (`monitor_decisions`): every decision with its reason and statistics."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, delete, insert, select

from stockpredictor.db.schema import monitor_decisions


@dataclass(frozen=True)
class MonitorDecisionRecord:
    """One decision of the monitor about the production model (`model_run_id` None: there was none).

    `statistics` holds the window's metrics and test results; a value that is not finite (a test that
    could not run, an infinite ratio) is stored as None, which JSON on PostgreSQL requires.
    """

    created_at: datetime
    as_of_date: date
    model_name: str
    model_run_id: str | None
    decision: str
    reason: str
    statistics: dict[str, float | None]


def record_decision(conn: Connection, record: MonitorDecisionRecord) -> None:
    """Store `record`, replacing the decision of a previous run for the same model and as-of day."""
    row = dataclasses.asdict(record)
    row["statistics"] = {
        key: value if value is not None and math.isfinite(value) else None
        for key, value in record.statistics.items()
    }
    table = monitor_decisions
    conn.execute(
        delete(table).where(table.c.model_name == record.model_name, table.c.as_of_date == record.as_of_date)
    )
    conn.execute(insert(table).values(**row))


def decision_log(
    conn: Connection,
    model_name: str,
    start: date | None = None,
    end: date | None = None,
    limit: int | None = None,
) -> list[MonitorDecisionRecord]:
    """The decisions about `model_name` with start <= as-of day <= end, newest first (at most `limit`)."""
    table = monitor_decisions
    query = select(table).where(table.c.model_name == model_name)
    if start is not None:
        query = query.where(table.c.as_of_date >= start)
    if end is not None:
        query = query.where(table.c.as_of_date <= end)
    rows = conn.execute(query.order_by(table.c.as_of_date.desc()).limit(limit)).all()
    return [
        MonitorDecisionRecord(
            r.created_at, r.as_of_date, r.model_name, r.model_run_id, r.decision, r.reason, dict(r.statistics)
        )
        for r in rows
    ]
