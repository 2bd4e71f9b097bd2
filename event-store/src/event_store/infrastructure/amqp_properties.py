"""AMQP message properties of an event, as the contract sets them (docs/events.md)."""

from __future__ import annotations

from typing import Any

from event_store.domain.events import StoredEvent


def message_properties(event: StoredEvent) -> dict[str, Any]:
    return {
        "content_type": "application/json",
        "delivery_mode": 2,
        "message_id": event.event_id,
        "timestamp": int(event.date.timestamp()),
    }
