"""Scale-out throughput on one machine: save-server ingest and event-store ingest with 1 vs 2
worker processes draining the same pre-published backlog (issue 8).

For each service and each worker count: a fresh database / SQLite file and a queue of its own
(declared exactly as the worker declares it), N events of many interleaved 1.6 sessions
published first (same seed → the same events every run), then K `python -m <service> worker`
processes are started and the drain is timed:
- wall: from starting the workers until every event is committed (includes start-up);
- rate: events / (last commit - first commit), the sustained throughput without start-up.
Everything created is deleted at the end. Prints a markdown table (also written to
bench/results/<time>-scaleout/report.md).

    .venv/bin/python -m bench.scaleout.run [--events 20000] [--stations 500] [--workers 1 2]
        [--shards N]   # save-server on N shard queues (SAVE_SERVER_SHARDS), default 0
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pika
import psycopg2

from bench.common.machine import machine_lines
from bench.common.process_control import stop_processes
from bench.save_server.sessions import Event, session_events

HERE = Path(__file__).resolve().parent

AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


@dataclass
class Drain:
    service: str
    workers: int
    events: int
    stored: int
    wall_seconds: float
    processing_seconds: float

    @property
    def rate(self) -> float:
        return (self.stored - 1) / self.processing_seconds if self.processing_seconds else 0.0

    def row(self, baseline: float | None) -> str:
        speedup = f"{self.rate / baseline:.2f}x" if baseline else "1.00x"
        return (f"| {self.service} | {self.workers} | {self.events:,} | {self.stored:,} | "
                f"{self.wall_seconds:.1f} | {self.rate:,.0f} | {speedup} |")


def _channel_do(action: Callable[[pika.adapters.blocking_connection.BlockingChannel], object]
                ) -> object:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        return action(connection.channel())
    finally:
        connection.close()


def queue_depth(*queues: str) -> int:
    return int(_channel_do(  # type: ignore[call-overload]
        lambda ch: sum(ch.queue_declare(q, passive=True).method.message_count for q in queues)))


def publish(exchange: str, events: Sequence[Event]) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    for event in events:
        channel.basic_publish(exchange, event.type, event.body, pika.BasicProperties(
            content_type="application/json", delivery_mode=2, message_id=event.event_id,
            headers={"charging_station_id": event.station_id}))
    connection.close()


def delete_broker_objects(exchange: str, queue: str, shards: Sequence[str] = ()) -> None:
    """The queue (or its shard queues and the hash exchange named like it), the dead-letter
    queue and the exchanges."""
    def delete(channel: pika.adapters.blocking_connection.BlockingChannel) -> None:
        for name in (queue, *shards, f"{queue}.dead-letter"):
            channel.queue_delete(name)
        for name in (exchange, f"{exchange}.dead-letter", queue):
            channel.exchange_delete(name)
    _channel_do(delete)


@contextmanager
def workers(service: str, count: int, env: dict[str, str], log: Path) -> Iterator[None]:
    with log.open("ab") as handle:
        processes = [subprocess.Popen([sys.executable, "-m", service, "worker"], env=env,
                                      stdout=handle, stderr=subprocess.STDOUT)
                     for _ in range(count)]
    try:
        yield
    finally:
        stop_processes(processes)


def _admin(statement: str) -> None:
    connection = psycopg2.connect(dbname="postgres", **PG)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(statement)
    connection.close()


def save_server_drain(events: Sequence[Event], count: int, workdir: Path,
                      timeout: float, shards: int = 0) -> Drain:
    from save_server.infrastructure.messaging.rabbitmq import declare_topology, shard_queues
    from save_server.infrastructure.translation import HANDLED_TYPES

    suffix = uuid.uuid4().hex[:10]
    database, exchange, queue = f"bench_scale_{suffix}", f"bench-scale-{suffix}", \
        f"bench-scale-save-{suffix}"
    _admin(f'CREATE DATABASE "{database}"')
    url = f"postgresql+psycopg2://{PG['user']}@{PG['host']}:{PG['port']}/{database}"
    env = {**os.environ, "DATABASE_URL": url, "AMQP_URL": AMQP_URL, "AMQP_EXCHANGE": exchange,
           "SAVE_SERVER_QUEUE": queue, "SAVE_SERVER_SHARDS": str(shards), "LOG_LEVEL": "WARNING"}
    consumed = shard_queues(queue, shards)
    try:
        subprocess.run([sys.executable, "-m", "save_server", "migrate"], env=env, check=True,
                       capture_output=True)
        _channel_do(lambda ch: declare_topology(ch, exchange, queue, HANDLED_TYPES, shards))
        publish(exchange, events)
        while queue_depth(*consumed) < len(events):
            time.sleep(0.05)
        connection = psycopg2.connect(dbname=database, **PG)
        connection.autocommit = True

        def processed() -> int:
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM processed_events")
                return int(cursor.fetchone()[0])

        with workers("save_server", count, env, workdir / f"save-server-{count}.log"):
            started = time.monotonic()
            deadline = started + timeout
            while processed() < len(events) and time.monotonic() < deadline:
                time.sleep(0.1)
            wall = time.monotonic() - started
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*), min(processed_at), max(processed_at)"
                           " FROM processed_events")
            stored, first, last = cursor.fetchone()
        connection.close()
        service = f"save-server ({shards} shards)" if shards else "save-server"
        return Drain(service, count, len(events), int(stored), wall,
                     (last - first).total_seconds() if stored > 1 else 0.0)
    finally:
        delete_broker_objects(exchange, queue, consumed if shards else ())
        _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def event_store_drain(events: Sequence[Event], count: int, workdir: Path,
                      timeout: float) -> Drain:
    from event_store.infrastructure.rabbitmq import declare_store_queue

    suffix = uuid.uuid4().hex[:10]
    exchange, queue = f"bench-scale-{suffix}", f"bench-scale-store-{suffix}"
    sqlite_path = workdir / f"events-{suffix}.sqlite3"
    env = {**os.environ, "AMQP_URL": AMQP_URL, "AMQP_EXCHANGE": exchange,
           "EVENT_STORE_QUEUE": queue, "EVENT_STORE_SQLITE_PATH": str(sqlite_path),
           "DATA_DIR": str(workdir), "LOG_LEVEL": "WARNING"}
    try:
        _channel_do(lambda ch: declare_store_queue(ch, queue, exchange, f"{queue}.dead-letter"))
        publish(exchange, events)
        while queue_depth(queue) < len(events):
            time.sleep(0.05)

        def stored() -> int:
            if not sqlite_path.exists():
                return 0
            connection = sqlite3.connect(sqlite_path, timeout=30)
            try:
                return int(connection.execute("SELECT count(*) FROM events").fetchone()[0])
            except sqlite3.OperationalError:  # table not created yet
                return 0
            finally:
                connection.close()

        first_seen: float | None = None
        with workers("event_store", count, env, workdir / f"event-store-{count}.log"):
            started = time.monotonic()
            deadline = started + timeout
            while (now_stored := stored()) < len(events) and time.monotonic() < deadline:
                if now_stored and first_seen is None:
                    first_seen = time.monotonic()
                time.sleep(0.05)
            finished = time.monotonic()
        return Drain("event-store", count, len(events), now_stored, finished - started,
                     finished - (first_seen or started))
    finally:
        delete_broker_objects(exchange, queue)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--stations", type=int, default=500)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--services", nargs="+", default=["save-server", "event-store"],
                        choices=["save-server", "event-store"])
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--shards", type=int, default=0,
                        help="save-server: SAVE_SERVER_SHARDS (0: one queue)")
    args = parser.parse_args(argv)
    events = session_events(args.stations, args.events, station_prefix="SCALE-")
    lines = ["# Scale-out drain: 1 vs 2 workers", "", *machine_lines(["-m", "bench.scaleout.run",
                                                                     *argv]), "",
             f"backlog: {len(events):,} events of {args.stations:,} stations' interleaved "
             "1.6 sessions, published before the workers start", "",
             "| service | workers | events | stored | wall s (incl. start-up) | events/s "
             "(first→last commit) | vs 1 worker |", "|---|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    drains: dict[str, Callable[..., Drain]] = {
        "save-server": lambda *a: save_server_drain(*a, shards=args.shards),
        "event-store": event_store_drain}
    with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as tmp:
        for service in args.services:
            baseline: float | None = None
            for count in args.workers:
                result = drains[service](events, count, Path(tmp), args.timeout)
                row = result.row(baseline)
                baseline = baseline or result.rate
                lines.append(row)
                print(row, flush=True)
    out = HERE.parent / "results" / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-scaleout"
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text("\n".join(lines) + "\n")
    print(f"\nreport: {out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
