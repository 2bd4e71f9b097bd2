"""Replay from the seeded store: events of a date range sent to one queue.

- embedded: the event-store's `ReplayService` + `EmbeddedReplayPublisher` on the in-process
  broker (what `make run` does), target a declared queue;
- rabbitmq: `POST /replays` to `python -m event_store api` (pika SelectConnection, publisher
  confirms, 4,000 in flight; the store read 4 pages of 2,000 ahead in a thread), target a
  unique durable queue; the job's own `rate`, the queue depth, the machine's busy % and the
  broker's CPU % during the job are read.
Baselines, same run: the in-process broker's `publish_to_queue` of the same bodies already in
memory; for RabbitMQ the broker's ceiling (`broker_ceiling.py`: the same number of persistent,
confirmed messages from memory into one durable queue by 1, 2 and 4 publisher processes) and
pika `basic_publish` without confirms (what the broker takes with no delivery guarantee)."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pika

from bench.common import credentials
from bench.event_store import broker_ceiling
from bench.event_store.cpu import CpuSpan
from bench.event_store.processes import AMQP_URL, RabbitNames, event_store_process
from event_store.domain.queries import EventQuery
from event_store.infrastructure.embedded_broker import EmbeddedReplayPublisher
from event_store.infrastructure.sqlite_storage import SqliteEventStorage, to_micros
from event_store.service.replay import ReplayService


def window_bodies(path: Path, start: datetime, end: datetime) -> list[tuple[str, bytes]]:
    connection = sqlite3.connect(path)
    rows = connection.execute("SELECT type, body FROM events WHERE date_us >= ? AND"
                              " date_us <= ? ORDER BY date_us, event_id",
                              (to_micros(start), to_micros(end))).fetchall()
    connection.close()
    return [(kind, bytes(body)) for kind, body in rows]


def embedded(path: Path, start: datetime, end: datetime,
             bodies: list[tuple[str, bytes]]) -> dict[str, Any]:
    from csms_embedded.broker import InProcessBroker

    broker = InProcessBroker()
    broker.declare_queue("bench-replay-target")
    storage = SqliteEventStorage(path)
    service = ReplayService(storage, lambda: EmbeddedReplayPublisher(broker, "ocpp-events"))
    job = service.start(EventQuery(start, end), "bench-replay-target")
    service.wait(job.id)
    result = {"state": job.state.value, "events_sent": job.events_sent, "rate": job.rate(),
              "queue_depth": broker.depth("bench-replay-target"), "errors": job.errors}
    storage.close()
    raw = InProcessBroker()
    raw.declare_queue("raw")
    began = time.perf_counter()
    for kind, body in bodies:
        raw.publish_to_queue("raw", kind, body, {"replayed": True})
    result["baseline_publish_per_s"] = len(bodies) / (time.perf_counter() - began)
    return result


def rabbitmq(path: Path, names: RabbitNames, start: datetime, end: datetime,
             bodies: list[tuple[str, bytes]], log_path: Path) -> dict[str, Any]:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    for queue in (names.replay_queue, names.baseline_queue):
        channel.queue_declare(queue, durable=True, arguments={"x-expires": 3_600_000})
    result: dict[str, Any] = {}
    with event_store_process("api", path, log_path, AMQP_URL=AMQP_URL,
                             AMQP_EXCHANGE=names.exchange) as (base, _pid), CpuSpan() as cpu:
        response = httpx.post(f"{base}/replays", headers=credentials.HEADERS, json={
            "target": names.replay_queue, "start_date": start.isoformat(),
            "end_date": end.isoformat()}, timeout=30)
        response.raise_for_status()
        job_id = response.json()["id"]
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            job = httpx.get(f"{base}/replays/{job_id}", timeout=30,
                            headers=credentials.HEADERS).json()
            if job["state"] not in ("pending", "running"):
                break
            time.sleep(0.2)
        result.update(state=job["state"], events_sent=job["events_sent"], rate=job["rate"],
                      errors=job["errors"][:3])
    result.update(cpu.figures())
    connection.process_data_events(time_limit=0)
    result["queue_depth"] = names.depth(names.replay_queue)
    channel.queue_purge(names.replay_queue)
    properties = pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                      headers={"replayed": True})
    began = time.perf_counter()
    for _kind, body in bodies:
        channel.basic_publish("", names.baseline_queue, body, properties)
    connection.process_data_events(time_limit=0)
    result["baseline_plain_per_s"] = len(bodies) / (time.perf_counter() - began)
    channel.queue_purge(names.baseline_queue)
    connection.close()
    result["ceiling"] = broker_ceiling.run([1, 2, 4], len(bodies))
    return result
