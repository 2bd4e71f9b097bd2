"""Replays through the real RabbitMQ (unique exchange/queue names, deleted after)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pika
import pytest

from event_store.domain.queries import EventQuery
from event_store.infrastructure.rabbitmq import PikaReplayPublisher
from event_store.service.replay import ReplayService, ReplayState

pytestmark = pytest.mark.integration
T0 = datetime(2025, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture
def channel(rabbitmq):
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq["url"]))
    channel = connection.channel()
    channel.queue_declare(rabbitmq["queue"], durable=True)
    channel.queue_bind(rabbitmq["queue"], rabbitmq["exchange"], routing_key="#")
    channel.queue_declare(rabbitmq["target_queue"], durable=True)
    yield channel
    connection.close()


@pytest.fixture
def events(sqlite_storage, make_event):
    events = [make_event(station="CP-R", event_type=t, received_at=T0 + timedelta(seconds=i))
              for i, t in enumerate(["ocpp-events.boot-notification",
                                     "ocpp-events.status-notification",
                                     "ocpp-events.start-transaction",
                                     "ocpp-events.stop-transaction"] * 5)]
    sqlite_storage.save_many(list(reversed(events)))
    return events


def drain(channel, queue: str) -> list[tuple]:
    messages = []
    while True:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return messages
        messages.append((method, properties, body))


def run(service: ReplayService, query: EventQuery, target: str):
    job = service.start(query, target)
    service.wait(job.id, 20)
    return job


def test_replay_to_all_republishes_to_the_exchange_in_order(rabbitmq, channel, sqlite_storage,
                                                            events):
    service = ReplayService(sqlite_storage,
                            lambda: PikaReplayPublisher(rabbitmq["url"], rabbitmq["exchange"]),
                            page_size=7)
    job = run(service, EventQuery(charging_station_id="CP-R"), "all")
    assert job.state is ReplayState.COMPLETED, job.errors
    assert job.events_sent == 20
    received = drain(channel, rabbitmq["queue"])
    assert [body for _, _, body in received] == [e.body for e in events]
    assert [m.routing_key for m, _, _ in received] == [e.type for e in events]
    assert all(p.headers["replayed"] is True for _, p, _ in received)
    assert [p.message_id for _, p, _ in received] == [e.event_id for e in events]
    assert all(p.delivery_mode == 2 for _, p, _ in received)
    assert drain(channel, rabbitmq["target_queue"]) == []


def test_replay_to_one_queue_reaches_only_that_queue(rabbitmq, channel, sqlite_storage, events):
    service = ReplayService(sqlite_storage,
                            lambda: PikaReplayPublisher(rabbitmq["url"], rabbitmq["exchange"]))
    job = run(service, EventQuery(types=("ocpp-events.start-transaction",)),
              rabbitmq["target_queue"])
    assert job.state is ReplayState.COMPLETED, job.errors
    received = drain(channel, rabbitmq["target_queue"])
    assert [body for _, _, body in received] == [e.body for e in events[2::4]]
    assert drain(channel, rabbitmq["queue"]) == []


def test_replay_to_a_missing_queue_fails_and_says_why(rabbitmq, channel, sqlite_storage, events):
    service = ReplayService(sqlite_storage,
                            lambda: PikaReplayPublisher(rabbitmq["url"], rabbitmq["exchange"]))
    job = run(service, EventQuery(), f"{rabbitmq['target_queue']}-missing")
    assert job.state is ReplayState.FAILED
    assert job.events_sent == 0
    assert "no queue named" in job.errors[0]


def test_a_message_returned_as_unroutable_fails_at_the_next_flush(rabbitmq, channel, make_event):
    publisher = PikaReplayPublisher(rabbitmq["url"], rabbitmq["exchange"])
    try:
        event = make_event()
        publisher.publish_to_queue(rabbitmq["target_queue"], event, {"replayed": True})
        publisher.flush()
        channel.queue_delete(rabbitmq["target_queue"])  # gone in the middle of a replay
        publisher.publish_to_queue(rabbitmq["target_queue"], event, {"replayed": True})
        with pytest.raises(LookupError, match="unroutable"):
            publisher.flush()
    finally:
        publisher.close()
