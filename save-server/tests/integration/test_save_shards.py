"""SAVE_SERVER_SHARDS on the real RabbitMQ and PostgreSQL: the consistent-hash topology, and two
workers that share the shards yet handle each station's events in publish order, also when one
of them fails mid-run and its shards' events come back to the other."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pika
import pytest
from sqlalchemy.exc import OperationalError

from save_server.bootstrap import bootstrap
from save_server.config import Settings
from save_server.infrastructure.messaging import worker as worker_module
from save_server.infrastructure.messaging.rabbitmq import RabbitEventStream, shard_queues
from save_server.infrastructure.messaging.worker import Backoff, EventWorker
from save_server.infrastructure.translation import HANDLED_TYPES

from .conftest import AMQP_URL, missing

pytestmark = pytest.mark.integration
SHARDS = 4


@pytest.fixture
def names() -> Iterator[tuple[str, str]]:
    """(exchange, queue) of this test; every object declared under them is deleted after."""
    try:
        connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    except Exception as error:
        missing(f"RabbitMQ is not reachable at {AMQP_URL}: {error}")
    suffix = uuid.uuid4().hex[:10]
    exchange, queue = f"test-shard-events-{suffix}", f"test-shard-save-server-{suffix}"
    yield exchange, queue
    channel = connection.channel()
    for name in [*shard_queues(queue, SHARDS), f"{queue}.dead-letter"]:
        channel.queue_delete(name)
    for name in (queue, exchange, f"{exchange}.dead-letter"):
        channel.exchange_delete(name)
    connection.close()


def stream(exchange: str, queue: str, rebalance_seconds: float = 0.3) -> RabbitEventStream:
    try:
        return RabbitEventStream(AMQP_URL, exchange, queue, HANDLED_TYPES, prefetch=20,
                                 shards=SHARDS, rebalance_seconds=rebalance_seconds)
    except (pika.exceptions.ChannelClosedByBroker,
            pika.exceptions.ConnectionClosedByBroker) as error:  # COMMAND_INVALID closes both
        if "x-consistent-hash" in str(error):
            pytest.fail(f"enable the plugin: rabbitmq-plugins enable "
                        f"rabbitmq_consistent_hash_exchange ({error})")  # a failure, never a skip
        raise


def publisher(exchange: str) -> tuple[Callable[[dict[str, Any]], None], Callable[[], None]]:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    channel.confirm_delivery()

    def publish(event: dict[str, Any]) -> None:
        channel.basic_publish(exchange, event["type"], json.dumps(event).encode(),
                              pika.BasicProperties(
                                  headers={"charging_station_id": event["charging_station_id"]},
                                  delivery_mode=2))
    return publish, connection.close


def test_a_station_always_lands_in_the_same_shard_and_stations_spread(
        names: tuple[str, str], charger: Callable[..., Any]) -> None:
    exchange, queue = names
    stream(exchange, queue).close()  # declares the topology
    publish, close = publisher(exchange)
    stations = [charger() for _ in range(40)]
    try:
        for _ in range(3):
            for station in stations:
                publish(station.heartbeat())
    finally:
        close()
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        channel = connection.channel()
        shards: dict[str, set[str]] = {}
        for name in shard_queues(queue, SHARDS):
            while (message := channel.basic_get(name, auto_ack=True))[0] is not None:
                station_id = message[1].headers["charging_station_id"]
                shards.setdefault(station_id, set()).add(name)
    finally:
        connection.close()
    assert set(shards) == {s.station_id for s in stations}
    assert all(len(found) == 1 for found in shards.values())  # one shard per station
    assert len({name for found in shards.values() for name in found}) >= 3  # spread


def wait_for_consumers(queue: str, count: int, timeout: float = 30) -> None:
    """Until each shard queue has `count` consumers. The workers declare the topology: events
    published before it exists would be dropped, and a loaded machine can take a second to
    open a stream (no head start of a fixed length is enough)."""
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel, deadline = connection.channel(), time.monotonic() + timeout
    try:
        while True:
            try:
                counts = [channel.queue_declare(name, passive=True).method.consumer_count
                          for name in shard_queues(queue, SHARDS)]
            except pika.exceptions.ChannelClosedByBroker:  # 404: not declared yet
                channel, counts = connection.channel(), [0]
            if min(counts) >= count:
                return
            assert time.monotonic() < deadline, f"{count} consumer(s) per shard: {counts}"
            time.sleep(0.05)
    finally:
        connection.close()


class Recorder:
    """Wraps the worker's ingest: per station, the order in which events were committed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.order: dict[str, list[str]] = {}
        self.by_worker: dict[str, int] = {}
        self.fail_in: dict[str, int] = {}  # thread name → commits left before it fails once

    def wrap(self, ingest: Callable[..., list[bool]]) -> Callable[..., list[bool]]:
        def recording(uow_factory: Any, events: Any) -> list[bool]:
            name = threading.current_thread().name
            with self.lock:
                left = self.fail_in.get(name)
                if left is not None:
                    self.fail_in[name] = left - 1
                    if left == 0:
                        raise OperationalError("COMMIT", {}, Exception("connection reset"))
            applied = ingest(uow_factory, events)
            with self.lock:
                for event, was_applied in zip(events, applied, strict=True):
                    if was_applied:
                        station = event.commands[0].station_id
                        self.order.setdefault(station, []).append(event.event_id)
                        self.by_worker[name] = self.by_worker.get(name, 0) + 1
            return applied
        return recording


@pytest.mark.parametrize("failure", [False, True], ids=["steady", "one-worker-fails"])
def test_two_workers_share_the_shards_and_keep_each_stations_order(
        failure: bool, names: tuple[str, str], postgres_url: str, tmp_path: Path,
        charger: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    exchange, queue = names
    recorder = Recorder()
    monkeypatch.setattr(worker_module, "ingest_events", recorder.wrap(worker_module.ingest_events))
    if failure:
        recorder.fail_in["worker-a"] = 5  # its 6th batch fails: the stream reopens
    container = bootstrap(Settings(database_url=postgres_url, data_dir=tmp_path))
    stop = threading.Event()
    threads = []
    for name in ("worker-a", "worker-b"):
        worker = EventWorker(lambda: stream(exchange, queue), container.uow_factory,
                             Backoff(first=0.05), batch_size=20, ordered=True)
        threads.append(threading.Thread(target=worker.run, args=(stop,), name=name, daemon=True))
    threads[0].start()
    wait_for_consumers(queue, 1)  # worker-a first: the active consumer of every shard
    threads[1].start()
    wait_for_consumers(queue, 2)  # worker-b waits on each; shards move once events flow
    stations = [charger() for _ in range(24)]
    sent: dict[str, list[str]] = {s.station_id: [] for s in stations}
    publish, close = publisher(exchange)
    try:
        for round_number in range(30):
            for station in stations:
                event = station.meter_values(1, [{"value": str(round_number)}], 1)
                publish(event)
                sent[station.station_id].append(event["event_id"])
            time.sleep(0.05)  # a few seconds of traffic: rebalancing happens meanwhile
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with recorder.lock:
                if sum(map(len, recorder.order.values())) >= 30 * len(stations):
                    break
            time.sleep(0.1)
    finally:
        close()
        stop.set()
        for thread in threads:
            thread.join(15)
        container.close()
    assert recorder.order == sent  # every event once, each station's in publish order
    assert min(recorder.by_worker.get(n, 0) for n in ("worker-a", "worker-b")) > 0, (
        recorder.by_worker)  # the late worker was handed shards
    if failure:
        assert recorder.fail_in["worker-a"] < 0  # the failure did happen
