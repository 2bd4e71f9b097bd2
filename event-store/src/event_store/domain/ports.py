"""Ports: what the services need from the outside world, as small abstract classes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from event_store.domain.events import StoredEvent
from event_store.domain.queries import EventQuery, EventStats


class EventStorage(ABC):
    """Where events are kept. Implementations must be safe to call from several threads."""

    @abstractmethod
    def save_many(self, events: Sequence[StoredEvent]) -> int:
        """Store the events; an `event_id` already stored is skipped silently (idempotent).

        Returns how many events were new. Raises on a storage failure (nothing acknowledged)."""

    @abstractmethod
    def get(self, event_id: str) -> StoredEvent | None:
        """The event with this id, or None."""

    @abstractmethod
    def find(self, query: EventQuery) -> list[StoredEvent]:
        """At most `query.limit` events matching the filters, oldest first, after the cursor."""

    @abstractmethod
    def stats(self, start_date: datetime | None, end_date: datetime | None) -> EventStats:
        """Counts per type and per UTC day for the (inclusive) date range."""

    @abstractmethod
    def delete_older_than(self, cutoff: datetime) -> int:
        """Retention: delete the expiring events (`events.expires`: the stations' traffic)
        dated before `cutoff`; returns how many were deleted."""

    @abstractmethod
    def ping(self) -> None:
        """Raise if the storage cannot be reached (readiness)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""


@dataclass(frozen=True)
class Delivery:
    """One message taken from the store's queue, not yet acknowledged."""

    body: bytes
    routing_key: str
    tag: Any
    redelivered: bool = False
    headers: dict[str, Any] | None = None


class EventFeed(ABC):
    """The store's inbound queue (RabbitMQ or the embedded broker). Used from one thread."""

    @abstractmethod
    def fetch_batch(self, max_messages: int, max_wait: float, idle_wait: float) -> list[Delivery]:
        """Wait up to `idle_wait` s for a first message, then collect more for `max_wait` s."""

    @abstractmethod
    def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Acknowledge the whole batch (after it was written)."""

    @abstractmethod
    def requeue(self, deliveries: Sequence[Delivery]) -> None:
        """Give the batch back to the queue (a write failed)."""

    @abstractmethod
    def dead_letter(self, delivery: Delivery, error: str) -> None:
        """Copy a poison message to the dead-letter queue with the error; it is acked with
        the rest of its batch."""

    @abstractmethod
    def close(self) -> None: ...


TARGET_ALL = "all"

ReplayPage = Sequence[tuple[StoredEvent, dict[str, Any]]]
"""Events of one replay page, oldest first, each with the headers to send it with."""


class ReplayPublisher(ABC):
    """Sends replayed events; one instance per replay job (its own connection)."""

    @abstractmethod
    def send(self, target: str, pages: Iterable[ReplayPage],
             on_sent: Callable[[int], None]) -> None:
        """Publish every event of every page, in order, with its original routing key.

        `target` `TARGET_ALL`: to the events exchange. Otherwise, when the broker has an
        exchange named `target` (a sharded consumer: its queues are bound to that exchange),
        to that exchange; else straight into the queue named `target`. Calls `on_sent(n)`
        whenever the broker has taken n more events and returns once it has them all. Raises
        LookupError when the target does not exist or an event could not be routed, and
        whatever the broker connection raises on any other failure."""

    @abstractmethod
    def close(self) -> None: ...
