"""Event stream adapter for RabbitMQ (pika, blocking): one channel per consumed queue.

Unsharded (SAVE_SERVER_SHARDS=0): one durable queue bound per event type, consumed
competitively by every worker. Sharded (N > 0): an `x-consistent-hash` exchange named like the
queue, bound from the events exchange, hashes the `charging_station_id` header over N queues
`<queue>.0 … <queue>.N-1`, each with single-active-consumer: every worker consumes every shard,
RabbitMQ delivers a shard to one of them at a time, so a station's events are handled in order,
and when that worker dies its unacknowledged messages go back in order to the next one.
Workers hand shards over to balance the load (see `_rebalance`)."""

from __future__ import annotations

import functools
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel

from save_server.domain.ports import Delivery, EventStream
from save_server.infrastructure.messaging.dead_letters import dead_letter_headers

STATION_HEADER = "charging_station_id"  # set by the gateway on every event (docs/events.md)


def broker_reachable(url: str, timeout: float = 2.0) -> bool:
    """Whether an AMQP connection (TCP, handshake, login) opens within about `timeout` s."""
    parameters = pika.URLParameters(url)
    parameters.connection_attempts, parameters.retry_delay = 1, 0
    parameters.socket_timeout = parameters.stack_timeout = timeout
    parameters.blocked_connection_timeout = timeout
    try:
        pika.BlockingConnection(parameters).close()
    except Exception:
        return False
    return True


def shard_queues(queue: str, shards: int) -> list[str]:
    """The queues a worker consumes: the queue itself, or its N shard queues."""
    return [f"{queue}.{index}" for index in range(shards)] if shards else [queue]


def declare_topology(channel: BlockingChannel, exchange: str, queue: str,
                     event_types: Iterable[str], shards: int = 0) -> list[str]:
    """Declare the queues (see the module docstring) and return those to consume. Rejects go
    to `<exchange>.dead-letter`, routed by the dead-letter queue's name so services sharing that
    exchange keep their own DLQ."""
    channel.exchange_declare(exchange, "topic", durable=True)
    dead_letter_exchange, dead_letter_queue = declare_dead_letter(channel, exchange, queue)
    arguments: dict[str, Any] = {"x-dead-letter-exchange": dead_letter_exchange,
                                 "x-dead-letter-routing-key": dead_letter_queue}
    if not shards:
        channel.queue_declare(queue, durable=True, arguments=arguments)
        for event_type in event_types:
            channel.queue_bind(queue, exchange, routing_key=event_type)
        return [queue]
    # exchanges and queues have separate names: the hash exchange is named like the queue
    channel.exchange_declare(queue, "x-consistent-hash", durable=True,
                             arguments={"hash-header": STATION_HEADER})
    for event_type in event_types:
        channel.exchange_bind(destination=queue, source=exchange, routing_key=event_type)
    names = shard_queues(queue, shards)
    for name in names:
        channel.queue_declare(name, durable=True,
                              arguments={**arguments, "x-single-active-consumer": True})
        channel.queue_bind(name, queue, routing_key="1")  # the weight: equal shares
    return names


def declare_dead_letter(channel: BlockingChannel, exchange: str, queue: str) -> tuple[str, str]:
    """`<exchange>.dead-letter` and `<queue>.dead-letter`, bound by the queue's name."""
    dead_letter_exchange, dead_letter_queue = f"{exchange}.dead-letter", f"{queue}.dead-letter"
    channel.exchange_declare(dead_letter_exchange, "topic", durable=True)
    channel.queue_declare(dead_letter_queue, durable=True)
    channel.queue_bind(dead_letter_queue, dead_letter_exchange, routing_key=dead_letter_queue)
    return dead_letter_exchange, dead_letter_queue


def publish_dead_letter(channel: BlockingChannel, exchange: str, queue: str, body: bytes,
                        routing_key: str, properties: Any, error: str) -> None:
    """A copy of a message with the error, to `declare_dead_letter`'s queue (the caller acks
    the original after this returned: on a confirming channel, once the broker has it)."""
    channel.basic_publish(
        f"{exchange}.dead-letter", f"{queue}.dead-letter", body,
        pika.BasicProperties(headers=dead_letter_headers(properties.headers, routing_key, error),
                             delivery_mode=2,
                             content_type=properties.content_type,
                             message_id=properties.message_id))


def _close_holding_deliveries(channel: BlockingChannel) -> None:
    """Close a consuming channel without a `basic.cancel` first. pika cancels a channel's
    consumers before closing it; on a single-active-consumer queue RabbitMQ then activates the
    next consumer at once, which gets later messages while those this channel still holds are
    requeued only when the close arrives: out of order. On a bare `channel.close` the queue
    requeues them and switches consumers in one step, as when a worker dies."""
    # pika has no public "close without cancelling"; these internals are those of pika 1.4,
    # the range save-server/pyproject.toml allows (test_save_shards.py fails if they change).
    impl = channel._impl
    impl._cancelled.update(impl._consumers)
    channel._consumer_infos.clear()
    channel.close()


