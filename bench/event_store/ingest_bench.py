"""Ingest: the worker, batched, into a fresh SQLite file.

- embedded: the in-process broker of `make run` (`csms_embedded.broker.InProcessBroker`) and
  the event-store's own `EmbeddedEventFeed` + `IngestWorker` with the default batch policy
  (`bootstrap.batch_policy(Settings())`), in a thread of the bench process;
- rabbitmq: `python -m event_store worker` (subprocess) consuming a unique queue.
Each: a backlog drain (publish N, then start the worker) and a paced run (the worker runs
while events are published at R/s). Stored count = `max(seq)` read with sqlite3.
Baseline: sqlite3 `executemany` of the same rows, 500 per transaction, same schema/pragmas."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pika

from bench.event_store.processes import AMQP_URL, RabbitNames, event_store_process
from event_store.bootstrap import batch_policy
from event_store.config import Settings
from event_store.infrastructure.embedded_broker import EmbeddedEventFeed
from event_store.infrastructure.rabbitmq import declare_store_queue
from event_store.infrastructure.sqlite_storage import SqliteEventStorage
from event_store.infrastructure.worker import IngestWorker

Body = tuple[str, str, Any, str, bytes]


def stored(path: Path) -> int:
    connection = sqlite3.connect(path, timeout=30)
    try:
        return int(connection.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])
    except sqlite3.OperationalError:  # the worker has created the file but not the table yet
        return 0
    finally:
        connection.close()


def _wait_stored(path: Path, expected: int, timeout: float) -> tuple[float | None, float, int]:
    """Polls every 50 ms: (time the first event was seen or None, time all were seen, count)."""
    first: float | None = None
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        count = stored(path) if path.exists() else 0
        now = time.monotonic()
        if count and first is None:
            first = now
        if count >= expected:
            return first, now, count
        time.sleep(0.05)
    return first, time.monotonic(), count


def _paced(publish: Any, events: Sequence[Body], rate: float) -> tuple[float, int]:
    began = time.monotonic()
    late = 0
    for i, event in enumerate(events):
        wait = began + i / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        elif wait < -0.05:
            late += 1
        publish(event)
    return time.monotonic() - began, late


def embedded(workdir: Path, drain_events: Sequence[Body], paced_events: Sequence[Body],
             rate: float) -> dict[str, Any]:
    from csms_embedded.broker import InProcessBroker

    results: dict[str, Any] = {}
    for phase, events in (("drain", drain_events), ("paced", paced_events)):
        path = workdir / f"ingest-embedded-{phase}.sqlite3"
        broker = InProcessBroker()
        settings = Settings(data_dir=workdir)
        feed = EmbeddedEventFeed(broker, settings.event_store_queue, settings.amqp_exchange,
                                 settings.dead_letter_queue)
        storage = SqliteEventStorage(path)
        worker = IngestWorker(feed, storage, batch_policy(settings))
        stop = threading.Event()
        thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)

        def publish(event: Body, broker: Any = broker, exchange: str = settings.amqp_exchange
                    ) -> None:
            broker.publish(exchange, event[1], event[4], {"charging_station_id": event[3]})

        if phase == "drain":
            for event in events:
                publish(event)
            began = time.monotonic()
            thread.start()
            _, done, count = _wait_stored(path, len(events), 600)
            results[phase] = {"events": len(events), "stored": count,
                              "events_per_s": count / (done - began)}
        else:
            thread.start()
            began = time.monotonic()
            publish_s, late = _paced(publish, events, rate)
            _, done, count = _wait_stored(path, len(events), 300)
            results[phase] = {"events": len(events), "stored": count, "target_rate": rate,
                              "publish_rate": len(events) / publish_s, "late_publishes": late,
                              "events_per_s": count / (done - began),
                              "backlog_after_publish_s": done - began - publish_s}
        stop.set()
        thread.join(10)
        storage.close()
    return results


def rabbitmq(workdir: Path, names: RabbitNames, drain_events: Sequence[Body],
             paced_events: Sequence[Body], rate: float, log_path: Path) -> dict[str, Any]:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    declare_store_queue(channel, names.store_queue, names.exchange, names.dead_letter_queue)

    def publish(event: Body) -> None:
        channel.basic_publish(names.exchange, event[1], event[4], pika.BasicProperties(
            content_type="application/json", delivery_mode=2, message_id=event[0],
            headers={"charging_station_id": event[3]}))

    path = workdir / "ingest-rabbitmq.sqlite3"
    env = {"AMQP_URL": AMQP_URL, "AMQP_EXCHANGE": names.exchange,
           "EVENT_STORE_QUEUE": names.store_queue}
    began = time.monotonic()
    for event in drain_events:
        publish(event)
    publish_rate = len(drain_events) / (time.monotonic() - began)
    while names.depth(names.store_queue) < len(drain_events):
        connection.process_data_events(time_limit=0.05)
    results: dict[str, Any] = {}
    with event_store_process("worker", path, log_path, **env):
        first, done, count = _wait_stored(path, len(drain_events), 600)
        span = done - first if first is not None else float("nan")
        results["drain"] = {"events": len(drain_events), "stored": count,
                            "publish_rate": publish_rate,
                            "events_per_s": count / span if span else 0.0}
        began = time.monotonic()
        publish_s, late = _paced(publish, paced_events, rate)
        total = len(drain_events) + len(paced_events)
        _, done, count = _wait_stored(path, total, 300)
        results["paced"] = {"events": len(paced_events), "stored": count - len(drain_events),
                            "target_rate": rate, "late_publishes": late,
                            "publish_rate": len(paced_events) / publish_s,
                            "events_per_s": (count - len(drain_events)) / (done - began),
                            "backlog_after_publish_s": done - began - publish_s}
    results["dead_lettered"] = names.depth(names.dead_letter_queue)
    results["baseline_consume_per_s"] = _raw_consume(channel, names.baseline_queue, publish_to=(
        lambda event: channel.basic_publish("", names.baseline_queue, event[4],
                                            pika.BasicProperties(delivery_mode=2))),
        events=drain_events)
    connection.close()
    return results


def _raw_consume(channel: Any, queue: str, publish_to: Any, events: Sequence[Body]) -> float:
    """Baseline: the same messages consumed with pika `basic_consume` (prefetch 500, one
    `basic_ack multiple` per 500), doing nothing with them."""
    channel.queue_declare(queue, durable=True, arguments={"x-expires": 3_600_000})
    for event in events:
        publish_to(event)
    channel.basic_qos(prefetch_count=500)
    received = 0
    began = time.monotonic()
    for method, _properties, _body in channel.consume(queue, inactivity_timeout=5):
        if method is None:
            break
        received += 1
        if received % 500 == 0 or received == len(events):
            channel.basic_ack(method.delivery_tag, multiple=True)
        if received == len(events):
            break
    elapsed = time.monotonic() - began
    channel.cancel()
    return received / elapsed


def raw_insert_baseline(workdir: Path, events: Sequence[Body]) -> dict[str, Any]:
    from event_store.infrastructure.sqlite_storage import to_micros

    path = workdir / "ingest-baseline.sqlite3"
    SqliteEventStorage(path).close()  # the adapter's schema and indexes
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    rows = [(e[0], e[1], to_micros(e[2]), e[3], e[4]) for e in events]
    began = time.perf_counter()
    for i in range(0, len(rows), 500):
        with connection:
            connection.executemany(
                "INSERT OR IGNORE INTO events (event_id, type, date_us, charging_station_id,"
                " body) VALUES (?, ?, ?, ?, ?)", rows[i:i + 500])
    elapsed = time.perf_counter() - began
    connection.close()
    return {"rows": len(rows), "events_per_s": len(rows) / elapsed}
