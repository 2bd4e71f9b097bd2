"""Writes a business event into the outbox, inside the caller's transaction."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert

from save_server.domain.business_events import BusinessEvent
from save_server.infrastructure.db.tables import processed_events
from save_server.infrastructure.outbox.tables import outbox_events

SCHEMA_VERSION = 1
GATEWAY_ONLY = ("station-registry.", "id-tag-registry.")  # registry exchange: never delivered back


def envelope(event: BusinessEvent) -> dict[str, Any]:
    """The business-event envelope (docs/events.md): `received_at` is when the change was
    committed, `principal` who made it."""
    occurred = (event.occurred_at or datetime.now(UTC)).astimezone(UTC)
    return {"event_id": event.event_id, "type": event.type, "schema_version": SCHEMA_VERSION,
            "charging_station_id": event.charging_station_id,
            "received_at": occurred.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "principal": event.principal, "payload": dict(event.payload), **event.extra}


def add_to_outbox(connection: Connection, event: BusinessEvent) -> None:
    """The event in the outbox, and recorded as applied: the change is in this very
    transaction, so the event's own delivery back to save-server (live) is a duplicate, while
    a replay into a wiped database applies it (infrastructure/projections)."""
    body = json.dumps(envelope(event), ensure_ascii=False, separators=(",", ":")).encode()
    now = datetime.now(UTC)
    connection.execute(insert(outbox_events).values(
        event_id=event.event_id, routing_key=event.type, body=body,
        charging_station_id=event.charging_station_id, created_at=now, published_at=None))
    if not event.type.startswith(GATEWAY_ONLY):
        connection.execute(insert(processed_events).values(
            event_id=event.event_id, event_type=event.type[:64], processed_at=now))
