"""Ingestion: take a batch from the queue, write it once, then acknowledge it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import structlog

from event_store import metrics
from event_store.domain.events import InvalidEvent, StoredEvent, parse_event
from event_store.domain.ports import Delivery, EventFeed, EventStorage

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


@dataclass(frozen=True)
class WrittenBatch:
    """What `write_batch` did: events stored (new), events written, poison messages."""

    stored: int
    written: int
    poison: list[tuple[Delivery, str]]


def write_batch(storage: EventStorage, batch: list[Delivery]) -> WrittenBatch:
    """Parse and write the valid events in one call; touches no feed (any thread may run it)."""
    events: list[StoredEvent] = []
    poison: list[tuple[Delivery, str]] = []
    for delivery in batch:
        try:
            events.append(parse_event(delivery.body))
        except InvalidEvent as error:
            poison.append((delivery, str(error)))
    with metrics.BATCH_SECONDS.time():
        stored = storage.save_many(events)
    return WrittenBatch(stored, len(events), poison)


def settle_batch(feed: EventFeed, batch: list[Delivery], write: Callable[[], WrittenBatch],
                 ) -> BatchResult:
    """Acknowledge a batch once `write()` returned; requeue it all if the write failed."""
    try:
        written = write()
    except Exception as error:
        feed.requeue(batch)
        raise BatchWriteFailed(f"{type(error).__name__}: {error}") from error
    for delivery, error in written.poison:
        log.warning("event_store.poison_message", error=error, routing_key=delivery.routing_key,
                    charging_station_id=(delivery.headers or {}).get("charging_station_id"))
        feed.dead_letter(delivery, error)
    feed.ack(batch)
    metrics.EVENTS_STORED.inc(written.stored)
    metrics.EVENTS_DUPLICATE.inc(written.written - written.stored)
    metrics.EVENTS_DEAD_LETTERED.inc(len(written.poison))
    return BatchResult(len(batch), written.stored, len(written.poison))


def store_batch(feed: EventFeed, storage: EventStorage, batch: list[Delivery]) -> BatchResult:
    """Parse, write the valid events in one call, dead-letter poison messages, ack the batch.

    A storage failure requeues the whole batch (nothing is acknowledged)."""
    return settle_batch(feed, batch, lambda: write_batch(storage, batch))


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
        """Pipelined: while one batch is written (in a writer thread; SQLite releases the GIL
        while it works), the next is fetched; a batch is acknowledged from this thread after
        its write, as in `run_once`. With a write in flight the fetch does not wait for an
        idle queue, so a quiet queue never delays an acknowledgement."""
        log.info("event_store.worker_started")
        policy = self._policy
        in_flight: tuple[list[Delivery], Future[WrittenBatch]] | None = None
        with ThreadPoolExecutor(1, thread_name_prefix="event-store-write") as writer:
            while not stop.is_set():
                idle_wait = 0.0 if in_flight is not None else policy.idle_wait
                batch = self._feed.fetch_batch(policy.max_messages, policy.max_wait, idle_wait)
                if in_flight is not None:
                    self._settle(*in_flight, stop)
                    in_flight = None
                if batch:
                    in_flight = (batch, writer.submit(write_batch, self._storage, batch))
            if in_flight is not None:
                self._settle(*in_flight, stop)
        log.info("event_store.worker_stopped")

    def _settle(self, batch: list[Delivery], written: Future[WrittenBatch],
                stop: threading.Event) -> None:
        try:
            settle_batch(self._feed, batch, written.result)
        except BatchWriteFailed as error:
            log.error("event_store.batch_write_failed", error=str(error))
            stop.wait(self._policy.retry_delay)
