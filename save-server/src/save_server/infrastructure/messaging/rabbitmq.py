"""Event stream adapter for RabbitMQ (pika, blocking, one channel)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel

from save_server.domain.ports import Delivery, EventStream

POLL_SECONDS = 0.5


def declare_topology(channel: BlockingChannel, exchange: str, queue: str,
                     event_types: Iterable[str]) -> None:
    """Durable queue bound per event type; rejects go to `<exchange>.dead-letter`, routed by
    the dead-letter queue's name so services sharing that exchange keep their own DLQ."""
    dead_letter_exchange, dead_letter_queue = f"{exchange}.dead-letter", f"{queue}.dead-letter"
    channel.exchange_declare(exchange, "topic", durable=True)
    channel.exchange_declare(dead_letter_exchange, "topic", durable=True)
    channel.queue_declare(dead_letter_queue, durable=True)
    channel.queue_bind(dead_letter_queue, dead_letter_exchange, routing_key=dead_letter_queue)
    channel.queue_declare(queue, durable=True, arguments={
        "x-dead-letter-exchange": dead_letter_exchange,
        "x-dead-letter-routing-key": dead_letter_queue,
    })
    for event_type in event_types:
        channel.queue_bind(queue, exchange, routing_key=event_type)


class RabbitEventStream(EventStream):
    def __init__(self, url: str, exchange: str, queue: str, event_types: Iterable[str],
                 prefetch: int = 50) -> None:
        self._connection = pika.BlockingConnection(pika.URLParameters(url))
        self._channel = self._connection.channel()
        self._channel.confirm_delivery()
        self._channel.basic_qos(prefetch_count=prefetch)
        declare_topology(self._channel, exchange, queue, event_types)
        self._dead_letter_exchange = f"{exchange}.dead-letter"
        self._dead_letter_queue = f"{queue}.dead-letter"
        self._messages: Iterator[Any] = self._channel.consume(
            queue, inactivity_timeout=POLL_SECONDS)

    def receive(self, timeout: float) -> Delivery | None:
        method, properties, body = next(self._messages)
        if method is None:
            return None
        return Delivery(body, method.routing_key, method.redelivered, (method, properties))

    def ack(self, delivery: Delivery) -> None:
        method, _ = delivery.handle  # type: ignore[misc]
        self._channel.basic_ack(method.delivery_tag)

    def requeue(self, delivery: Delivery) -> None:
        method, _ = delivery.handle  # type: ignore[misc]
        self._channel.basic_nack(method.delivery_tag, requeue=True)

    def dead_letter(self, delivery: Delivery, error: str) -> None:
        """Publish (confirmed) a copy with the error to the dead-letter queue, then ack."""
        method, properties = delivery.handle  # type: ignore[misc]
        headers = dict(properties.headers or {})
        headers.update({"x-error": error[:1000], "x-original-routing-key": method.routing_key})
        self._channel.basic_publish(
            self._dead_letter_exchange, self._dead_letter_queue, delivery.body,
            pika.BasicProperties(headers=headers, delivery_mode=2,
                                 content_type=properties.content_type,
                                 message_id=properties.message_id))
        self._channel.basic_ack(method.delivery_tag)

    def close(self) -> None:
        try:
            self._channel.cancel()
        finally:
            if self._connection.is_open:
                self._connection.close()
