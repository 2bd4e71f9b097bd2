"""The id tag registry's revision and its events' envelope (docs/events.md, "Id tag registry
events"): every change takes the next revision, in the transaction of the change."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from save_server.domain.business_events import BusinessEvent
from save_server.infrastructure.db.committing import next_revision as counter_next
from save_server.infrastructure.id_tags.tables import id_tag_revision

REGISTRY_EVENT = "id-tag-registry."


def registry_event(kind: str, revision: int, payload: dict[str, Any],
                   principal: str | None) -> BusinessEvent:
    return BusinessEvent(f"{REGISTRY_EVENT}{kind}", payload, principal, None,
                         event_id=str(uuid.uuid4()), occurred_at=datetime.now(UTC),
                         extra={"revision": revision})


def next_revision(db: Connection) -> int:
    return counter_next(db, id_tag_revision)


def with_revision(event: BusinessEvent, revision: int) -> BusinessEvent:
    """An audit event (`id-tags.tag-*`) carrying the revision its change took."""
    return replace(event, payload={**event.payload, "revision": revision})
