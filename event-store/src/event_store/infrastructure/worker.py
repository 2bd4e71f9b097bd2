"""The consumer: take a batch from the queue, write it once, then acknowledge it; the probe
the worker's /health and /ready read."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from event_store import metrics
from event_store.domain.events import InvalidEvent, StoredEvent, parse_event
from event_store.domain.ports import Delivery, EventFeed, EventStorage
from event_store.infrastructure.probes import Heartbeat

log = structlog.get_logger(__name__)


class BatchWriteFailed(RuntimeError):
    """The storage refused a batch; it was given back to the queue unacknowledged."""


@dataclass(frozen=True)
class BatchResult:
    received: int
    stored: int
    dead_lettered: int


@dataclass(frozen=True)
class BatchPolicy:
    """Up to `max_messages` per write, or what arrived `max_wait` s after the first one."""

    max_messages: int = 500
    max_wait: float = 0.2
    idle_wait: float = 0.5
    retry_delay: float = 1.0


def store_batch(feed: EventFeed, storage: EventStorage, batch: list[Delivery]) -> BatchResult:
    """Parse, write the valid events in one call, dead-letter poison messages, ack the batch.

    A storage failure requeues the whole batch (nothing is acknowledged)."""
    events: list[StoredEvent] = []
    poison: list[tuple[Delivery, str]] = []
    for delivery in batch:
        try:
            events.append(parse_event(delivery.body))
        except InvalidEvent as error:
            poison.append((delivery, str(error)))
    try:
        with metrics.BATCH_SECONDS.time():
            stored = storage.save_many(events)
    except Exception as error:
        feed.requeue(batch)
        raise BatchWriteFailed(f"{type(error).__name__}: {error}") from error
    for delivery, error in poison:
        log.warning("event_store.poison_message", error=error, routing_key=delivery.routing_key,
                    charging_station_id=(delivery.headers or {}).get("charging_station_id"))
        feed.dead_letter(delivery, error)
    feed.ack(batch)
    written = datetime.now(UTC)
    for event in events:
        metrics.EVENT_LAG_SECONDS.observe(max(0.0, (written - event.date).total_seconds()))
    metrics.EVENTS_STORED.inc(stored)
    metrics.EVENTS_DUPLICATE.inc(len(events) - stored)
    metrics.EVENTS_DEAD_LETTERED.inc(len(poison))
    return BatchResult(len(batch), stored, len(poison))


class IngestWorker:
    """Consumes the store's queue until `stop` is set; batched writes, ack after write.

    A failed write is retried after `retry_delay`; a broken feed ends `run` with its error
    (the caller reconnects)."""

    def __init__(self, feed: EventFeed, storage: EventStorage,
                 policy: BatchPolicy | None = None) -> None:
        self._feed = feed
        self._storage = storage
        self._policy = policy or BatchPolicy()

    def run_once(self) -> BatchResult | None:
        policy = self._policy
        batch = self._feed.fetch_batch(policy.max_messages, policy.max_wait, policy.idle_wait)
        if not batch:
            return None
        return store_batch(self._feed, self._storage, batch)

    def run(self, stop: threading.Event) -> None:
        log.info("event_store.worker_started")
        while not stop.is_set():
            try:
                self.run_once()
            except BatchWriteFailed as error:
                log.error("event_store.batch_write_failed", error=str(error))
                stop.wait(self._policy.retry_delay)
        log.info("event_store.worker_stopped")


class WorkerProbe:
    """What the worker's /health and /ready report: the fetch loop's heartbeat and whether
    it holds an open feed."""

    def __init__(self) -> None:
        self.heartbeat, self.connected = Heartbeat(), False

    def watch(self, feed: EventFeed) -> EventFeed:
        return _BeatingFeed(feed, self.heartbeat)


class _BeatingFeed(EventFeed):
    """The feed, beating the heartbeat on every fetch (the worker's loop goes through it)."""

    def __init__(self, feed: EventFeed, heartbeat: Heartbeat) -> None:
        self._feed, self._heartbeat = feed, heartbeat

    def fetch_batch(self, max_messages: int, max_wait: float, idle_wait: float) -> list[Delivery]:
        self._heartbeat.beat()
        return self._feed.fetch_batch(max_messages, max_wait, idle_wait)

    def ack(self, deliveries: Any) -> None:
        self._feed.ack(deliveries)

    def requeue(self, deliveries: Any) -> None:
        self._feed.requeue(deliveries)

    def dead_letter(self, delivery: Delivery, error: str) -> None:
        self._feed.dead_letter(delivery, error)

    def close(self) -> None:
        self._feed.close()
