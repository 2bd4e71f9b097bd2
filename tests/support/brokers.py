"""The two brokers the broker contract suites (`*/tests/contract/`) run every adapter on.

`RabbitBroker`: the machine's RabbitMQ, names unique to the test, everything deleted after.
`JournalBroker`: csms_embedded's in-process broker on a journal file, as `make run` builds it;
`restart()` opens a new broker on the same file, as the next process after a crash would.
Both look at a queue the same way (`take`, `count`), so a suite asserts once for both.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from csms_embedded.broker import InProcessBroker
from csms_embedded.journal import Journal

AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
TIME_FACTOR = float(os.environ.get("TEST_TIME_FACTOR", "1"))


def missing(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: a missing server is a failure)")
    pytest.skip(message)


@dataclass(frozen=True)
class Seen:
    """A message as a consumer finds it in a queue, whatever the broker."""

    body: bytes
    routing_key: str
    headers: dict[str, Any] = field(default_factory=dict)
    message_id: str | None = None
    redelivered: bool = False


class RabbitBroker:
    def __init__(self, url: str = AMQP_URL) -> None:
        import pika

        self.url = url
        try:
            self._connection = pika.BlockingConnection(pika.URLParameters(url))
        except Exception as error:
            missing(f"RabbitMQ is not reachable at {url}: {error}")
        self._channel = self._connection.channel()
        self._suffix = uuid.uuid4().hex[:10]
        self._exchanges: list[str] = []
        self._queues: list[str] = []

    def name(self, prefix: str) -> str:
        """A name of this test's own; an exchange or queue declared under it is deleted after
        (also its `.dead-letter` companions, which the adapters declare themselves)."""
        name = f"test-{prefix}-{self._suffix}"
        self._exchanges += [name, f"{name}.dead-letter"]
        self._queues += [name, f"{name}.dead-letter"]
        return name

    def exchange(self, name: str, kind: str = "topic") -> None:
        self._channel.exchange_declare(name, kind, durable=True)

    def queue(self, name: str, exchange: str, patterns: list[str]) -> None:
        """A plain durable queue bound to `exchange` (declared as a topic exchange if new)."""
        self._channel.exchange_declare(exchange, "topic", durable=True)
        self._channel.queue_declare(name, durable=True)
        for pattern in patterns:
            self._channel.queue_bind(name, exchange, routing_key=pattern)

    def publish(self, exchange: str, routing_key: str, body: bytes,
                headers: dict[str, Any] | None = None, message_id: str | None = None) -> None:
        import pika

        self._channel.basic_publish(exchange, routing_key, body, pika.BasicProperties(
            headers=headers or {}, message_id=message_id, delivery_mode=2,
            content_type="application/json"))

    def count(self, queue: str) -> int:
        """Messages ready in the queue now (a passive declare: no waiting)."""
        return self._channel.queue_declare(queue, passive=True).method.message_count

    def take(self, queue: str, timeout: float = 5.0) -> Seen | None:
        """The next message of the queue (acknowledged), polling up to `timeout` s."""
        deadline = time.monotonic() + timeout * TIME_FACTOR
        while True:
            method, properties, body = self._channel.basic_get(queue, auto_ack=True)
            if method is not None:
                return Seen(body, method.routing_key, dict(properties.headers or {}),
                            properties.message_id, bool(method.redelivered))
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.02)

    def close(self) -> None:
        for queue in self._queues:
            self._channel.queue_delete(queue)
        for exchange in self._exchanges:
            self._channel.exchange_delete(exchange)
        self._connection.close()


class JournalBroker:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.broker = InProcessBroker(Journal(path))
        self._suffix = uuid.uuid4().hex[:10]

    def name(self, prefix: str) -> str:
        return f"test-{prefix}-{self._suffix}"

    def exchange(self, name: str, kind: str = "topic") -> None:
        self.broker.declare_exchange(name, kind)

    def queue(self, name: str, exchange: str, patterns: list[str]) -> None:
        self.broker.declare_queue(name, [(exchange, p) for p in patterns], durable=True)

    def publish(self, exchange: str, routing_key: str, body: bytes,
                headers: dict[str, Any] | None = None, message_id: str | None = None) -> None:
        self.broker.publish(exchange, routing_key, body, headers,
                            {"message_id": message_id, "content_type": "application/json"})

    def count(self, queue: str) -> int:
        return self.broker.depth(queue)

    def take(self, queue: str, timeout: float = 5.0) -> Seen | None:
        message = self.broker.get(queue, timeout=timeout * TIME_FACTOR)
        if message is None:
            return None
        self.broker.ack(queue, message)
        return Seen(message.body, message.routing_key, dict(message.headers),
                    message.properties.get("message_id"), message.redelivered)

    def restart(self) -> InProcessBroker:
        """The process died: a new broker on the same journal file (declared queues get back
        what was stored for them when they are declared again)."""
        self.broker.close()
        self.broker = InProcessBroker(Journal(self.path))
        return self.broker

    def close(self) -> None:
        self.broker.close()