@dataclass(eq=False)
class _Consumer:
    """One queue consumed on a channel of its own (delivery tags are per channel)."""

    queue: str
    channel: BlockingChannel
    unsettled: set[int] = field(default_factory=set)  # delivered, neither acked nor rejected
    acks: list[int] = field(default_factory=list)  # acked by the worker, not yet sent
    last_delivery: float = float("-inf")

    def send_acks(self) -> None:
        if not self.acks:
            return
        acks, self.acks = self.acks, []
        highest = max(acks)
        if all(tag > highest for tag in self.unsettled):
            self.channel.basic_ack(highest, multiple=True)
            return
        for tag in acks:  # an earlier delivery is still open: ack one by one
            self.channel.basic_ack(tag)


class RabbitEventStream(EventStream):
    def __init__(self, url: str, exchange: str, queue: str, event_types: Iterable[str],
                 prefetch: int = 50, shards: int = 0, rebalance_seconds: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._connection = pika.BlockingConnection(pika.URLParameters(url))
        self._control = self._connection.channel()  # declarations, dead letters (confirmed)
        self._control.confirm_delivery()
        self._queues = declare_topology(self._control, exchange, queue, event_types, shards)
        self._exchange, self._queue = exchange, queue
        self._prefetch, self._sharded = prefetch, shards > 0
        self._rebalance_seconds, self._clock = rebalance_seconds, clock
        self._next_rebalance = clock() + rebalance_seconds
        self._ready: deque[Delivery] = deque()
        self._consumers: dict[str, _Consumer] = {}
        for name in self._queues:
            self._subscribe(name)

    def _subscribe(self, queue: str) -> None:
        channel = self._connection.channel()
        channel.basic_qos(prefetch_count=self._prefetch)
        consumer = _Consumer(queue, channel)
        channel.basic_consume(queue, functools.partial(self._on_message, consumer))
        self._consumers[queue] = consumer

    def _on_message(self, consumer: _Consumer, _channel: Any, method: Any, properties: Any,
                    body: bytes) -> None:
        consumer.unsettled.add(method.delivery_tag)
        consumer.last_delivery = self._clock()
        self._ready.append(Delivery(body, method.routing_key, method.redelivered,
                                    (consumer, method, properties)))

    def receive(self, timeout: float) -> Delivery | None:
        """The next delivered message; waits up to `timeout` seconds (0: only what is here).
        Sends the acks of the messages settled since the last call first."""
        for consumer in self._consumers.values():
            consumer.send_acks()
        self._rebalance()
        if not self._ready:
            self._connection.process_data_events(time_limit=timeout)
        return self._ready.popleft() if self._ready else None

    def ack(self, delivery: Delivery) -> None:
        """Settled now, sent with the next `receive` (or `close`): a batch of events, all
        committed, costs one `basic.ack multiple` per queue instead of one frame each."""
        consumer, method, _ = delivery.handle  # type: ignore[misc]
        consumer.unsettled.discard(method.delivery_tag)
        consumer.acks.append(method.delivery_tag)

    def requeue(self, delivery: Delivery) -> None:
        consumer, method, _ = delivery.handle  # type: ignore[misc]
        consumer.unsettled.discard(method.delivery_tag)
        consumer.channel.basic_nack(method.delivery_tag, requeue=True)

    def dead_letter(self, delivery: Delivery, error: str) -> None:
        """Publish (confirmed) a copy with the error to the dead-letter queue, then ack."""
        consumer, method, properties = delivery.handle  # type: ignore[misc]
        publish_dead_letter(self._control, self._exchange, self._queue, delivery.body,
                            method.routing_key, properties, error)
        consumer.unsettled.discard(method.delivery_tag)
        consumer.channel.basic_ack(method.delivery_tag)

    def _rebalance(self) -> None:
        """Every `rebalance_seconds`, hand over the shards delivered to this worker beyond its
        fair share, ceil(shards / workers): closing a shard's channel makes RabbitMQ activate
        the next (waiting) consumer, another worker; this one subscribes again, at the back.
        Only shards with nothing handed to the worker are released, so no event of a shard is
        ever in two workers' hands; those still buffered here go back to the queue in order."""
        now = self._clock()
        if not self._sharded or now < self._next_rebalance:
            return
        self._next_rebalance = now + self._rebalance_seconds
        workers = max(self._control.queue_declare(name, passive=True).method.consumer_count
                      for name in self._queues)
        fair = math.ceil(len(self._queues) / max(1, workers))
        active = [c for c in self._consumers.values()
                  if now - c.last_delivery < self._rebalance_seconds]
        for consumer in active[fair:]:
            if self._nothing_handed_out(consumer):
                self._release(consumer)

    def _nothing_handed_out(self, consumer: _Consumer) -> bool:
        buffered = {d.handle[1].delivery_tag for d in self._ready  # type: ignore[index]
                    if d.handle[0] is consumer}  # type: ignore[index]
        return consumer.unsettled <= buffered and not consumer.acks

    def _release(self, consumer: _Consumer) -> None:
        self._ready = deque(d for d in self._ready
                            if d.handle[0] is not consumer)  # type: ignore[index]
        _close_holding_deliveries(consumer.channel)  # the buffered ones are requeued in order
        self._subscribe(consumer.queue)

    def close(self) -> None:
        """Send the settled acks; what is not acked goes back to its queue in order."""
        try:
            for consumer in self._consumers.values():
                if consumer.channel.is_open:
                    consumer.send_acks()
                    _close_holding_deliveries(consumer.channel)
        finally:
            if self._connection.is_open:
                self._connection.close()
