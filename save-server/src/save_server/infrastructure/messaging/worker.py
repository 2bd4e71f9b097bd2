"""The consumer: event stream → translation → idempotent ingest → acknowledgement."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog
from sqlalchemy.exc import SQLAlchemyError

from save_server.domain.ports import Delivery, EventStream, UnitOfWork
from save_server.infrastructure import metrics
from save_server.infrastructure.translation import PoisonMessage, parse_envelope, translate
from save_server.service.ingest import ingest_event

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


class EventWorker:
    def __init__(self, stream_factory: Callable[[], EventStream],
                 uow_factory: Callable[[], UnitOfWork], backoff: Backoff | None = None,
                 poll_seconds: float = 0.5) -> None:
        self._stream_factory = stream_factory
        self._uow_factory = uow_factory
        self._backoff = backoff or Backoff()
        self._poll_seconds = poll_seconds

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set; reconnects with backoff when the broker goes away."""
        while not stop.is_set():
            try:
                stream = self._stream_factory()
            except Exception as error:  # broker unreachable: wait and retry
                log.warning("event stream unavailable", error=str(error))
                stop.wait(self._backoff.next_delay())
                continue
            try:
                self.consume(stream, stop)
            except Exception as error:
                log.warning("event stream lost", error=str(error))
                stop.wait(self._backoff.next_delay())
            finally:
                _close(stream)

    def consume(self, stream: EventStream, stop: threading.Event) -> None:
        while not stop.is_set():
            delivery = stream.receive(self._poll_seconds)
            if delivery is not None:
                self.handle(stream, delivery, stop)

    def handle(self, stream: EventStream, delivery: Delivery, stop: threading.Event) -> None:
        """Ack only after commit; requeue transient failures; dead-letter poison."""
        started = time.perf_counter()
        try:
            event = parse_envelope(delivery.body)
            commands = translate(event)
        except PoisonMessage as poison:
            self._dead_letter(stream, delivery, poison.reason, poison.event_id)
            return
        event_id = str(event.event_id)
        try:
            applied = ingest_event(self._uow_factory, event_id, event.type, commands)
        except SQLAlchemyError as error:
            metrics.EVENTS_FAILED.labels(reason="database").inc()
            delay = self._backoff.next_delay()
            log.warning("event requeued after database error", event_id=event_id,
                        type=event.type, error=str(error).splitlines()[0], retry_in=delay)
            stream.requeue(delivery)
            stop.wait(delay)
            return
        except Exception as error:  # a bug for this event: park it, keep the queue moving
            log.exception("event failed", event_id=event_id, type=event.type)
            self._dead_letter(stream, delivery, f"{type(error).__name__}: {error}", event_id)
            return
        stream.ack(delivery)
        self._backoff.reset()
        (metrics.EVENTS_PROCESSED if applied else metrics.EVENTS_DUPLICATE).labels(
            type=event.type).inc()
        metrics.CONSUME_SECONDS.observe(time.perf_counter() - started)
        log.debug("event handled", event_id=event_id, type=event.type, duplicate=not applied)

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
