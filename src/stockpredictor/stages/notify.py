"""Alerts: pipeline steps record events; the pipelines' exit step delivers them to a webhook once.

An event is a failure of a pipeline run, a retrain decision, or a promotion decision. The exit step
(`dsl.ExitHandler` in both pipelines) records the run's failure, if any, then posts every undelivered
event, oldest first, as a Slack-compatible JSON message (`text`, plus the same facts as attachment
fields and under `stockpredictor`) to `STOCKPREDICTOR_ALERT_WEBHOOK_URL`. Each event is marked
delivered in the transaction that posted it, so it is sent once; a webhook that does not answer
leaves it (and the later ones) for the next run. Without a URL the messages are only logged.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from stockpredictor.config import Settings
from stockpredictor.db.engine import write_transaction
from stockpredictor.db.events import Event, mark_delivered, record_event, undelivered_events

log = logging.getLogger(__name__)

FAILURE, RETRAIN = "failure", "retrain"
SUCCEEDED = "SUCCEEDED"
WEBHOOK_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class NotifyResult:
    """How many events were delivered and how many are left for the next run."""

    delivered: int
    undelivered: int


def record_alert(engine: Engine, kind: str, text: str, **fields: Any) -> None:
    """Record an event for the exit step to deliver."""
    with write_transaction(engine) as conn:
        record_event(conn, kind, text, fields)


def notify(engine: Engine, settings: Settings, pipeline: str, state: str, error: str = "") -> NotifyResult:
    """Record the run's failure (any `state` but SUCCEEDED), then deliver every undelivered event."""
    if state != SUCCEEDED:
        record_alert(engine, FAILURE, f"{pipeline} failed: {error or state}", pipeline=pipeline, state=state)
    delivered = 0
    while True:
        with write_transaction(engine) as conn:
            pending = undelivered_events(conn)
            if not pending:
                return NotifyResult(delivered, 0)
            if not deliver(settings.alert_webhook_url, pending[0]):
                return NotifyResult(delivered, len(pending))
            mark_delivered(conn, pending[0].id)
        delivered += 1


def deliver(url: str | None, event: Event) -> bool:
    """Post `event` to `url` (None: log it only); False, with one warning line, when the webhook fails."""
    if url is None:
        log.info("alert (no webhook configured): %s", event.text)
        return True
    request = urllib.request.Request(
        url,
        data=json.dumps(slack_message(event)).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            response.read()
    except (urllib.error.URLError, OSError) as exc:
        log.warning("alert webhook failed (%s); %s stays undelivered for the next run", exc, event.kind)
        return False
    return True


def slack_message(event: Event) -> dict[str, Any]:
    """A Slack-compatible message: `text`, the facts as attachment fields and as one JSON object."""
    facts = {"event": event.kind, "id": event.id, "created_at": event.created_at.isoformat(), **event.fields}
    return {
        "text": f"stockpredictor {event.kind}: {event.text}",
        "attachments": [
            {"fields": [{"title": key, "value": str(value), "short": True} for key, value in facts.items()]}
        ],
        "stockpredictor": facts,
    }
