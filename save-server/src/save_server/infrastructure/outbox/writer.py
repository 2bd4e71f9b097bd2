"""Writes a business event into the outbox, inside the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
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
    add_all_to_outbox(connection, [event])


def add_all_to_outbox(connection: Connection, events: Sequence[BusinessEvent]) -> None:
    """`add_to_outbox` for many, in order, as one multi-row statement per table (hundreds of
    events a second from the batched writers: one statement each cost more than the rest)."""
    if not events:
        return
    now = datetime.now(UTC)
    connection.execute(insert(outbox_events), [
        {"event_id": e.event_id, "routing_key": e.type, "charging_station_id":
         e.charging_station_id, "created_at": now, "published_at": None,
         "body": json.dumps(envelope(e), ensure_ascii=False, separators=(",", ":")).encode()}
        for e in events])
    applied = [{"event_id": e.event_id, "event_type": e.type[:64], "processed_at": now}
               for e in events if not e.type.startswith(GATEWAY_ONLY)]
    if applied:
        connection.execute(insert(processed_events), applied)
