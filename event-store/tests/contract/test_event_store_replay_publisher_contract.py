"""One contract for the ReplayPublisher port, run against RabbitMQ and the embedded broker on its
journal: a replay to `all` goes through the events exchange with each event's routing key, to a
queue name straight into that queue only; order, the replay headers and the message id are
kept; `send` returns once the broker has stored every event; an unknown target is refused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from event_store.domain.events import StoredEvent
from event_store.domain.ports import TARGET_ALL, ReplayPage, ReplayPublisher
from event_store.infrastructure.embedded_broker import EmbeddedReplayPublisher
from event_store.infrastructure.rabbitmq_replay import PikaReplayPublisher
from tests.support.brokers import JournalBroker, RabbitBroker

pytestmark = pytest.mark.contract
T0 = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
TYPES = ["ocpp-events.boot-notification", "ocpp-events.status-notification"]


def pages(count: int, per_page: int = 3) -> list[ReplayPage]:
    events = []
    for n in range(count):
        event_id, station = str(uuid.uuid4()), f"CP-{n}"
        stored = StoredEvent(event_id, TYPES[n % 2], T0 + timedelta(seconds=n), station, None,
                             f'{{"event_id": "{event_id}", "n": {n}}}'.encode())
        events.append((stored, {"charging_station_id": station, "replayed": True,
                                "replay_id": "job-1"}))
    return [events[i:i + per_page] for i in range(0, count, per_page)]


class ReplayPublisherContract:
    broker: RabbitBroker | JournalBroker

    def publisher(self) -> ReplayPublisher:
        raise NotImplementedError

    def use(self, broker: RabbitBroker | JournalBroker) -> None:
        self.broker = broker
        self.exchange = broker.name("events")
        self.queue = broker.name("save-server")
        self.other = broker.name("event-store")
        broker.queue(self.queue, self.exchange, [TYPES[0], TYPES[1]])
        broker.queue(self.other, self.exchange, ["#"])

    def send(self, target: str, replay: list[ReplayPage]) -> list[int]:
        sent: list[int] = []
        publisher = self.publisher()
        try:
            publisher.send(target, replay, sent.append)
        finally:
            publisher.close()
        return sent

    def test_a_replay_to_all_reaches_every_bound_queue_in_order_with_its_headers(self) -> None:
        replay = pages(7)
        sent = self.send(TARGET_ALL, replay)
        assert sum(sent) == 7
        events = [event for page in replay for event, _ in page]
        for queue in (self.queue, self.other):
            assert self.broker.count(queue) == 7  # stored when `send` returned
            got = [self.broker.take(queue) for _ in events]
            assert [(m.routing_key, m.body, m.message_id) for m in got if m] == [
                (e.routing_key, e.body, e.event_id) for e in events]
            assert [m.headers for m in got if m] == [
                {"charging_station_id": e.charging_station_id, "replayed": True,
                 "replay_id": "job-1"} for e in events]

    def test_a_replay_to_a_queue_reaches_that_queue_only(self) -> None:
        replay = pages(4)
        assert sum(self.send(self.queue, replay)) == 4
        assert self.broker.count(self.queue) == 4
        assert [self.broker.take(self.queue).routing_key for _ in range(4)] == [
            e.routing_key for page in replay for e, _ in page]
        assert self.broker.count(self.other) == 0

    def test_an_unknown_target_is_refused(self) -> None:
        with pytest.raises(LookupError):
            self.send(self.broker.name("nobody"), pages(1))
        assert self.broker.count(self.other) == 0

    def test_a_replay_to_all_with_nobody_bound_is_not_an_error(self) -> None:
        self.exchange = self.broker.name("lonely")
        self.broker.exchange(self.exchange)
        assert sum(self.send(TARGET_ALL, pages(2))) == 2


@pytest.mark.integration
class TestPikaReplayPublisher(ReplayPublisherContract):
    @pytest.fixture(autouse=True)
    def broker_(self) -> Iterator[None]:
        self.use(RabbitBroker())
        yield
        self.broker.close()

    def publisher(self) -> ReplayPublisher:
        return PikaReplayPublisher(self.broker.url, self.exchange)


class TestEmbeddedReplayPublisher(ReplayPublisherContract):
    @pytest.fixture(autouse=True)
    def broker_(self, tmp_path: Path) -> Iterator[None]:
        self.use(JournalBroker(tmp_path / "broker.sqlite3"))
        yield
        self.broker.close()

    def publisher(self) -> ReplayPublisher:
        return EmbeddedReplayPublisher(self.broker.broker, self.exchange)

    def test_what_send_returned_for_is_on_disk(self) -> None:
        """The embedded broker's confirm: a new process on the journal finds the replay."""
        self.send(self.queue, pages(3))
        broker = self.broker.restart()
        broker.declare_queue(self.queue, durable=True)
        assert broker.depth(self.queue) == 3
