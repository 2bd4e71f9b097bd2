"""The ingest worker on the in-process broker of the embedded mode."""

from __future__ import annotations

import json
import threading
import time

import pytest

from csms_embedded.broker import InProcessBroker
from event_store.domain.queries import EventQuery
from event_store.infrastructure.embedded_broker import EmbeddedEventFeed
from event_store.infrastructure.worker import (
    BatchPolicy,
    BatchWriteFailed,
    IngestWorker,
    store_batch,
)

EXCHANGE = "ocpp-events"
QUEUE, DLQ = "event-store", "event-store.dead-letter"
FAST = BatchPolicy(max_messages=500, max_wait=0.05, idle_wait=0.05, retry_delay=0.01)


@pytest.fixture
def broker() -> InProcessBroker:
    return InProcessBroker()


@pytest.fixture
def feed(broker) -> EmbeddedEventFeed:
    return EmbeddedEventFeed(broker, QUEUE, EXCHANGE, DLQ)


def publish(broker, body: bytes) -> None:
    try:
        routing_key = json.loads(body)["type"]
    except ValueError:
        routing_key = "ocpp-events.garbage"
    assert broker.publish(EXCHANGE, routing_key, body, {"charging_station_id": "CP"}) == 1


def drain(worker: IngestWorker) -> None:
    while worker.run_once() is not None:
        pass


def test_queue_is_bound_with_hash_so_every_type_reaches_the_store(broker, feed, envelope):
    for event_type in ("ocpp-events.boot-notification", "ocpp-events.disconnect", "other.x.y"):
        publish(broker, envelope(event_type=event_type))
    assert broker.depth(QUEUE) == 3


def test_worker_stores_a_batch_in_one_write_and_acks_it(broker, feed, sqlite_storage, envelope):
    for _ in range(120):
        publish(broker, envelope())
    result = IngestWorker(feed, sqlite_storage, FAST).run_once()
    assert (result.received, result.stored, result.dead_lettered) == (120, 120, 0)
    assert broker.depth(QUEUE) == 0
    broker.recover(QUEUE)  # nothing unacknowledged is left to come back
    assert broker.depth(QUEUE) == 0


def test_batches_are_capped_at_the_configured_size(broker, feed, sqlite_storage, envelope):
    for _ in range(25):
        publish(broker, envelope())
    worker = IngestWorker(feed, sqlite_storage, BatchPolicy(max_messages=10, max_wait=0.05,
                                                            idle_wait=0.05))
    assert [worker.run_once().received for _ in range(3)] == [10, 10, 5]


def test_a_batch_also_takes_what_arrives_within_max_wait_in_order(broker, feed, envelope):
    bodies = [envelope() for _ in range(6)]
    for body in bodies[:2]:
        publish(broker, body)
    late = threading.Timer(0.05, lambda: [publish(broker, b) for b in bodies[2:]])
    late.start()
    try:
        batch = feed.fetch_batch(max_messages=5, max_wait=1.0, idle_wait=0.1)
    finally:
        late.join()
    assert [d.body for d in batch] == bodies[:5]
    assert [d.body for d in feed.fetch_batch(5, 0.01, 0.01)] == bodies[5:]


def test_duplicates_and_redeliveries_are_stored_once(broker, feed, sqlite_storage, envelope):
    body = envelope()
    publish(broker, body)
    publish(broker, body)
    worker = IngestWorker(feed, sqlite_storage, FAST)
    drain(worker)
    publish(broker, body)
    message = broker.get(QUEUE, timeout=1)
    broker.nack(QUEUE, message, requeue=True)  # comes back flagged redelivered
    drain(worker)
    assert len(sqlite_storage.find(EventQuery())) == 1
    assert broker.depth(QUEUE) == 0


def test_poison_goes_to_the_dead_letter_queue_with_the_error(broker, feed, sqlite_storage,
                                                             envelope):
    good = envelope()
    publish(broker, b"{ not json")
    publish(broker, good)
    result = IngestWorker(feed, sqlite_storage, FAST).run_once()
    assert (result.stored, result.dead_lettered) == (1, 1)
    dead = broker.get(DLQ, timeout=1)
    assert dead.body == b"{ not json"
    assert "not UTF-8 JSON" in dead.headers["x-error"]
    assert broker.depth(QUEUE) == 0


class FailingStorage:
    """A storage whose writes fail, to prove nothing is acked before a write succeeds."""

    def save_many(self, events):
        raise OSError("disk full")


def test_a_failed_write_requeues_the_batch_in_order(broker, feed, envelope, sqlite_storage):
    bodies = [envelope() for _ in range(3)]
    for body in bodies:
        publish(broker, body)
    batch = feed.fetch_batch(10, 0.05, 0.05)
    with pytest.raises(BatchWriteFailed, match="disk full"):
        store_batch(feed, FailingStorage(), batch)
    assert broker.depth(QUEUE) == 3
    retry = feed.fetch_batch(10, 0.05, 0.05)
    assert [d.body for d in retry] == bodies
    assert all(d.redelivered for d in retry)
    store_batch(feed, sqlite_storage, retry)
    assert len(sqlite_storage.find(EventQuery())) == 3


def test_worker_thread_consumes_until_stopped(broker, feed, sqlite_storage, envelope):
    stop = threading.Event()
    thread = threading.Thread(target=IngestWorker(feed, sqlite_storage, FAST).run, args=(stop,))
    thread.start()
    try:
        for _ in range(50):
            publish(broker, envelope())
        deadline = time.monotonic() + 5
        while len(sqlite_storage.find(EventQuery())) < 50 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(sqlite_storage.find(EventQuery())) == 50
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()


class FlakyStorage:
    """Fails its first write, then writes through to the real storage."""

    def __init__(self, storage) -> None:
        self._storage, self.calls = storage, 0

    def save_many(self, events):
        self.calls += 1
        if self.calls == 1:
            raise OSError("disk busy")
        return self._storage.save_many(events)


def test_run_loop_stores_every_batch_once_after_a_failed_write_and_acks_all(
        broker, feed, sqlite_storage, envelope):
    for _ in range(35):
        publish(broker, envelope())
    flaky = FlakyStorage(sqlite_storage)
    worker = IngestWorker(feed, flaky, BatchPolicy(max_messages=10, max_wait=0.01,
                                                   idle_wait=0.05, retry_delay=0.01))
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while len(sqlite_storage.find(EventQuery())) < 35 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert len(sqlite_storage.find(EventQuery(limit=100))) == 35
    assert flaky.calls >= 5  # 4 batches of at most 10, one of them written twice
    broker.recover(QUEUE)  # everything was acknowledged: nothing comes back
    assert broker.depth(QUEUE) == 0


def test_queue_lag_is_measured_from_the_gateways_receipt_to_the_write(
        broker, feed, sqlite_storage, envelope):
    from datetime import UTC, datetime, timedelta

    from prometheus_client import REGISTRY

    def observed() -> tuple[float, float]:
        return (REGISTRY.get_sample_value("event_store_event_lag_seconds_count") or 0.0,
                REGISTRY.get_sample_value("event_store_event_lag_seconds_sum") or 0.0)

    count_before, sum_before = observed()
    ten_minutes_ago = datetime.now(UTC) - timedelta(minutes=10)
    publish(broker, envelope(received_at=ten_minutes_ago))
    assert IngestWorker(feed, sqlite_storage, FAST).run_once().stored == 1
    count, total = observed()
    assert count == count_before + 1
    assert 590 < total - sum_before < 700
