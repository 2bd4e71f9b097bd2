"""One contract for the EventFeed port (the event store's input), run against RabbitMQ and the
embedded broker on its journal: every event type reaches the store's queue (bound `#`) in
order with its headers, a batch is acknowledged after it was written (what was not comes back,
in order and flagged redelivered, after the worker dies), a requeued batch comes back in order,
a poison message is copied aside with the error."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from event_store.domain.ports import Delivery, EventFeed
from event_store.infrastructure.embedded_broker import EmbeddedEventFeed
from event_store.infrastructure.rabbitmq import PikaEventFeed
from tests.support.brokers import TIME_FACTOR, JournalBroker, RabbitBroker

pytestmark = pytest.mark.contract
TYPES = ["ocpp-events.boot-notification", "ocpp-events.heartbeat", "accounts.api-key-created"]


def body(n: int) -> bytes:
    return json.dumps({"event_id": str(uuid.uuid4()), "n": n}).encode()


class EventFeedContract:
    broker: RabbitBroker | JournalBroker

    def open(self) -> EventFeed:
        raise NotImplementedError

    def die(self, feed: EventFeed) -> None:
        """The worker's process goes away without acknowledging what it holds."""
        raise NotImplementedError

    def use(self, broker: RabbitBroker | JournalBroker) -> None:
        self.broker = broker
        self.exchange = broker.name("events")
        self.queue = broker.name("event-store")
        self.dead_letter_queue = f"{self.queue}.dead-letter"

    def publish(self, n: int, headers: dict | None = None) -> bytes:
        sent = body(n)
        self.broker.publish(self.exchange, TYPES[n % len(TYPES)], sent,
                            headers={"charging_station_id": f"CP-{n}", **(headers or {})})
        return sent

    def fetch(self, feed: EventFeed, count: int) -> list[Delivery]:
        """`count` deliveries (several batches if need be), within a deadline."""
        got: list[Delivery] = []
        for _ in range(20):
            got += feed.fetch_batch(count - len(got), 0.2 * TIME_FACTOR, 0.5 * TIME_FACTOR)
            if len(got) >= count:
                break
        return got

    def test_every_type_arrives_in_order_with_routing_key_and_headers(self) -> None:
        feed = self.open()
        sent = [self.publish(n, {"replayed": n == 1}) for n in range(3)]
        got = self.fetch(feed, 3)
        assert [d.body for d in got] == sent
        assert [d.routing_key for d in got] == TYPES
        assert [d.headers["charging_station_id"] for d in got] == ["CP-0", "CP-1", "CP-2"]
        assert [d.headers["replayed"] for d in got] == [False, True, False]
        assert not any(d.redelivered for d in got)
        feed.ack(got)
        assert feed.fetch_batch(10, 0.1, 0.3) == []
        feed.close()

    def test_an_unacknowledged_batch_comes_back_in_order_redelivered_after_the_worker_dies(
            self) -> None:
        feed = self.open()
        sent = [self.publish(n) for n in range(4)]
        feed.ack(self.fetch(feed, 2))  # written, then acknowledged
        assert [d.body for d in self.fetch(feed, 2)] == sent[2:]  # taken, never written
        self.die(feed)
        again = self.open()
        back = self.fetch(again, 2)
        assert [(d.body, d.redelivered) for d in back] == [(b, True) for b in sent[2:]]
        again.ack(back)
        assert again.fetch_batch(10, 0.1, 0.3) == []
        again.close()

    def test_a_requeued_batch_comes_back_in_order_redelivered(self) -> None:
        feed = self.open()
        sent = [self.publish(n) for n in range(3)]
        feed.requeue(self.fetch(feed, 3))
        again = self.fetch(feed, 3)
        assert [(d.body, d.redelivered) for d in again] == [(b, True) for b in sent]
        feed.ack(again)
        feed.close()

    def test_a_poison_message_is_copied_aside_with_its_error_and_acked_with_its_batch(
            self) -> None:
        feed = self.open()
        sent = [self.publish(n) for n in range(2)]
        batch = self.fetch(feed, 2)
        feed.dead_letter(batch[1], "not an envelope")
        feed.ack(batch)
        aside = self.broker.take(self.dead_letter_queue)
        assert aside is not None and aside.body == sent[1]
        assert aside.headers["x-error"] == "not an envelope"
        assert aside.headers["x-original-routing-key"] == TYPES[1]
        assert aside.headers["charging_station_id"] == "CP-1"
        self.die(feed)
        again = self.open()
        assert again.fetch_batch(10, 0.1, 0.3) == []
        again.close()


@pytest.mark.integration
class TestPikaEventFeed(EventFeedContract):
    @pytest.fixture(autouse=True)
    def broker_(self) -> Iterator[None]:
        self.use(RabbitBroker())
        yield
        self.broker.close()

    def open(self) -> EventFeed:
        return PikaEventFeed(self.broker.url, self.queue, self.exchange, self.dead_letter_queue)

    def die(self, feed: EventFeed) -> None:
        feed.close()  # the connection ends: RabbitMQ requeues what was not acknowledged


class TestEmbeddedEventFeed(EventFeedContract):
    @pytest.fixture(autouse=True)
    def broker_(self, tmp_path: Path) -> Iterator[None]:
        self.use(JournalBroker(tmp_path / "broker.sqlite3"))
        yield
        self.broker.close()

    def open(self) -> EventFeed:
        return EmbeddedEventFeed(self.broker.broker, self.queue, self.exchange,
                                 self.dead_letter_queue)

    def die(self, feed: EventFeed) -> None:
        self.broker.restart()
