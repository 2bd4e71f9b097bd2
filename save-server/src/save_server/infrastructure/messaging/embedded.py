"""Event stream adapter for the in-process broker of the embedded mode."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Protocol

from save_server.domain.ports import Delivery, EventStream
from save_server.infrastructure.messaging.dead_letters import dead_letter_headers

LINGER_BELOW = 50  # events already waiting: a batch is there, no need to wait
BUSY_GAP_SECONDS = 0.1  # batches starting closer than this: a steady stream, worth lingering


class InProcessBroker(Protocol):
    """The part of csms_embedded.broker.InProcessBroker this adapter uses."""

    def declare_queue(self, name: str, bindings: Iterable[tuple[str, str]] = (),
                      dead_letter_queue: str | None = None, durable: bool = False) -> None: ...

    def get(self, queue: str, timeout: float | None = None) -> Any: ...

    def has_queue(self, name: str) -> bool: ...

    def depth(self, queue: str) -> int: ...

    def ack(self, queue: str, message: Any) -> None: ...

    def nack(self, queue: str, message: Any, requeue: bool = True) -> None: ...

    def publish_to_queue(self, queue: str, routing_key: str, body: bytes,
                         headers: dict | None = None,
                         properties: dict | None = None) -> None: ...


class EmbeddedEventStream(EventStream):
    def __init__(self, broker: InProcessBroker, exchange: str, queue: str,
                 event_types: Iterable[str], linger_ms: int = 0) -> None:
        """`linger_ms` (SAVE_SERVER_EMBEDDED_LINGER_MS): after the first event of a batch,
        wait this long for more before the worker commits, so one transaction carries the
        events of that time and the worker holds the GIL (shared with the gateway's event
        loop) less often. Only in a steady stream (the previous batch started less than
        BUSY_GAP_SECONDS before): a lone event, or the first of a burst, is not held back.
        (Lingering on every event made the dashboard's live site page follow a charge
        seconds later in the browser tests.) docs/performance-log.md has the measurements."""
        self._broker, self._queue = broker, queue
        self._linger = linger_ms / 1000
        self._previous_batch = float("-inf")
        self._dead_letter_queue = f"{queue}.dead-letter"
        broker.declare_queue(queue, [(exchange, t) for t in event_types],
                             dead_letter_queue=self._dead_letter_queue, durable=True)

    def receive(self, timeout: float) -> Delivery | None:
        message = self._broker.get(self._queue, timeout)
        if message is None:
            return None
        if timeout > 0 and self._linger > 0:  # the first of a batch (the worker's contract)
            now = time.monotonic()
            steady, self._previous_batch = now - self._previous_batch < BUSY_GAP_SECONDS, now
            if steady and self._broker.depth(self._queue) < LINGER_BELOW:
                time.sleep(self._linger)
        return Delivery(message.body, message.routing_key, message.redelivered, message)

    def ack(self, delivery: Delivery) -> None:
        self._broker.ack(self._queue, delivery.handle)

    def requeue(self, delivery: Delivery) -> None:
        self._broker.nack(self._queue, delivery.handle, requeue=True)

    def dead_letter(self, delivery: Delivery, error: str) -> None:
        dead_letter(self._broker, self._queue, delivery.handle, error)


def dead_letter(broker: InProcessBroker, queue: str, message: Any, error: str) -> None:
    """A copy with the error into `<queue>.dead-letter` (declared with the queue), then ack."""
    broker.publish_to_queue(
        f"{queue}.dead-letter", message.routing_key, message.body,
        headers=dead_letter_headers(message.headers, message.routing_key, error),
        properties=message.properties)
    broker.ack(queue, message)
