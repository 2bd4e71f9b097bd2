"""Event stream adapter for RabbitMQ (pika, blocking, one channel)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel

from save_server.domain.ports import Delivery, EventStream


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
        self._ready: deque[Delivery] = deque()
        self._unsettled: set[int] = set()  # delivered tags neither acked nor rejected yet
        self._acks: list[int] = []  # acked by the worker, not yet sent
        self._consumer_tag = self._channel.basic_consume(queue, self._on_message)

    def _on_message(self, _channel: Any, method: Any, properties: Any, body: bytes) -> None:
        self._unsettled.add(method.delivery_tag)
        self._ready.append(Delivery(body, method.routing_key, method.redelivered,
                                    (method, properties)))

    def receive(self, timeout: float) -> Delivery | None:
        """The next delivered message; waits up to `timeout` seconds (0: only what is here).
        Sends the acks of the messages settled since the last call first."""
        self._send_acks()
        if not self._ready:
            self._connection.process_data_events(time_limit=timeout)
        return self._ready.popleft() if self._ready else None

    def ack(self, delivery: Delivery) -> None:
        """Settled now, sent with the next `receive` (or `close`): a batch of events, all
        committed, costs one `basic.ack multiple` instead of one frame and flush each."""
        method, _ = delivery.handle  # type: ignore[misc]
        self._unsettled.discard(method.delivery_tag)
        self._acks.append(method.delivery_tag)

    def _send_acks(self) -> None:
        if not self._acks:
            return
        acks, self._acks = self._acks, []
        highest = max(acks)
        if all(tag > highest for tag in self._unsettled):
            self._channel.basic_ack(highest, multiple=True)
            return
        for tag in acks:  # an earlier delivery is still open: ack one by one
            self._channel.basic_ack(tag)

    def requeue(self, delivery: Delivery) -> None:
        method, _ = delivery.handle  # type: ignore[misc]
        self._unsettled.discard(method.delivery_tag)
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
        self._unsettled.discard(method.delivery_tag)
        self._channel.basic_ack(method.delivery_tag)

    def close(self) -> None:
        try:
            if self._channel.is_open:
                self._send_acks()
                self._channel.basic_cancel(self._consumer_tag)
        finally:
            if self._connection.is_open:
                self._connection.close()
