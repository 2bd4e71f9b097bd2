"""Query use cases: pages of events with a keyset cursor."""

from __future__ import annotations

from dataclasses import dataclass, replace

from event_store.domain.events import StoredEvent
from event_store.domain.ports import EventStorage
from event_store.domain.queries import Cursor, EventQuery


@dataclass(frozen=True)
class EventPage:
    events: list[StoredEvent]
    next_cursor: Cursor | None


def list_events(storage: EventStorage, query: EventQuery) -> EventPage:
    """One page, oldest first; `next_cursor` is set only when more events follow."""
    events = storage.find(replace(query, limit=query.limit + 1))
    if len(events) > query.limit:
        events = events[: query.limit]
        return EventPage(events, Cursor.after_event(events[-1]))
    return EventPage(events, None)
