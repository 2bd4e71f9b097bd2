"""The local-list consumer on both brokers: messages handled concurrently, acknowledged after
their work, requeued after an error and handled again, dead-lettered after MAX_ATTEMPTS
failures (the next message handled), replayed copies acknowledged unhandled; RabbitMQ's queue
is single-active-consumer."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from save_server.infrastructure.local_lists import consumer

from .conftest import AMQP_URL, missing

pytestmark = pytest.mark.integration


@dataclass
class Rabbit:
    """A test's own exchange and local-list queue on RabbitMQ, a connection to it, and the
    consumer once started."""

    connection: Any
    exchange: str
    queue: str
    stop: threading.Event
    running: asyncio.Task[None] | None = None

    def start(self, handle: Any, concurrency: int) -> None:
        self.running = asyncio.create_task(consumer.consume_rabbitmq(
            AMQP_URL, self.queue, [(self.exchange, "ocpp-events.connect")], handle, self.stop,
            concurrency=concurrency))

    async def declared(self, name: str) -> tuple[Any, Any]:
        """A channel once the consumer has declared queue `name`, and that queue."""
        import aio_pika

        channel, declared = await self.connection.channel(), None
        for _ in range(100):
            try:
                declared = await channel.declare_queue(name, durable=True, passive=True)
                break
            except aio_pika.exceptions.ChannelClosed:
                channel = await self.connection.channel()
                await asyncio.sleep(0.05)
        return channel, declared

    async def events(self, channel: Any) -> Any:
        import aio_pika

        return await channel.declare_exchange(self.exchange, aio_pika.ExchangeType.TOPIC,
                                              durable=True)


@pytest.fixture
async def rabbit(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rabbit]:
    """Unique names; the consumer stopped and everything declared under them deleted after."""
    import aio_pika

    monkeypatch.setattr(consumer, "RETRY_PAUSE", 0.0)
    suffix = uuid.uuid4().hex[:8]
    exchange, queue = f"test-ll-{suffix}", f"test-ll-{suffix}.local-lists"
    try:
        connection = await aio_pika.connect_robust(AMQP_URL, timeout=5)
    except Exception as error:
        missing(f"RabbitMQ is not reachable at {AMQP_URL}: {error}")
    names = Rabbit(connection, exchange, queue, threading.Event())
    try:
        yield names
    finally:
        names.stop.set()
        if names.running is not None:
            await asyncio.wait_for(names.running, 10)
        cleanup = await connection.channel()
        for name in (queue, f"{queue}.dead-letter"):
            await cleanup.queue_delete(name)
        for name in (exchange, f"{exchange}.dead-letter"):
            await cleanup.exchange_delete(name)
        await connection.close()


class Handler:
    """Fails the first time it sees `fail-once`; records what it handled."""

    def __init__(self, expected: int) -> None:
        self.handled: list[bytes] = []
        self.failed = False
        self.done = asyncio.Event()
        self.expected = expected
        self.in_flight = self.most_in_flight = 0

    async def __call__(self, body: bytes) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.05)
            if body == b"fail-once" and not self.failed:
                self.failed = True
                raise RuntimeError("database away")
            self.handled.append(body)
            if len(self.handled) >= self.expected:
                self.done.set()
        finally:
            self.in_flight -= 1


async def test_embedded_requeues_after_an_error_and_acks_after_success(monkeypatch) -> None:
    from csms_embedded.broker import InProcessBroker

    monkeypatch.setattr(consumer, "RETRY_PAUSE", 0.0)
    broker, stop, handler = InProcessBroker(), threading.Event(), Handler(expected=5)
    running = asyncio.create_task(consumer.consume_embedded(
        broker, "ll", [("ev", "ocpp-events.connect")], handler, stop, concurrency=4))
    await asyncio.sleep(0.1)
    broker.publish("ev", "ocpp-events.connect", b"replayed", headers={"replayed": True})
    for body in (b"1", b"fail-once", b"2", b"3", b"4"):
        broker.publish("ev", "ocpp-events.connect", body)
    await asyncio.wait_for(handler.done.wait(), 10)
    stop.set()
    await asyncio.wait_for(running, 5)
    assert sorted(handler.handled) == sorted([b"1", b"fail-once", b"2", b"3", b"4"])
    assert handler.most_in_flight > 1  # concurrently
    assert broker.depth("ll") == 0 and broker.pending("ll") == 0


async def test_rabbitmq_requeues_after_an_error_and_the_queue_is_single_active(
        rabbit: Rabbit) -> None:
    import aio_pika

    handler = Handler(expected=3)
    rabbit.start(handler, concurrency=4)
    channel, declared = await rabbit.declared(rabbit.queue)  # the consumer declares and binds it
    events = await rabbit.events(channel)
    await asyncio.sleep(0.2)
    await events.publish(aio_pika.Message(b"replayed", headers={"replayed": True}),
                         routing_key="ocpp-events.connect")
    for body in (b"1", b"fail-once", b"2"):
        await events.publish(aio_pika.Message(body), routing_key="ocpp-events.connect")
    await asyncio.wait_for(handler.done.wait(), 10)
    assert sorted(handler.handled) == [b"1", b"2", b"fail-once"]
    assert handler.failed
    # a second declaration without the argument is refused: the queue is SAC
    other = await rabbit.connection.channel()
    with pytest.raises(aio_pika.exceptions.ChannelPreconditionFailed):
        await other.declare_queue(rabbit.queue, durable=True)
    assert declared is not None


class Poisoned:
    """Always fails on `poison`; records what it handled."""

    def __init__(self) -> None:
        self.poison_tries = 0
        self.handled: list[bytes] = []
        self.done = asyncio.Event()

    async def __call__(self, body: bytes) -> None:
        if body == b"poison":
            self.poison_tries += 1
            raise ValueError("never works")
        self.handled.append(body)
        self.done.set()


async def test_embedded_dead_letters_a_message_that_always_fails_then_moves_on(
        monkeypatch) -> None:
    from csms_embedded.broker import InProcessBroker
    from save_server.infrastructure.messaging.attempts import MAX_ATTEMPTS

    monkeypatch.setattr(consumer, "RETRY_PAUSE", 0.0)
    broker, stop, handler = InProcessBroker(), threading.Event(), Poisoned()
    running = asyncio.create_task(consumer.consume_embedded(
        broker, "ll", [("ev", "ocpp-events.connect")], handler, stop, concurrency=1))
    await asyncio.sleep(0.1)
    for body in (b"poison", b"next"):
        broker.publish("ev", "ocpp-events.connect", body)
    try:
        await asyncio.wait_for(handler.done.wait(), 10)
    finally:
        stop.set()
        await asyncio.wait_for(running, 5)
    assert handler.poison_tries == MAX_ATTEMPTS and handler.handled == [b"next"]
    dead = broker.get("ll.dead-letter", 1)
    assert dead is not None and dead.body == b"poison"
    assert dead.headers["x-error"] == "ValueError: never works"
    assert broker.pending("ll") == 0


async def test_rabbitmq_dead_letters_a_message_that_always_fails_then_moves_on(
        rabbit: Rabbit) -> None:
    import aio_pika

    from save_server.infrastructure.messaging.attempts import MAX_ATTEMPTS

    handler = Poisoned()
    rabbit.start(handler, concurrency=1)
    dead_letter_queue = f"{rabbit.queue}.dead-letter"
    channel, _ = await rabbit.declared(dead_letter_queue)  # the consumer declares its queues
    events = await rabbit.events(channel)
    await asyncio.sleep(0.2)
    for body in (b"poison", b"next"):
        await events.publish(aio_pika.Message(body), routing_key="ocpp-events.connect")
    await asyncio.wait_for(handler.done.wait(), 10)
    assert handler.poison_tries == MAX_ATTEMPTS and handler.handled == [b"next"]
    dead_letters = await channel.declare_queue(dead_letter_queue, durable=True, passive=True)
    dead = await dead_letters.get(timeout=5)
    assert dead.body == b"poison" and dead.headers["x-error"] == "ValueError: never works"
    await dead.ack()
