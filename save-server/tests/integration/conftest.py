"""Real servers for integration tests: a fresh PostgreSQL database and unique RabbitMQ names
per run, deleted afterwards. A missing server skips, or fails under CI=true."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from save_server.bootstrap import Container, bootstrap
from save_server.config import Settings
from save_server.infrastructure.db.engine import migrate
from save_server.infrastructure.translation import handles
from tests.support.api_keys import grant

AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def missing(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: a missing server is a failure)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url(postgres_database: Callable[..., Any]) -> Iterator[str]:
    """A database of its own for this test run, migrated to head, dropped at the end."""
    with postgres_database("save_server_test") as url:
        migrate(url)
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'save-server.sqlite3'}"
    migrate(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def container(database_url: str, tmp_path: Path) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=database_url, data_dir=tmp_path))
    yield built
    built.close()


@dataclass(frozen=True)
class RabbitNames:
    url: str
    exchange: str
    queue: str

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.queue}.dead-letter"


@pytest.fixture
def rabbit() -> Iterator[RabbitNames]:
    """Unique exchange and queue names; every object declared under them is deleted after."""
    import pika

    try:
        connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    except Exception as error:
        missing(f"RabbitMQ is not reachable at {AMQP_URL}: {error}")
    suffix = uuid.uuid4().hex[:10]
    names = RabbitNames(AMQP_URL, f"test-ocpp-events-{suffix}", f"test-save-server-{suffix}")
    connection.close()
    yield names
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    for queue in (names.queue, names.dead_letter_queue):
        channel.queue_delete(queue)
    for exchange in (names.exchange, f"{names.exchange}.dead-letter"):
        channel.exchange_delete(exchange)
    connection.close()


Publish = Callable[[str, bytes], None]


class Pipeline:
    """Events in through a broker and the real worker, state out through the HTTP API."""

    def __init__(self, container: Container, publish: Callable[[str, bytes], None],
                 stream_factory: Callable[[], Any],
                 dead_letters: Callable[[], list[tuple[bytes, dict[str, Any]]]],
                 publish_to_queue: Callable[[str, bytes], None] | None = None) -> None:
        import threading

        from fastapi.testclient import TestClient

        self.container = container
        self._publish = publish
        self._publish_to_queue = publish_to_queue
        self.dead_letters = dead_letters
        self.sent: set[str] = set()
        self._stop = threading.Event()
        worker = container.worker(stream_factory)
        self._thread = threading.Thread(target=worker.run, args=(self._stop,), daemon=True)
        self._thread.start()
        self.client = TestClient(container.app(), headers=grant(container))

    def send(self, *events: dict[str, Any]) -> None:
        for event in events:
            self.sent.add(event["event_id"])
            self._publish(event["type"], json.dumps(event).encode())

    def send_raw(self, routing_key: str, body: bytes) -> None:
        self._publish(routing_key, body)

    def send_to_queue(self, *events: dict[str, Any]) -> None:
        """As the event-store's replay with `target: <the queue>`: past the bindings. Events of
        a type the worker applies are waited for by `settle`; the others leave no record."""
        assert self._publish_to_queue is not None
        for event in events:
            if handles(event["type"]):
                self.sent.add(event["event_id"])
            self._publish_to_queue(event["type"], json.dumps(event).encode())

    def settle(self, timeout: float = 20.0) -> None:
        """Wait until every event sent so far is committed (polling, with a deadline)."""
        from sqlalchemy import select

        from save_server.infrastructure.db.tables import processed_events

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.container.engine.connect() as db:
                done = set(db.execute(select(processed_events.c.event_id).where(
                    processed_events.c.event_id.in_(self.sent))).scalars())
            if done == self.sent:
                return
            time.sleep(0.05)
        raise AssertionError(f"{len(self.sent - done)} events not processed in {timeout}s")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        assert not self._thread.is_alive(), "worker thread did not stop"


@pytest.fixture(params=["embedded", "rabbitmq"])
def pipeline(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pipeline]:
    """embedded: in-process broker + SQLite; rabbitmq: real RabbitMQ + PostgreSQL."""
    from save_server.infrastructure.translation import HANDLED_TYPES

    if request.param == "embedded":
        from csms_embedded.broker import InProcessBroker
        from save_server.infrastructure.messaging.embedded import EmbeddedEventStream

        broker = InProcessBroker()
        container = bootstrap(Settings(database_url=request.getfixturevalue("sqlite_url"),
                                       data_dir=tmp_path))
        stream = EmbeddedEventStream(broker, "ocpp-events", "save-server", HANDLED_TYPES)
        def embedded_dead_letters() -> list[tuple[bytes, dict[str, Any]]]:
            found = []
            while (message := broker.get("save-server.dead-letter", timeout=0.1)) is not None:
                broker.ack("save-server.dead-letter", message)
                found.append((message.body, message.headers))
            return found

        running = Pipeline(container, lambda key, body: broker.publish("ocpp-events", key, body),
                           lambda: stream, embedded_dead_letters,
                           lambda key, body: broker.publish_to_queue("save-server", key, body))
    else:
        names: RabbitNames = request.getfixturevalue("rabbit")
        container = bootstrap(Settings(database_url=request.getfixturevalue("postgres_url"),
                                       data_dir=tmp_path))
        publisher = RabbitPublisher(names)
        running = Pipeline(container, publisher.publish, lambda: rabbit_stream(names),
                           publisher.dead_letters, publisher.publish_to_queue)
        request.addfinalizer(publisher.close)
    yield running
    running.close()
    container.close()


def rabbit_stream(names: RabbitNames) -> Any:
    from save_server.infrastructure.messaging.rabbitmq import RabbitEventStream
    from save_server.infrastructure.translation import HANDLED_TYPES

    return RabbitEventStream(names.url, names.exchange, names.queue, HANDLED_TYPES, prefetch=20)


class RabbitPublisher:
    """Publishes like the gateway (persistent, confirmed), after declaring the topology."""

    def __init__(self, names: RabbitNames) -> None:
        import pika

        from save_server.infrastructure.messaging.rabbitmq import declare_topology
        from save_server.infrastructure.translation import HANDLED_TYPES

        self._names = names
        self._connection = pika.BlockingConnection(pika.URLParameters(names.url))
        self.channel = self._connection.channel()
        self.channel.confirm_delivery()
        declare_topology(self.channel, names.exchange, names.queue, HANDLED_TYPES)

    def publish(self, routing_key: str, body: bytes) -> None:
        import pika

        self.channel.basic_publish(self._names.exchange, routing_key, body,
                                   pika.BasicProperties(delivery_mode=2,
                                                        content_type="application/json"))

    def publish_to_queue(self, routing_key: str, body: bytes) -> None:
        import pika

        self.channel.basic_publish("", self._names.queue, body, pika.BasicProperties(
            delivery_mode=2, content_type="application/json", headers={"replayed": True}))

    def dead_letters(self) -> list[tuple[bytes, dict[str, Any]]]:
        found = []
        while True:
            method, properties, body = self.channel.basic_get(self._names.dead_letter_queue,
                                                              auto_ack=True)
            if method is None:
                return found
            found.append((body, dict(properties.headers or {})))

    def close(self) -> None:
        if self._connection.is_open:
            self._connection.close()
