"""The consumer: event stream → translation → idempotent ingest → acknowledgement."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from sqlalchemy.exc import DataError, SQLAlchemyError

from save_server.domain.ports import Delivery, EventStream, UnitOfWork
from save_server.infrastructure import metrics
from save_server.infrastructure.messaging.attempts import Attempts, describe, transient
from save_server.infrastructure.probes import Heartbeat
from save_server.infrastructure.translation import (
    PoisonMessage,
    handles,
    parse_envelope,
    translate,
)
from save_server.service.ingest import IncomingEvent, ingest_events

log = structlog.get_logger("save_server.worker")


class Backoff:
    """Exponential wait after consecutive transient failures, reset by a success."""

    def __init__(self, first: float = 0.1, maximum: float = 10.0) -> None:
        self.first, self.maximum, self.failures = first, maximum, 0

    def next_delay(self) -> float:
        self.failures += 1
        return min(self.maximum, self.first * 2 ** (self.failures - 1))

    def reset(self) -> None:
        self.failures = 0


class RedeliverInOrder(Exception):
    """A transient failure in ordered mode: the worker closes its stream instead of requeueing
    one event, so the broker puts back every unacknowledged event of the queue in order."""


class EventWorker:
    """Takes up to `batch_size` ready events at a time and commits them together; a failing
    batch is retried event by event, so one bad event never holds the others back.

    `ordered` (sharded queues): events are handled in queue order, and a transient failure
    hands every unacknowledged event back in order (the stream is closed and opened again)
    instead of requeueing that one event behind later ones."""

    def __init__(self, stream_factory: Callable[[], EventStream],
                 uow_factory: Callable[[], UnitOfWork], backoff: Backoff | None = None,
                 poll_seconds: float = 0.5, batch_size: int = 50, ordered: bool = False,
                 heartbeat: Heartbeat | None = None, attempts: Attempts | None = None
                 ) -> None:
        self._stream_factory = stream_factory
        self._attempts = attempts or Attempts("save-server worker")
        self._uow_factory = uow_factory
        self._backoff = backoff or Backoff()
        self._poll_seconds = poll_seconds
        self._batch_size = batch_size
        self._ordered = ordered
        self.heartbeat = heartbeat or Heartbeat()
        self.connected = False  # holds an open stream (readiness)

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set; reconnects with backoff when the broker goes away."""
        while not stop.is_set():
            self.heartbeat.beat()
            try:
                stream = self._stream_factory()
            except Exception as error:  # broker unreachable: wait and retry
                log.warning("event stream unavailable", error=str(error))
                stop.wait(self._backoff.next_delay())
                continue
            self.connected, delay = True, 0.0
            try:
                self.consume(stream, stop)
            except RedeliverInOrder as error:
                log.warning("stream reopened to redeliver in order", error=str(error.__cause__))
                delay = self._backoff.next_delay()
            except Exception as error:
                log.warning("event stream lost", error=str(error))
                delay = self._backoff.next_delay()
            finally:
                self.connected = False
                _close(stream)  # first: the other workers can take the events over meanwhile
            if delay:
                stop.wait(delay)

    def consume(self, stream: EventStream, stop: threading.Event) -> None:
        while not stop.is_set():
            self.heartbeat.beat()
            delivery = stream.receive(self._poll_seconds)
            if delivery is None:
                continue
            batch = [delivery]
            while len(batch) < self._batch_size and (more := stream.receive(0)) is not None:
                batch.append(more)
            self.handle_batch(stream, batch, stop)

    def handle(self, stream: EventStream, delivery: Delivery, stop: threading.Event) -> None:
        self.handle_batch(stream, [delivery], stop)

    def handle_batch(self, stream: EventStream, deliveries: list[Delivery],
                     stop: threading.Event) -> None:
        """Ack only after commit; requeue transient failures; dead-letter poison."""
        started = time.perf_counter()
        parsed: list[tuple[Delivery, IncomingEvent]] = []
        received: dict[str, datetime] = {}
        for delivery in deliveries:
            try:
                event = parse_envelope(delivery.body)
                if not handles(event.type):
                    self._ignored(stream, delivery, event.type)
                    continue
                parsed.append((delivery, IncomingEvent(str(event.event_id), event.type,
                                                       translate(event))))
                received[str(event.event_id)] = event.received_at
            except PoisonMessage as poison:
                if poison.event_type is not None and not handles(poison.event_type):
                    # another family's envelope (business, registry, security events that a
                    # replay to the queue brings): not ours to judge
                    self._ignored(stream, delivery, poison.event_type)
                    continue
                self._dead_letter(stream, delivery, poison.reason, poison.event_id)
        if not parsed:
            return
        try:
            applied = ingest_events(self._uow_factory, [event for _, event in parsed])
        except Exception as error:
            if len(parsed) == 1:
                self._failed(stream, *parsed[0], stop, error)
                return
            for delivery, event in parsed:
                self._one(stream, delivery, event, stop, started)
            _observe_lag(received)
            return
        self._acked(stream, parsed, applied, started)
        _observe_lag(received)

    def _acked(self, stream: EventStream, parsed: list[tuple[Delivery, IncomingEvent]],
                     applied: list[bool], started: float) -> None:
        """Ack the events of a committed batch (or of one event), the counters added up per
        type."""
        counts: Counter[tuple[str, bool]] = Counter()
        for (delivery, event), was_applied in zip(parsed, applied, strict=True):
            stream.ack(delivery)
            self._attempts.forget(event.event_id)
            counts[(event.event_type, was_applied)] += 1
            log.debug("event handled", event_id=event.event_id, type=event.event_type,
                      duplicate=not was_applied)
        self._backoff.reset()
        for (event_type, was_applied), count in counts.items():
            (metrics.EVENTS_PROCESSED if was_applied else metrics.EVENTS_DUPLICATE).labels(
                type=event_type).inc(count)
        elapsed = time.perf_counter() - started
        for _ in parsed:
            metrics.CONSUME_SECONDS.observe(elapsed)

    def _ignored(self, stream: EventStream, delivery: Delivery, event_type: str) -> None:
        """A type outside the queue's bindings (a replay sent to the queue brings every type):
        acknowledged with no transaction and no processed-event record, as if never sent."""
        stream.ack(delivery)
        # the family, not the type: a label read from a body must stay a short, small set
        metrics.EVENTS_IGNORED.labels(family=event_type.split(".", 1)[0][:32]).inc()

    def _one(self, stream: EventStream, delivery: Delivery, event: IncomingEvent,
             stop: threading.Event, started: float) -> None:
        try:
            [applied] = ingest_events(self._uow_factory, [event])
        except Exception as error:
            self._failed(stream, delivery, event, stop, error)
            return
        self._acked(stream, [(delivery, event)], [applied], started)

    def _failed(self, stream: EventStream, delivery: Delivery, event: IncomingEvent,
                stop: threading.Event, error: BaseException) -> None:
        """A value the database refuses is poison at once; any other database error is
        retried, without limit when it is expected to clear (a lost connection, a serialization
        failure, a deadlock), else (a constraint the event breaks every time) `Attempts.limit`
        times before it is poison too: it would hold its queue, in order, for ever."""
        if isinstance(error, DataError) or not isinstance(error, SQLAlchemyError):
            self._poison(stream, delivery, event, error)
            return
        if not transient(error) and self._attempts.failed(event.event_id) >= self._attempts.limit:
            self._poison(stream, delivery, event, error)
            return
        metrics.EVENTS_FAILED.labels(reason="database").inc()
        self.heartbeat.beat()
        if self._ordered:
            raise RedeliverInOrder(event.event_id) from error
        delay = self._backoff.next_delay()
        log.warning("event requeued after database error", event_id=event.event_id,
                    type=event.event_type, error=str(error).splitlines()[0], retry_in=delay)
        stream.requeue(delivery)
        stop.wait(delay)

    def _poison(self, stream: EventStream, delivery: Delivery, event: IncomingEvent,
                error: BaseException) -> None:
        log.error("event failed", event_id=event.event_id, type=event.event_type,
                  error=repr(error), exc_info=error)
        self._dead_letter(stream, delivery, describe(error), event.event_id)

    def _dead_letter(self, stream: EventStream, delivery: Delivery, reason: str,
                     event_id: str | None) -> None:
        log.error("poison message dead-lettered", event_id=event_id,
                  routing_key=delivery.routing_key, error=reason)
        stream.dead_letter(delivery, reason)
        metrics.EVENTS_DEAD_LETTERED.inc()


def _close(stream: EventStream) -> None:
    try:
        stream.close()
    except Exception as error:
        log.debug("closing the event stream failed", error=str(error))


def _observe_lag(received: dict[str, datetime]) -> None:
    now = datetime.now(UTC)
    for received_at in received.values():
        metrics.EVENT_LAG_SECONDS.observe(max(0.0, (now - received_at).total_seconds()))
