"""The registry's small consumers (registry admissions and snapshot requests, id tags, load
management: infrastructure/registry/consumers.py) on both brokers: a message that always fails
is dead-lettered after MAX_ATTEMPTS, with its error, and the next message of the queue is
handled; one failing only transiently is never dead-lettered."""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest
from sqlalchemy.exc import OperationalError

from save_server.infrastructure.messaging.attempts import MAX_ATTEMPTS, RetryLater
from save_server.infrastructure.registry import consumers

from .conftest import RabbitNames

pytestmark = pytest.mark.integration

KIND = "ocpp-events.connect"
POISON = json.dumps({"event_id": "poison-1", "type": KIND}).encode()
GOOD = json.dumps({"event_id": "good-1", "type": KIND}).encode()


class Handler:
    """Always fails on POISON; fails `transient` times (database away) on others first."""

    def __init__(self, transient: int = 0, error: Exception | None = None) -> None:
        self.tries: Counter[bytes] = Counter()
        self.handled: list[bytes] = []
        self.done = threading.Event()
        self.transient = transient
        self.error = error or OperationalError("select 1", {}, Exception("connection refused"))

    def __call__(self, body: bytes) -> None:
        self.tries[body] += 1
        if body == POISON:
            raise ValueError("never works")
        if self.tries[body] <= self.transient:
            raise self.error
        self.handled.append(body)
        self.done.set()


@pytest.fixture
def fast(monkeypatch) -> None:
    monkeypatch.setattr(consumers, "RETRY_PAUSE", 0.0, raising=False)
    monkeypatch.setattr(consumers, "RECONNECT_PAUSE", 0.05, raising=False)


def test_embedded_dead_letters_a_message_that_always_fails_then_moves_on(fast) -> None:
    from csms_embedded.broker import InProcessBroker

    broker, stop, handler = InProcessBroker(), threading.Event(), Handler()
    thread = consumers.serve_embedded(broker, "ev", "q", (KIND,), handler, stop, "test")
    try:
        broker.publish("ev", KIND, POISON)
        broker.publish("ev", KIND, GOOD)
        assert handler.done.wait(10), "the message behind the poison was never handled"
    finally:
        stop.set()
        thread.join(5)
    assert handler.tries[POISON] == MAX_ATTEMPTS and handler.handled == [GOOD]
    dead = broker.get("q.dead-letter", 1)
    assert dead is not None and dead.body == POISON
    assert dead.headers["x-error"] == "ValueError: never works"
    assert dead.headers["x-original-routing-key"] == KIND
    assert broker.pending("q") == 0


@pytest.mark.parametrize("error", [RetryLater("no lease"), None])
def test_embedded_retries_transient_failures_without_limit(fast, error) -> None:
    from csms_embedded.broker import InProcessBroker

    broker, stop = InProcessBroker(), threading.Event()
    handler = Handler(transient=3 * MAX_ATTEMPTS, error=error)
    thread = consumers.serve_embedded(broker, "ev", "q", (KIND,), handler, stop, "test")
    try:
        broker.publish("ev", KIND, GOOD)
        assert handler.done.wait(10)
    finally:
        stop.set()
        thread.join(5)
    assert handler.handled == [GOOD] and broker.depth("q.dead-letter") == 0


def test_rabbitmq_dead_letters_a_message_that_always_fails_then_moves_on(
        fast, rabbit: RabbitNames) -> None:
    import pika

    stop, handler = threading.Event(), Handler()
    thread = consumers.serve_rabbitmq(rabbit.url, rabbit.exchange, rabbit.queue, (KIND,),
                                      handler, stop, "test")
    connection = pika.BlockingConnection(pika.URLParameters(rabbit.url))
    try:
        channel = connection.channel()
        channel.exchange_declare(rabbit.exchange, "topic", durable=True)
        for _ in range(100):  # the consumer declares and binds its queues
            try:
                connection.channel().queue_declare(rabbit.dead_letter_queue, passive=True)
                break
            except pika.exceptions.ChannelClosedByBroker:
                connection.sleep(0.05)
        channel.confirm_delivery()
        for body in (POISON, GOOD):
            channel.basic_publish(rabbit.exchange, KIND, body,
                                  pika.BasicProperties(delivery_mode=2, message_id="m"))
        assert handler.done.wait(30), "the message behind the poison was never handled"
        assert handler.tries[POISON] == MAX_ATTEMPTS and handler.handled == [GOOD]
        method, properties, body = channel.basic_get(rabbit.dead_letter_queue, auto_ack=True)
        assert method is not None and body == POISON
        assert properties.headers["x-error"] == "ValueError: never works"
        assert properties.headers["x-original-routing-key"] == KIND
        assert properties.message_id == "m"
    finally:
        stop.set()
        thread.join(10)
        connection.close()
