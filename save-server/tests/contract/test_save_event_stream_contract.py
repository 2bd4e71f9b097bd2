"""One contract for the EventStream port (save-server's worker input), run against RabbitMQ and
the embedded broker on its journal: what the worker relies on — topic routing to its queue, one
copy per queue, ack after commit (what was not acknowledged comes back, flagged redelivered,
after the consumer dies), requeue, dead-letter with the error, order kept."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from save_server.domain.ports import Delivery, EventStream
from save_server.infrastructure.messaging.embedded import EmbeddedEventStream
from save_server.infrastructure.messaging.rabbitmq import RabbitEventStream
from tests.support.brokers import TIME_FACTOR, JournalBroker, RabbitBroker, Seen

pytestmark = pytest.mark.contract
BOOT, HEARTBEAT, STATUS = ("ocpp-events.boot-notification", "ocpp-events.heartbeat",
                           "ocpp-events.status-notification")


def event(event_type: str, n: int = 0) -> bytes:
    return json.dumps({"event_id": str(uuid.uuid4()), "type": event_type, "n": n}).encode()


class EventStreamContract:
    broker: RabbitBroker | JournalBroker

    def open(self, queue: str, event_types: list[str]) -> EventStream:
        raise NotImplementedError

    def die(self, stream: EventStream) -> None:
        """The consumer's process goes away without a graceful drain."""
        raise NotImplementedError

    def use(self, broker: RabbitBroker | JournalBroker) -> None:
        self.broker = broker
        self.exchange = broker.name("events")
        self.queue = broker.name("save-server")

    def publish(self, event_type: str, body: bytes) -> None:
        self.broker.publish(self.exchange, event_type, body,
                            headers={"charging_station_id": "CP-1"})

    def receive(self, stream: EventStream, timeout: float = 5.0) -> Delivery | None:
        return stream.receive(timeout * TIME_FACTOR)

    def test_only_the_bound_types_arrive_in_order_with_body_and_routing_key(self) -> None:
        stream = self.open(self.queue, [BOOT, STATUS])
        sent = [(BOOT, event(BOOT, 0)), (HEARTBEAT, event(HEARTBEAT, 1)),
                (STATUS, event(STATUS, 2)), (BOOT, event(BOOT, 3))]
        for event_type, body in sent:
            self.publish(event_type, body)
        got = [self.receive(stream) for _ in range(3)]
        assert [(d.routing_key, d.body) for d in got if d] == [sent[0], sent[2], sent[3]]
        assert not any(d.redelivered for d in got if d)
        for delivery in got:
            stream.ack(delivery)
        assert self.receive(stream, 0.3) is None
        stream.close()

    def test_each_queue_gets_its_own_copy(self) -> None:
        first = self.open(self.queue, [BOOT])
        other = self.open(self.broker.name("other"), [BOOT])
        body = event(BOOT)
        self.publish(BOOT, body)
        for stream in (first, other):
            delivery = self.receive(stream)
            assert delivery is not None and delivery.body == body
            stream.ack(delivery)
            stream.close()

    def test_what_was_not_acknowledged_comes_back_in_order_redelivered_after_the_consumer_dies(
            self) -> None:
        stream = self.open(self.queue, [BOOT])
        committed, in_hand = event(BOOT, 1), [event(BOOT, 2), event(BOOT, 3)]
        for body in (committed, *in_hand):
            self.publish(BOOT, body)
        stream.ack(self.receive(stream))  # committed, then acknowledged
        assert [self.receive(stream).body for _ in in_hand] == in_hand  # taken, not committed
        self.die(stream)
        again = self.open(self.queue, [BOOT])
        back = [self.receive(again) for _ in in_hand]
        assert [(d.body, d.redelivered) for d in back if d] == [(b, True) for b in in_hand]
        for delivery in back:
            again.ack(delivery)
        assert self.receive(again, 0.3) is None
        again.close()

    def test_a_requeued_event_comes_back_redelivered(self) -> None:
        """No order is promised here: the ordered worker closes its stream instead."""
        stream = self.open(self.queue, [BOOT])
        first, second = event(BOOT, 1), event(BOOT, 2)
        self.publish(BOOT, first)
        self.publish(BOOT, second)
        stream.requeue(self.receive(stream))
        got = [self.receive(stream), self.receive(stream)]
        assert {(d.body, d.redelivered) for d in got if d} == {(first, True), (second, False)}
        for delivery in got:
            stream.ack(delivery)
        assert self.receive(stream, 0.3) is None
        stream.close()

    def test_a_dead_lettered_event_is_set_aside_with_its_error_and_not_delivered_again(
            self) -> None:
        stream = self.open(self.queue, [BOOT])
        poison = event(BOOT)
        self.publish(BOOT, poison)
        stream.dead_letter(self.receive(stream), "unreadable: test")
        aside = self.broker.take(f"{self.queue}.dead-letter")
        assert isinstance(aside, Seen) and aside.body == poison
        assert aside.headers["x-error"] == "unreadable: test"
        assert aside.headers["x-original-routing-key"] == BOOT
        assert aside.headers["charging_station_id"] == "CP-1"
        self.die(stream)
        again = self.open(self.queue, [BOOT])
        assert self.receive(again, 0.3) is None
        again.close()


@pytest.mark.integration
class TestRabbitEventStream(EventStreamContract):
    @pytest.fixture(autouse=True)
    def broker_(self) -> Iterator[None]:
        self.use(RabbitBroker())
        yield
        self.broker.close()

    def open(self, queue: str, event_types: list[str]) -> EventStream:
        return RabbitEventStream(self.broker.url, self.exchange, queue, event_types)

    def die(self, stream: EventStream) -> None:
        stream.close()  # the connection ends: RabbitMQ requeues what it had not seen acked


class TestEmbeddedEventStream(EventStreamContract):
    @pytest.fixture(autouse=True)
    def broker_(self, tmp_path: Path) -> Iterator[None]:
        self.use(JournalBroker(tmp_path / "broker.sqlite3"))
        yield
        self.broker.close()

    def open(self, queue: str, event_types: list[str]) -> EventStream:
        return EmbeddedEventStream(self.broker.broker, self.exchange, queue, event_types)

    def die(self, stream: EventStream) -> None:
        self.broker.restart()
