"""Operator actions on the store itself (replays) kept as events in the store."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from event_store.domain.events import StoredEvent, format_date
from event_store.domain.ports import EventStorage


def record(storage: EventStorage, event_type: str, principal: str,
           payload: dict[str, Any]) -> StoredEvent:
    """Store an `event-store.*` event (docs/events.md, business events) and return it."""
    now = datetime.now(UTC)
    envelope = {"event_id": str(uuid.uuid4()), "type": event_type, "schema_version": 1,
                "charging_station_id": None, "received_at": format_date(now),
                "principal": principal, "payload": payload}
    event = StoredEvent(envelope["event_id"], event_type, now, None, envelope,
                        json.dumps(envelope, separators=(",", ":")).encode())
    storage.save_many([event])
    return event
