"""The promotion decision log (`model_promotions`): every gate decision with the numbers behind it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from stockpredictor.db.schema import model_promotions


@dataclass(frozen=True)
class PromotionRecord:
    """One decision about a candidate model version (`decision`: promoted | rejected | forced)."""

    created_at: datetime
    model_name: str
    candidate_run_id: str | None
    candidate_version: int
    production_version: int | None
    decision: str
    reason: str
    metrics: dict[str, Any]


def record_promotion(conn: Connection, record: PromotionRecord) -> None:
    """Append `record` to the decision log."""
    conn.execute(insert(model_promotions).values(**dataclasses.asdict(record)))


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
        )
        for r in rows
    ]
