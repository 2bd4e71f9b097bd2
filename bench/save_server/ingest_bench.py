"""Worker ingest: events of many sessions published to a unique exchange on the local RabbitMQ,
consumed by `python -m save_server worker` (a subprocess) into the bench database.

- drain: a backlog of N events is published first, then the worker starts; rate = N / (last -
  first `processed_events.processed_at`), i.e. sustained throughput without start-up time.
- paced: the worker runs, a publisher thread publishes at R events/s for D s. Lag per event =
  commit observed - publish time: for every 10th event a poller thread looks the event id up
  in `processed_events` every 20 ms (commit visibility, ≤ 20 ms poll error); for every event
  also `processed_at` (stamped by the worker inside the transaction, just before commit) -
  publish time.
Worker role: `--workers N` processes, `--shards M` (`SAVE_SERVER_SHARDS`); paced runs start once
every queue has N consumers and may publish `--warm-up-seconds` of events first (the shard
hand-over needs traffic), reported apart, with the active shards per worker from rabbitmqctl.
Baseline (same database, same run): psycopg2 inserting processed-event rows, one transaction
per event and one executemany per 500."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pika
from psycopg2.extras import execute_values

from bench.common.machine import latency_summary
from bench.common.process_control import stop_processes
from bench.save_server.database import BenchDatabase
from bench.save_server.sessions import Event

AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
POLL_SECONDS = 0.02
SAMPLE_EVERY = 10
# `run.py --profile`: py-spy samples every worker process of each phase into this folder
PROFILE_DIR: pathlib.Path | None = None


class Topology:
    """The worker's exchange and queue(s) under unique names, declared exactly as the worker
    declares them (its own `declare_topology`: one queue, or `shards` single-active-consumer
    shard queues behind a consistent-hash exchange), deleted at the end."""

    def __init__(self, amqp_url: str, shards: int = 0) -> None:
        from save_server.infrastructure.messaging.rabbitmq import declare_topology
        from save_server.infrastructure.translation import HANDLED_TYPES

        suffix = uuid.uuid4().hex[:10]
        self.amqp_url, self.shards = amqp_url, shards
        self.exchange = f"bench-save-{suffix}"
        self.queue = f"bench-save-{suffix}-worker"  # also the hash exchange, when sharded
        with self._channel() as channel:
            self.queues = declare_topology(channel, self.exchange, self.queue, HANDLED_TYPES,
                                           shards)

    @contextmanager
    def _channel(self) -> Iterator[Any]:
        connection = pika.BlockingConnection(pika.URLParameters(self.amqp_url))
        try:
            yield connection.channel()
        finally:
            connection.close()

    def _declared(self) -> list[Any]:
        with self._channel() as channel:
            return [channel.queue_declare(queue, passive=True).method for queue in self.queues]

    def depth(self) -> int:
        return sum(int(method.message_count) for method in self._declared())

    def wait_for_consumer(self, timeout: float, consumers: int = 1) -> float:
        """Seconds until every queue has `consumers` consumers (every worker is consuming)."""
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            if all(method.consumer_count >= consumers for method in self._declared()):
                return time.monotonic() - began
            time.sleep(0.1)
        raise TimeoutError(f"not {consumers} consumers on {self.queues} after {timeout:.0f} s")

    def active_consumers(self) -> dict[str, int]:
        """Shard queues per worker connection whose single active consumer it is (rabbitmqctl;
        empty if it is not available). Unsharded: the consumers of the one queue."""
        try:
            consumers = _rabbitmqctl("list_consumers", "queue_name", "channel_pid", "active")
            channels = dict(_rabbitmqctl("list_channels", "pid", "connection"))
        except (OSError, subprocess.SubprocessError):
            return {}
        held: dict[str, int] = {}
        for queue, channel_pid, active in consumers:
            if queue in self.queues and active == "true":
                connection = channels.get(channel_pid, channel_pid)
                held[connection] = held.get(connection, 0) + 1
        return held

    def purge(self) -> int:
        """Drop what a run left in the queue(s) (workers that could not keep up)."""
        with self._channel() as channel:
            return sum(int(channel.queue_purge(queue).method.message_count)
                       for queue in self.queues)

    def dead_lettered(self) -> int:
        with self._channel() as channel:
            return int(channel.queue_declare(
                f"{self.queue}.dead-letter", passive=True).method.message_count)

    def delete(self) -> None:
        with self._channel() as channel:
            for queue in {*self.queues, f"{self.queue}.dead-letter"}:
                channel.queue_delete(queue)
            exchanges = [self.exchange, f"{self.exchange}.dead-letter"]
            if self.shards:
                exchanges.append(self.queue)  # the consistent-hash exchange
            for exchange in exchanges:
                channel.exchange_delete(exchange)


def _rabbitmqctl(*arguments: str) -> list[list[str]]:
    output = subprocess.run(["rabbitmqctl", "-q", "--no-table-headers", *arguments],
                            capture_output=True, text=True, timeout=30, check=True).stdout
    return [line.split("\t") for line in output.splitlines() if line.strip()]


class Publisher:
    def __init__(self, topology: Topology) -> None:
        self._exchange = topology.exchange
        self._connection = pika.BlockingConnection(pika.URLParameters(topology.amqp_url))
        self._channel = self._connection.channel()

    def publish(self, event: Event) -> float:
        """Publish as the gateway does (persistent, message_id, header); returns the time
        (epoch seconds) right after the client handed it over."""
        self._channel.basic_publish(self._exchange, event.type, event.body, pika.BasicProperties(
            content_type="application/json", delivery_mode=2, message_id=event.event_id,
            headers={"charging_station_id": event.station_id}))
        return time.time()

    def close(self) -> None:
        self._connection.close()


def start_profilers(pids: Sequence[int], phase: str) -> list[subprocess.Popen[bytes]]:
    """py-spy (collapsed stacks, idle excluded) on each worker while `phase` runs."""
    if PROFILE_DIR is None:
        return []
    py_spy = pathlib.Path(sys.executable).parent / "py-spy"
    return [subprocess.Popen([str(py_spy), "record", "--pid", str(pid), "--format", "raw",
                              "--rate", "200", "--nonblocking", "--output",
                              str(PROFILE_DIR / f"{phase}-worker{i}.pyspy.txt")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for i, pid in enumerate(pids)]


def stop_profilers(profilers: Sequence[subprocess.Popen[bytes]]) -> None:
    stop_processes(profilers, 30, signal.SIGINT)  # py-spy writes its profile on SIGINT


@contextmanager
def worker_process(db: BenchDatabase, topology: Topology, log_path: str,
                   workers: int = 1, phase: str = "") -> Iterator[list[int]]:
    """The worker role: `workers` processes of `python -m save_server worker`, sharing the
    queue (or, with `SAVE_SERVER_SHARDS`, the shard queues); profiled with `--profile`."""
    env = {**os.environ, "DATABASE_URL": db.sqlalchemy_url, "AMQP_URL": topology.amqp_url,
           "AMQP_EXCHANGE": topology.exchange, "SAVE_SERVER_QUEUE": topology.queue,
           "SAVE_SERVER_SHARDS": str(topology.shards), "LOG_LEVEL": "WARNING"}
    processes = []
    with open(log_path, "ab") as log:
        for _ in range(workers):
            processes.append(subprocess.Popen([sys.executable, "-m", "save_server", "worker"],
                                              env=env, stdout=log, stderr=subprocess.STDOUT))
    profilers = start_profilers([process.pid for process in processes], phase)
    try:
        yield [process.pid for process in processes]
    finally:
        stop_profilers(profilers)
        stop_processes(processes)


def processed_count(db: BenchDatabase) -> int:
    conn = db.connect()
    with conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM processed_events")
        count = int(cursor.fetchone()[0])
    conn.close()
    return count


def wait_processed(db: BenchDatabase, expected: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    count = processed_count(db)
    while count < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        count = processed_count(db)
    return count


def drain(db: BenchDatabase, topology: Topology, events: Sequence[Event], log_path: str,
          timeout: float, workers: int = 1) -> dict[str, Any]:
    before = processed_count(db)
    publisher = Publisher(topology)
    began = time.perf_counter()
    for event in events:
        publisher.publish(event)
    publish_seconds = time.perf_counter() - began
    publisher.close()
    while topology.depth() < len(events):
        time.sleep(0.05)
    ids = [e.event_id for e in events]
    with worker_process(db, topology, log_path, workers, "drain"):
        started = time.perf_counter()
        done = wait_processed(db, before + len(events), timeout) - before
        wall = time.perf_counter() - started
    conn = db.connect()
    with conn, conn.cursor() as cursor:
        cursor.execute("SELECT min(processed_at), max(processed_at), count(*)"
                       " FROM processed_events WHERE event_id = ANY(%s)", (ids,))
        first, last, count = cursor.fetchone()
    conn.close()
    span = (last - first).total_seconds() if count and count > 1 else float("nan")
    return {"events": len(events), "processed": int(count), "wall_seconds": wall,
            "processing_seconds": span, "events_per_s": (count - 1) / span if span else 0.0,
            "publish_rate": len(events) / publish_seconds, "timed_out": done < len(events)}


WARM_UP_SECONDS = 2.0


class CommitPoller(threading.Thread):
    """Observes commits of sampled event ids (PK lookups every 20 ms)."""

    def __init__(self, db: BenchDatabase) -> None:
        super().__init__(daemon=True)
        self._db = db
        self._lock = threading.Lock()
        self.outstanding: dict[str, float] = {}  # event id → publish time
        self.lags: list[float] = []
        self.stop = threading.Event()
        self.stop_deadline = float("inf")

    def watch(self, event_id: str, published_at: float) -> None:
        with self._lock:
            self.outstanding[event_id] = published_at

    def run(self) -> None:
        conn = self._db.connect()
        conn.autocommit = True
        with conn.cursor() as cursor:
            while True:
                with self._lock:
                    ids = list(self.outstanding)
                if self.stop.is_set() and (not ids or time.monotonic() > self.stop_deadline):
                    break
                if ids:
                    cursor.execute("SELECT event_id FROM processed_events"
                                   " WHERE event_id = ANY(%s)", (ids,))
                    seen_at = time.time()
                    with self._lock:
                        for (event_id,) in cursor.fetchall():
                            self.lags.append(seen_at - self.outstanding.pop(event_id))
                time.sleep(POLL_SECONDS)
        conn.close()


def paced(db: BenchDatabase, topology: Topology, events: Sequence[Event], rate: float,
          log_path: str, drain_timeout: float, workers: int = 1,
          warm_up: int = 0) -> dict[str, Any]:
    """Publish `events` at `rate`/s into running workers; lag per event. The first `warm_up`
    events are published at the same rate right before the others (no pause) and reported
    apart: with several workers on shard queues, the first worker to subscribe gets every
    shard and hands the surplus over only once it has traffic (every 2 s)."""
    published: dict[str, float] = {}
    before = processed_count(db)
    poller = CommitPoller(db)
    held: dict[str, dict[str, int]] = {}
    snapshot = threading.Thread(target=lambda: held.update(warm_up_half=(
        topology.active_consumers())), daemon=True)
    with worker_process(db, topology, log_path, workers, f"paced-{rate:.0f}"):
        # Lag is measured from when the workers consume (one takes 2 to 3 s to start here),
        # not from their process start.
        consumer_after = topology.wait_for_consumer(60, workers)
        time.sleep(0.5)
        held["idle"] = topology.active_consumers()
        poller.start()
        publisher = Publisher(topology)
        began = time.monotonic()
        late = 0
        for i, event in enumerate(events):
            # rabbitmqctl boots an Erlang VM (~1.5 s of CPU for the two calls here): half-way
            # through the warm-up, so that the measured events do not pay for it
            if warm_up and i == warm_up // 2:
                snapshot.start()
            slot = began + i / rate
            wait = slot - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            elif wait < -0.05:
                late += 1
            published[event.event_id] = publisher.publish(event)
            if i >= warm_up and (i - warm_up) % SAMPLE_EVERY == 0:
                poller.watch(event.event_id, published[event.event_id])
        publish_seconds = time.monotonic() - began
        publisher.close()
        done = wait_processed(db, before + len(events), drain_timeout) - before
        poller.stop_deadline = time.monotonic() + 1.0
        poller.stop.set()
        poller.join()
        held["measured_end"] = topology.active_consumers()  # after the lag was observed
        if warm_up:
            snapshot.join(30)
    left_in_queue = topology.purge()
    conn = db.connect()
    with conn, conn.cursor() as cursor:
        cursor.execute("SELECT event_id, processed_at FROM processed_events"
                       " WHERE event_id = ANY(%s)", (list(published),))
        all_stamps = cursor.fetchall()
    conn.close()
    warm_ids = {event.event_id for event in events[:warm_up]}
    stamps = [(e, at) for e, at in all_stamps if e not in warm_ids]
    warm_lags = [at.timestamp() - published[e] for e, at in all_stamps if e in warm_ids]
    stamp_lags = [at.timestamp() - published[event_id] for event_id, at in stamps]
    # The first seconds of freshly started workers (cold station cache, first statements)
    # reported apart: "sustained" is what the target is about.
    first_publish = min(published[e] for e, _ in stamps) if stamps else 0.0
    steady_lags = [at.timestamp() - published[event_id] for event_id, at in stamps
                   if published[event_id] - first_publish >= WARM_UP_SECONDS]
    first = min(at for _, at in stamps) if stamps else None
    last = max(at for _, at in stamps) if stamps else None
    span = (last - first).total_seconds() if first and last else float("nan")
    measured = len(events) - warm_up
    return {"events": measured, "warm_up_events": warm_up, "target_rate": rate,
            "achieved_publish_rate": len(events) / publish_seconds, "late_publishes": late,
            "processed": len(stamps), "processed_with_warm_up": done,
            "purged_after": left_in_queue,
            "processing_events_per_s": (len(stamps) - 1) / span if span else 0,
            "commit_observed_lag": latency_summary(poller.lags),
            "commit_observed_unseen": len(poller.outstanding),
            "processed_at_lag": latency_summary(stamp_lags),
            "steady_processed_at_lag": latency_summary(steady_lags),
            "warm_up_processed_at_lag": latency_summary(warm_lags) if warm_lags else None,
            "active_shards_per_worker": held, "consumer_after_s": consumer_after}


def raw_insert_baseline(db: BenchDatabase, count: int) -> dict[str, Any]:
    """psycopg2 into a temp copy of processed_events: one transaction per row (the floor
    cost of 'commit per event'), and executemany in batches of 500 in one transaction each."""
    conn = db.connect()
    with conn, conn.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE bench_processed (LIKE processed_events INCLUDING ALL)")
    now = datetime.now(UTC)
    ids = [str(uuid.uuid4()) for _ in range(count * 2)]
    began = time.perf_counter()
    for event_id in ids[:count]:
        with conn, conn.cursor() as cursor:
            cursor.execute("INSERT INTO bench_processed VALUES (%s, %s, %s)",
                           (event_id, "ocpp-events.heart-beat", now))
    per_event = count / (time.perf_counter() - began)
    began = time.perf_counter()
    for i in range(count, 2 * count, 500):
        with conn, conn.cursor() as cursor:
            execute_values(cursor, "INSERT INTO bench_processed VALUES %s",
                           [(e, "ocpp-events.heart-beat", now) for e in ids[i:i + 500]])
    batched = count / (time.perf_counter() - began)
    conn.close()
    return {"rows": count, "commit_per_row_per_s": per_event, "batch_500_per_s": batched}
