"""One contract for the Notifier port (the gateway's event publisher), run against RabbitMQ, the
embedded broker on its journal and the recording fake of the unit tests: `publish` returns only
once every bound queue has the event (the gateway answers a station after that), routing key =
event type on a topic exchange, message id = event id, the station in `charging_station_id`;
an event nobody is bound for, or one the broker cannot store, raises PublishFailed."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from csms_embedded.journal import Journal
from ocpp_events.domain.events import Event
from ocpp_events.domain.ports import Notifier, PublishFailed
from ocpp_events.infrastructure.amqp_notifier import AmqpNotifier
from ocpp_events.infrastructure.inprocess_notifier import InProcessNotifier
from tests.support.brokers import TIME_FACTOR, JournalBroker, RabbitBroker, Seen

from ..conftest import NOW, RecordingNotifier

pytestmark = pytest.mark.contract
HEARTBEAT, BOOT = "ocpp-events.heart-beat", "ocpp-events.boot-notification"


def station_event(action: str = "Heartbeat") -> Event:
    return Event.for_call(station_id=f"CP-{uuid.uuid4().hex[:8]}", ocpp_version="1.6",
                          connection_id=str(uuid.uuid4()), message_id="1", action=action,
                          received_at=NOW, payload={}, response={"currentTime": "x"})


class NotifierContract:
    routes = True  # False: a fake without exchanges or queues (routing tests do not apply)

    async def notifier(self, require_routed: bool = True) -> Notifier:
        raise NotImplementedError

    async def broken_notifier(self) -> Notifier:
        """A notifier whose broker cannot take the event (down, or its storage failing)."""
        raise NotImplementedError

    def take(self, queue: str) -> Seen | None:
        return self.broker.take(queue, timeout=0.2)

    def bind(self, patterns: list[str]) -> str:
        queue = self.broker.name(f"q{len(patterns)}{uuid.uuid4().hex[:4]}")
        self.broker.queue(queue, self.exchange, patterns)
        return queue

    async def test_publish_returns_once_every_bound_queue_has_the_event(self) -> None:
        all_events, heartbeats = self.bind(["#"]), self.bind([HEARTBEAT])
        notifier = await self.notifier()
        heartbeat = station_event()
        await notifier.publish(heartbeat)
        await notifier.publish(station_event("BootNotification"))
        if self.routes:
            assert (self.broker.count(all_events), self.broker.count(heartbeats)) == (2, 1)
        got = self.take(heartbeats)
        assert got is not None
        assert (got.body, got.routing_key) == (heartbeat.to_json(), HEARTBEAT)
        assert got.message_id == heartbeat.event_id
        assert got.headers["charging_station_id"] == heartbeat.charging_station_id
        await notifier.close()

    async def test_an_event_nobody_is_bound_for_is_not_confirmed(self) -> None:
        if not self.routes:
            pytest.skip("the fake has no bindings")
        self.bind([HEARTBEAT])
        notifier = await self.notifier()
        with pytest.raises(PublishFailed):
            await notifier.publish(station_event("BootNotification"))
        await notifier.close()
        lenient = await self.notifier(require_routed=False)
        await lenient.publish(station_event("BootNotification"))
        await lenient.close()

    async def test_an_event_the_broker_cannot_store_raises_publish_failed(self) -> None:
        self.bind(["#"])
        notifier = await self.broken_notifier()
        with pytest.raises(PublishFailed):
            await notifier.publish(station_event())
        await notifier.close()


@pytest.mark.integration
class TestAmqpNotifier(NotifierContract):
    @pytest.fixture(autouse=True)
    async def broker_(self) -> AsyncIterator[None]:
        self.broker = RabbitBroker()
        self.exchange = self.broker.name("events")
        self.broker.exchange(self.exchange)
        yield
        self.broker.close()

    async def notifier(self, require_routed: bool = True) -> Notifier:
        notifier = AmqpNotifier(self.broker.url, self.exchange, require_routed)
        await notifier.start()
        assert await notifier.wait_connected(10 * TIME_FACTOR)
        return notifier

    async def broken_notifier(self) -> Notifier:
        notifier = AmqpNotifier("amqp://guest:guest@127.0.0.1:1/", self.exchange)
        await notifier.start()
        return notifier


class TestInProcessNotifier(NotifierContract):
    @pytest.fixture(autouse=True)
    def broker_(self, tmp_path: Path) -> None:
        self.broker = JournalBroker(tmp_path / "broker.sqlite3")
        self.exchange = self.broker.name("events")

    async def notifier(self, require_routed: bool = True) -> Notifier:
        return InProcessNotifier(self.broker.broker, self.exchange, require_routed)

    async def broken_notifier(self) -> Notifier:
        """The journal's file refuses the write (here: its table is gone)."""
        with sqlite3.connect(self.broker.path) as db:
            db.execute("DROP TABLE messages")
        return await self.notifier()

    async def test_a_confirmed_event_is_in_the_journal_file(self) -> None:
        queue = self.bind(["#"])
        notifier = await self.notifier()
        event = station_event()
        await notifier.publish(event)
        stored = Journal(self.broker.path).stored()[queue]  # as the next process reads it
        assert [m.body for m in stored] == [event.to_json()]


class TestRecordingNotifier(NotifierContract):
    routes = False

    @pytest.fixture(autouse=True)
    def fake(self) -> None:
        self.recording = RecordingNotifier()
        self.exchange = "ocpp-events"

    def bind(self, patterns: list[str]) -> str:
        return "any"

    def take(self, queue: str) -> Seen | None:
        if not self.recording.events:
            return None
        event = self.recording.events.pop(0)
        return Seen(event.to_json(), event.type,
                    {"charging_station_id": event.charging_station_id}, event.event_id)

    async def notifier(self, require_routed: bool = True) -> Notifier:
        return self.recording

    async def broken_notifier(self) -> Notifier:
        self.recording.failing = True
        return self.recording
