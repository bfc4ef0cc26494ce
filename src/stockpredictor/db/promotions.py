"""The promotion decision log (`model_promotions`): every gate decision with the numbers behind it."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from stockpredictor.db.schema import model_promotions


@dataclass(frozen=True)
class PromotionRecord:
    """One decision about a candidate model version (`decision`: promoted | rejected | forced).

    `as_of_date` is the last day of data the decision saw (None on rows from before it was stored).
    """

    created_at: datetime
    model_name: str
    candidate_run_id: str | None
    candidate_version: int
    production_version: int | None
    decision: str
    reason: str
    metrics: dict[str, Any]
    as_of_date: date | None = None


PROMOTED, REJECTED = "promoted", "rejected"
GATE_DECISIONS = (PROMOTED, REJECTED)  # a gate decision follows a training; `forced` is a rollback


def record_promotion(conn: Connection, record: PromotionRecord) -> None:
    """Append `record` to the decision log."""
    row = dataclasses.asdict(record)
    row["metrics"] = _finite(record.metrics)
    conn.execute(insert(model_promotions).values(**row))


def _finite(value: Any) -> Any:
    """`value` with every float that is not finite (a "no call" accuracy, an infinite ratio) as None:
    JSON on PostgreSQL takes no NaN."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def promotion_log(conn: Connection, model_name: str) -> list[PromotionRecord]:
    """Every decision about `model_name`, oldest first."""
    rows = conn.execute(
        select(model_promotions)
        .where(model_promotions.c.model_name == model_name)
        .order_by(model_promotions.c.id)
    ).all()
    return [
        PromotionRecord(
            r.created_at,
            r.model_name,
            r.candidate_run_id,
            r.candidate_version,
            r.production_version,
            r.decision,
            r.reason,
            dict(r.metrics),
            r.as_of_date,
        )
        for r in rows
    ]


def trainings(conn: Connection, model_name: str) -> list[PromotionRecord]:
    """The gate decisions about `model_name` (one per training of a candidate), oldest first."""
    return [r for r in promotion_log(conn, model_name) if r.decision in GATE_DECISIONS]
