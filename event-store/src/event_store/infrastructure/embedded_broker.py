"""Adapters for the in-process broker of the embedded mode (`csms_embedded.broker`).

The broker is passed in by the launcher; this package never imports it (services share only
the event contract). Only the methods below are used.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from event_store.domain.events import StoredEvent
from event_store.domain.ports import (
    TARGET_ALL,
    Delivery,
    EventFeed,
    ReplayPage,
    ReplayPublisher,
)
from event_store.infrastructure.amqp_properties import message_properties


class InProcessBroker(Protocol):
    def declare_queue(self, name: str, bindings: Iterable[tuple[str, str]] = (),
                      dead_letter_queue: str | None = None, durable: bool = False) -> None: ...
    def publish(self, exchange: str, routing_key: str, body: bytes,
                headers: dict | None = None, properties: dict | None = None) -> int: ...
    def publish_to_queue(self, queue: str, routing_key: str, body: bytes,
                         headers: dict | None = None, properties: dict | None = None) -> None: ...
    def get(self, queue: str, timeout: float | None = None) -> Any: ...
    def get_many(self, queue: str, max_messages: int,
                 timeout: float | None = None) -> list[Any]: ...
    def ack(self, queue: str, message: Any) -> None: ...
    def nack(self, queue: str, message: Any, requeue: bool = True) -> None: ...


def declare_store_queue(broker: InProcessBroker, queue: str, exchange: str,
                        dead_letter_queue: str) -> None:
    broker.declare_queue(queue, [(exchange, "#")], dead_letter_queue=dead_letter_queue,
                         durable=True)


class EmbeddedEventFeed(EventFeed):
    def __init__(self, broker: InProcessBroker, queue: str, exchange: str,
                 dead_letter_queue: str) -> None:
        self._broker = broker
        self._queue = queue
        self._dead_letter_queue = dead_letter_queue
        declare_store_queue(broker, queue, exchange, dead_letter_queue)

    def fetch_batch(self, max_messages: int, max_wait: float, idle_wait: float) -> list[Delivery]:
        """Whole runs of ready messages are taken under one broker lock (`get_many`)."""
        messages = self._broker.get_many(self._queue, max_messages, timeout=idle_wait)
        if not messages:
            return []
        deadline = time.monotonic() + max_wait
        while len(messages) < max_messages:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            more = self._broker.get_many(self._queue, max_messages - len(messages),
                                         timeout=remaining)
            if not more:
                break
            messages += more
        return [self._delivery(message) for message in messages]

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            self._broker.ack(self._queue, delivery.tag)

    def requeue(self, deliveries: Sequence[Delivery]) -> None:
        for delivery in reversed(deliveries):  # each goes to the front: keep the order
            self._broker.nack(self._queue, delivery.tag, requeue=True)

    def dead_letter(self, delivery: Delivery, error: str) -> None:
        headers = {**(delivery.headers or {}), "x-error": error,
                   "x-original-routing-key": delivery.routing_key}
        self._broker.publish_to_queue(self._dead_letter_queue, delivery.routing_key,
                                      delivery.body, headers=headers)

    def close(self) -> None:
        """Nothing to release: unacknowledged messages stay with the broker."""

    @staticmethod
    def _delivery(message: Any) -> Delivery:
        return Delivery(message.body, message.routing_key, message, message.redelivered,
                        dict(message.headers))


class EmbeddedReplayPublisher(ReplayPublisher):
    """The in-process broker takes each message synchronously: a page counts as sent once it
    is published. Its exchanges need no declaration, so a target other than `all` is always
    a queue here (sharded consumers exist only on RabbitMQ)."""

    def __init__(self, broker: InProcessBroker, exchange: str) -> None:
        self._broker = broker
        self._exchange = exchange

    def send(self, target: str, pages: Iterable[ReplayPage],
             on_sent: Callable[[int], None]) -> None:
        for page in pages:
            for event, headers in page:
                self._publish(target, event, headers)
            on_sent(len(page))

    def _publish(self, target: str, event: StoredEvent, headers: dict[str, Any]) -> None:
        if target == TARGET_ALL:
            self._broker.publish(self._exchange, event.routing_key, event.body, headers,
                                 message_properties(event))
        else:
            self._broker.publish_to_queue(target, event.routing_key, event.body, headers,
                                          message_properties(event))

    def close(self) -> None:
        """Nothing to release."""
