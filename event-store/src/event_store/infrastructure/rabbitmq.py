"""RabbitMQ adapter (pika, blocking client): the store's queue feed. The replay publisher
(asynchronous client) is in `rabbitmq_replay`.

Each instance owns one connection and must be used from the thread that created it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel

from event_store.domain.ports import Delivery, EventFeed

__all__ = ["PikaEventFeed", "broker_reachable", "declare_store_queue"]


def declare_store_queue(channel: BlockingChannel, queue: str, exchange: str,
                        dead_letter_queue: str) -> None:
    """Durable topic exchange, the store's durable queue bound `#`, and its dead-letter queue
    (the worker copies poison messages there itself, with the error in `x-error`)."""
    channel.exchange_declare(exchange, exchange_type="topic", durable=True)
    channel.queue_declare(dead_letter_queue, durable=True)
    channel.queue_declare(queue, durable=True)
    channel.queue_bind(queue, exchange, routing_key="#")


class PikaEventFeed(EventFeed):
    def __init__(self, url: str, queue: str, exchange: str, dead_letter_queue: str,
                 prefetch: int = 500) -> None:
        self._connection = pika.BlockingConnection(pika.URLParameters(url))
        self._channel = self._connection.channel()
        self._dead_letter_queue = dead_letter_queue
        declare_store_queue(self._channel, queue, exchange, dead_letter_queue)
        self._channel.basic_qos(prefetch_count=prefetch)
        self._channel.confirm_delivery()
        self._pending: deque[Delivery] = deque()
        self._channel.basic_consume(queue, self._on_message)

    def _on_message(self, _channel: Any, method: Any, properties: Any, body: bytes) -> None:
        self._pending.append(Delivery(body, method.routing_key, method.delivery_tag,
                                      bool(method.redelivered), dict(properties.headers or {})))

    def _pump_until(self, deadline: float, enough: int) -> None:
        while len(self._pending) < enough:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._connection.process_data_events(time_limit=remaining)

    def fetch_batch(self, max_messages: int, max_wait: float, idle_wait: float) -> list[Delivery]:
        self._pump_until(time.monotonic() + idle_wait, 1)
        if not self._pending:
            return []
        self._pump_until(time.monotonic() + max_wait, max_messages)
        return [self._pending.popleft() for _ in range(min(max_messages, len(self._pending)))]

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        if deliveries:
            self._channel.basic_ack(delivery_tag=deliveries[-1].tag, multiple=True)

    def requeue(self, deliveries: Sequence[Delivery]) -> None:
        if deliveries:
            self._channel.basic_nack(delivery_tag=deliveries[-1].tag, multiple=True, requeue=True)

    def dead_letter(self, delivery: Delivery, error: str) -> None:
        headers = {**(delivery.headers or {}), "x-error": error,
                   "x-original-routing-key": delivery.routing_key}
        self._channel.basic_publish("", self._dead_letter_queue, delivery.body,
                                    pika.BasicProperties(headers=headers, delivery_mode=2))

    def close(self) -> None:
        if self._connection.is_open:
            self._connection.close()


def broker_reachable(url: str, timeout: float = 2.0) -> bool:
    """Whether an AMQP connection (TCP, handshake, login) opens within about `timeout` s."""
    import pika

    parameters = pika.URLParameters(url)
    parameters.connection_attempts, parameters.retry_delay = 1, 0
    parameters.socket_timeout = parameters.stack_timeout = timeout
    parameters.blocked_connection_timeout = timeout
    try:
        pika.BlockingConnection(parameters).close()
    except Exception:
        return False
    return True
