"""The ingest worker against the real RabbitMQ (unique exchange/queue names, deleted after)."""

from __future__ import annotations

import json
import time

import pika
import pytest

from event_store.domain.queries import EventQuery
from event_store.infrastructure.rabbitmq import PikaEventFeed
from event_store.infrastructure.worker import (
    BatchPolicy,
    BatchWriteFailed,
    IngestWorker,
    store_batch,
)

pytestmark = pytest.mark.integration
FAST = BatchPolicy(max_messages=500, max_wait=0.1, idle_wait=0.3)


@pytest.fixture
def channel(rabbitmq):
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq["url"]))
    channel = connection.channel()
    channel.confirm_delivery()
    yield channel
    connection.close()


@pytest.fixture
def open_feed(rabbitmq):
    feeds: list[PikaEventFeed] = []

    def open_() -> PikaEventFeed:
        feeds.append(PikaEventFeed(rabbitmq["url"], rabbitmq["queue"], rabbitmq["exchange"],
                                   rabbitmq["dead_letter_queue"], prefetch=500))
        return feeds[-1]
    yield open_
    for feed in feeds:
        feed.close()


def publish(channel, rabbitmq, body: bytes, routing_key: str = "ocpp-events.heart-beat") -> None:
    channel.basic_publish(rabbitmq["exchange"], routing_key, body,
                          pika.BasicProperties(delivery_mode=2, content_type="application/json"))


def queue_depth(channel, queue: str) -> int:
    return channel.queue_declare(queue, passive=True).method.message_count


def consume_until(worker: IngestWorker, storage, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(storage.find(EventQuery(limit=1000))) < count and time.monotonic() < deadline:
        worker.run_once()
    worker.run_once()  # one more round: anything extra (duplicates) would show up now


def test_published_events_are_stored_once_and_acked(rabbitmq, channel, open_feed,
                                                    sqlite_storage, envelope):
    feed = open_feed()
    bodies = [envelope(event_type=t) for t in ("ocpp-events.boot-notification",
                                               "ocpp-events.status-notification",
                                               "ocpp-events.disconnect") for _ in range(10)]
    for body in bodies:
        publish(channel, rabbitmq, body, routing_key=json.loads(body)["type"])
    consume_until(IngestWorker(feed, sqlite_storage, FAST), sqlite_storage, 30)
    stored = sqlite_storage.find(EventQuery(limit=1000))
    assert sorted(e.body for e in stored) == sorted(bodies)
    feed.close()  # anything unacknowledged would now go back to the queue
    assert queue_depth(channel, rabbitmq["queue"]) == 0


def test_duplicates_and_redeliveries_after_a_crash_are_stored_once(rabbitmq, channel, open_feed,
                                                                  sqlite_storage, envelope):
    first = open_feed()
    body = envelope()
    for _ in range(3):
        publish(channel, rabbitmq, body)
    taken = first.fetch_batch(10, 0.3, 2.0)
    assert len(taken) == 3
    first.close()  # crash before the write: RabbitMQ redelivers the batch
    second = open_feed()
    worker = IngestWorker(second, sqlite_storage, FAST)
    batch = second.fetch_batch(10, 0.3, 2.0)
    assert len(batch) == 3 and all(d.redelivered for d in batch)
    store_batch(second, sqlite_storage, batch)
    publish(channel, rabbitmq, body)  # and a later copy (e.g. a replay)
    consume_until(worker, sqlite_storage, 1, timeout=1.0)
    assert len(sqlite_storage.find(EventQuery())) == 1
    second.close()
    assert queue_depth(channel, rabbitmq["queue"]) == 0


def test_poison_message_goes_to_the_dead_letter_queue_with_the_error(rabbitmq, channel,
                                                                     open_feed, sqlite_storage,
                                                                     envelope):
    feed = open_feed()
    publish(channel, rabbitmq, b"\x00garbage")
    publish(channel, rabbitmq, envelope())
    consume_until(IngestWorker(feed, sqlite_storage, FAST), sqlite_storage, 1)
    assert len(sqlite_storage.find(EventQuery())) == 1
    method, properties, body = channel.basic_get(rabbitmq["dead_letter_queue"], auto_ack=True)
    assert method is not None, "poison message not in the dead-letter queue"
    assert body == b"\x00garbage"
    assert "not UTF-8 JSON" in properties.headers["x-error"]
    assert properties.headers["x-original-routing-key"] == "ocpp-events.heart-beat"
    feed.close()
    assert queue_depth(channel, rabbitmq["queue"]) == 0


class FailingStorage:
    def save_many(self, events):
        raise OSError("database down")


def test_nothing_is_acked_when_the_write_fails(rabbitmq, channel, open_feed, envelope):
    feed = open_feed()
    for _ in range(4):
        publish(channel, rabbitmq, envelope())
    batch = feed.fetch_batch(10, 0.3, 2.0)
    assert len(batch) == 4
    with pytest.raises(BatchWriteFailed):
        store_batch(feed, FailingStorage(), batch)
    again = feed.fetch_batch(10, 0.3, 2.0)
    assert [d.body for d in again] == [d.body for d in batch]
    feed.close()
    assert queue_depth(channel, rabbitmq["queue"]) == 4
