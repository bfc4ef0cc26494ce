"""The alerts outbox (`events`): recorded by pipeline steps, delivered by the pipelines' exit step."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from stockpredictor.db.schema import events


@dataclass(frozen=True)
class Event:
    """Something an operator is told about: a failure, a retrain decision, a promotion decision."""

    id: int
    created_at: datetime
    kind: str
    text: str
    fields: dict[str, Any]


def record_event(conn: Connection, kind: str, text: str, fields: dict[str, Any]) -> int:
    """Add an undelivered event; returns its id."""
    result = conn.execute(
        insert(events)
        .values(created_at=datetime.now(UTC), kind=kind, text=text, fields=fields)
        .returning(events.c.id)
    )
    return int(result.scalar_one())


def undelivered_events(conn: Connection) -> list[Event]:
    """Undelivered events, oldest first, locked for this transaction (others skip them on PostgreSQL)."""
    query = select(events).where(events.c.delivered_at.is_(None)).order_by(events.c.id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [
        Event(row.id, row.created_at, row.kind, row.text, dict(row.fields)) for row in conn.execute(query)
    ]


def mark_delivered(conn: Connection, event_id: int) -> None:
    """Record that the event was delivered (it is never sent again)."""
    conn.execute(update(events).where(events.c.id == event_id).values(delivered_at=datetime.now(UTC)))


def all_events(conn: Connection) -> list[Event]:
    """Every event, delivered or not, oldest first."""
    rows = conn.execute(select(events).order_by(events.c.id))
    return [Event(row.id, row.created_at, row.kind, row.text, dict(row.fields)) for row in rows]
