"""Replays through the real RabbitMQ (unique exchange/queue names, deleted after)."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta

import pika
import pytest

from event_store.domain.queries import EventQuery
from event_store.infrastructure.rabbitmq_replay import PikaReplayPublisher
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


def test_replay_to_a_missing_target_fails_and_says_why(rabbitmq, channel, sqlite_storage,
                                                      events):
    service = ReplayService(sqlite_storage,
                            lambda: PikaReplayPublisher(rabbitmq["url"], rabbitmq["exchange"]))
    job = run(service, EventQuery(), f"{rabbitmq['target_queue']}-missing")
    assert job.state is ReplayState.FAILED
    assert job.events_sent == 0
    assert "no exchange or queue named" in job.errors[0]


@pytest.fixture
def sharded(rabbitmq, channel):
    """A consumer sharded behind an exchange named like it: `<name>.0` gets start
    transactions, `<name>.1` status notifications (a direct exchange on the routing key proves
    the rule; the real one is x-consistent-hash). A queue with the bare name exists too."""
    name = f"{rabbitmq['target_queue']}-sharded"
    channel.exchange_declare(name, exchange_type="direct", durable=False, auto_delete=False)
    shards = [f"{name}.0", f"{name}.1"]
    for shard, key in zip(shards, ["ocpp-events.start-transaction",
                                   "ocpp-events.status-notification"], strict=True):
        channel.queue_declare(shard, durable=True)
        channel.queue_bind(shard, name, routing_key=key)
    channel.queue_declare(name, durable=True)
    yield name, shards
    for queue in [*shards, name]:
        channel.queue_delete(queue)
    channel.exchange_delete(name)


def test_a_target_with_an_exchange_of_its_name_gets_the_events_through_that_exchange(
        rabbitmq, channel, sqlite_storage, events, sharded):
    name, shards = sharded
    service = ReplayService(sqlite_storage,
                            lambda: PikaReplayPublisher(rabbitmq["url"], rabbitmq["exchange"]),
                            page_size=3)
    job = run(service, EventQuery(types=("ocpp-events.start-transaction",
                                         "ocpp-events.status-notification")), name)
    assert job.state is ReplayState.COMPLETED, job.errors
    assert job.events_sent == 10
    starts, statuses = (drain(channel, shard) for shard in shards)
    assert [body for _, _, body in starts] == [e.body for e in events[2::4]]
    assert [body for _, _, body in statuses] == [e.body for e in events[1::4]]
    assert {m.routing_key for m, _, _ in starts} == {"ocpp-events.start-transaction"}
    assert all(p.headers["replayed"] is True and p.delivery_mode == 2
               for _, p, _ in starts + statuses)
    assert drain(channel, name) == []  # the exchange wins over the queue of the same name
    assert drain(channel, rabbitmq["queue"]) == []


def test_an_event_no_shard_is_bound_for_fails_the_replay(rabbitmq, channel, sqlite_storage,
                                                        events, sharded):
    name, _shards = sharded
    service = ReplayService(sqlite_storage,
                            lambda: PikaReplayPublisher(rabbitmq["url"], rabbitmq["exchange"]))
    job = run(service, EventQuery(types=("ocpp-events.boot-notification",)), name)
    assert job.state is ReplayState.FAILED
    assert "unroutable" in job.errors[0] and repr(name) in job.errors[0]


def test_a_queue_deleted_in_the_middle_of_a_replay_fails_it(rabbitmq, channel, make_event):
    publisher = PikaReplayPublisher(rabbitmq["url"], rabbitmq["exchange"])
    event = make_event()
    sent: list[int] = []

    def pages():
        yield [(event, {"replayed": True})]
        channel.queue_delete(rabbitmq["target_queue"])  # gone while the replay runs
        yield [(event, {"replayed": True})]

    with pytest.raises(LookupError, match="unroutable"):
        publisher.send(rabbitmq["target_queue"], pages(), sent.append)
    assert sum(sent) <= 1


def test_confirms_are_counted_once_however_the_broker_groups_them():
    """Pure unit test of the confirm bookkeeping (single and `multiple` acks, any order)."""
    from event_store.infrastructure.rabbitmq_replay import _ConfirmedStream

    stream = _ConfirmedStream.__new__(_ConfirmedStream)
    stream._unconfirmed, stream._confirmed_early = deque(range(1, 11)), set()
    counted = [stream._confirm(3, multiple=False), stream._confirm(1, multiple=False),
               stream._confirm(5, multiple=True), stream._confirm(7, multiple=False),
               stream._confirm(6, multiple=False), stream._confirm(10, multiple=True)]
    assert counted == [1, 1, 3, 1, 1, 3]
    assert sum(counted) == 10 and stream._outstanding() == 0


def test_many_pages_keep_their_order_through_the_confirm_window(rabbitmq, channel,
                                                               make_event):
    """More events than the window, in small pages: every one arrives once, in order."""
    events = [make_event(station=f"CP-{i % 7}") for i in range(2_500)]
    publisher = PikaReplayPublisher(rabbitmq["url"], rabbitmq["exchange"], window=300)
    sent: list[int] = []
    pages = [[(e, {"replayed": True}) for e in events[i:i + 64]]
             for i in range(0, len(events), 64)]
    publisher.send(rabbitmq["target_queue"], pages, sent.append)
    assert sum(sent) == len(events)
    received = drain(channel, rabbitmq["target_queue"])
    assert [p.message_id for _, p, _ in received] == [e.event_id for e in events]
