"""One contract for the EventPublisher port (the outbox relay's broker), run against RabbitMQ and
the embedded broker on its journal: `publish` returns once every bound queue has the event, with
its routing key, message id = event id and the station in `charging_station_id`; registry
events go to the registry exchange; a broker that cannot take the event makes it raise (the
relay then keeps the outbox row)."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from save_server.domain.ports import EventPublisher, OutgoingEvent
from save_server.infrastructure.outbox.publishers import (
    EmbeddedEventPublisher,
    RabbitEventPublisher,
)
from tests.support.brokers import JournalBroker, RabbitBroker

pytestmark = pytest.mark.contract
CHANGED, REGISTERED = "stations.details-changed", "station-registry.station-registered"


class EventPublisherContract:
    broker: RabbitBroker | JournalBroker

    def publisher(self) -> EventPublisher:
        raise NotImplementedError

    def break_broker(self) -> None:
        """Make the broker unable to take the next event."""
        raise NotImplementedError

    def use(self, broker: RabbitBroker | JournalBroker) -> None:
        self.broker = broker
        self.exchange, self.registry = broker.name("events"), broker.name("registry")
        self.events_queue, self.registry_queue = broker.name("store"), broker.name("gateway")
        broker.queue(self.events_queue, self.exchange, ["#"])
        broker.queue(self.registry_queue, self.registry, ["station-registry.#"])

    def test_an_event_is_in_every_bound_queue_when_publish_returns(self) -> None:
        publisher = self.publisher()
        event_id = str(uuid.uuid4())
        publisher.publish(CHANGED, b'{"n": 1}', event_id, "CP-1")
        publisher.publish("accounts.account-created", b'{"n": 2}', str(uuid.uuid4()))
        assert self.broker.count(self.events_queue) == 2
        got = self.broker.take(self.events_queue)
        assert (got.routing_key, got.body, got.message_id) == (CHANGED, b'{"n": 1}', event_id)
        assert got.headers["charging_station_id"] == "CP-1"
        assert self.broker.take(self.events_queue).headers["charging_station_id"] == ""
        publisher.close()

    def test_registry_events_go_to_the_registry_exchange_only(self) -> None:
        publisher = self.publisher()
        publisher.publish(REGISTERED, b"{}", str(uuid.uuid4()), "CP-2")
        assert (self.broker.count(self.registry_queue), self.broker.count(self.events_queue)) \
            == (1, 0)
        assert self.broker.take(self.registry_queue).routing_key == REGISTERED
        publisher.close()

    def test_a_batch_is_in_every_bound_queue_in_order_when_publish_many_returns(self) -> None:
        publisher = self.publisher()
        batch = [OutgoingEvent(CHANGED, f'{{"n": {n}}}'.encode(), str(uuid.uuid4()), f"CP-{n}")
                 for n in range(20)] + [OutgoingEvent(REGISTERED, b"{}", str(uuid.uuid4()))]
        publisher.publish_many(batch)
        assert (self.broker.count(self.events_queue), self.broker.count(self.registry_queue)) \
            == (20, 1)
        got = [self.broker.take(self.events_queue) for _ in range(20)]
        assert [(g.routing_key, g.body, g.message_id, g.headers["charging_station_id"])
                for g in got] == [(e.routing_key, e.body, e.event_id, e.charging_station_id)
                                  for e in batch[:20]]
        publisher.publish_many(batch[:1])  # the publisher goes on after a batch
        publisher.publish(CHANGED, b"{}", str(uuid.uuid4()))
        assert self.broker.count(self.events_queue) == 2
        publisher.close()

    def test_a_batch_the_broker_cannot_take_raises(self) -> None:
        publisher = self.publisher()
        publisher.publish_many([OutgoingEvent(CHANGED, b"{}", str(uuid.uuid4()))])
        self.break_broker()
        with pytest.raises(Exception):  # noqa: B017 - whatever the client raises
            publisher.publish_many([OutgoingEvent(CHANGED, b"{}", str(uuid.uuid4()), "CP-4")
                                    for _ in range(3)])
        publisher.close()

    def test_an_event_the_broker_cannot_take_raises(self) -> None:
        publisher = self.publisher()
        self.break_broker()
        with pytest.raises(Exception):  # noqa: B017 - whatever the client raises
            publisher.publish(CHANGED, b"{}", str(uuid.uuid4()), "CP-3")
        publisher.close()


@pytest.mark.integration
class TestRabbitEventPublisher(EventPublisherContract):
    @pytest.fixture(autouse=True)
    def broker_(self) -> Iterator[None]:
        self.use(RabbitBroker())
        yield
        self.broker.close()

    def publisher(self) -> EventPublisher:
        return RabbitEventPublisher(self.broker.url, self.exchange, self.registry)

    def break_broker(self) -> None:
        import pika

        with pika.BlockingConnection(pika.URLParameters(self.broker.url)) as connection:
            connection.channel().exchange_delete(self.exchange)


class TestEmbeddedEventPublisher(EventPublisherContract):
    @pytest.fixture(autouse=True)
    def broker_(self, tmp_path: Path) -> Iterator[None]:
        self.use(JournalBroker(tmp_path / "broker.sqlite3"))
        yield
        self.broker.close()

    def publisher(self) -> EventPublisher:
        return EmbeddedEventPublisher(self.broker.broker, self.exchange, self.registry)

    def break_broker(self) -> None:
        with sqlite3.connect(self.broker.path) as db:
            db.execute("DROP TABLE messages")
