"""The worker's CPU per event without the broker: `EventWorker.handle_batch` over batches of
session events (as `run.py` publishes them) from an in-memory stream, into a fresh PostgreSQL
database (created, migrated, dropped). Measures this process's CPU time (`process_time`) and
wall time per event for each batch size, and the CPU time of the database's backends (read
from /proc: PostgreSQL must run on this machine); run it under py-spy to see where the time
goes.

    .venv/bin/python -m bench.save_server.worker_cpu --events 12000 --batch-sizes 200,5
    .venv/bin/py-spy record --format raw -r 200 -o /tmp/w.txt -- \\
        .venv/bin/python -m bench.save_server.worker_cpu --batch-sizes 200
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from bench.save_server.database import BenchDatabase
from bench.save_server.sessions import Event, session_events
from save_server.bootstrap import bootstrap
from save_server.config import Settings
from save_server.domain.ports import Delivery, EventStream
from save_server.infrastructure.logs import configure_logging
from save_server.infrastructure.messaging.worker import EventWorker


class ListStream(EventStream):
    """Deliveries handed to `handle_batch` directly; acks only counted."""

    def __init__(self) -> None:
        self.acked = self.dead = 0

    def receive(self, timeout: float) -> Delivery | None:
        return None

    def ack(self, delivery: Delivery) -> None:
        self.acked += 1

    def requeue(self, delivery: Delivery) -> None:
        raise RuntimeError("requeue in the CPU bench")

    def dead_letter(self, delivery: Delivery, error: str) -> None:
        self.dead += 1


def backend_seconds(db: BenchDatabase) -> float:
    """CPU seconds (user + system) used so far by the backends connected to the database."""
    conn = db.connect("postgres")
    with conn, conn.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (db.name,))
        pids = [pid for (pid,) in cursor.fetchall()]
    conn.close()
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def run(worker: EventWorker, events: Sequence[Event], batch_size: int,
        db: BenchDatabase) -> dict[str, float]:
    stream, stop = ListStream(), threading.Event()
    deliveries = [Delivery(e.body, e.type, False, None) for e in events]
    backend = backend_seconds(db)
    cpu, wall = time.process_time(), time.perf_counter()
    for start in range(0, len(deliveries), batch_size):
        worker.handle_batch(stream, deliveries[start:start + batch_size], stop)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    backend = backend_seconds(db) - backend
    return {"batch": batch_size, "events": len(events), "acked": stream.acked,
            "dead": stream.dead, "cpu_us_per_event": cpu / len(events) * 1e6,
            "postgres_us_per_event": backend / len(events) * 1e6,
            "wall_events_per_s": len(events) / wall}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=12_000, help="per batch size")
    parser.add_argument("--stations", type=int, default=1_000)
    parser.add_argument("--batch-sizes", default="200,20,5")
    parser.add_argument("--database", default="bench_save_cpu")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    configure_logging("console", "WARNING")  # as the bench's workers run
    db = BenchDatabase("127.0.0.1", 5432, "postgres", args.database)
    db.drop()
    db.create()
    try:
        db.migrate()
        container = bootstrap(Settings(database_url=db.sqlalchemy_url))
        worker = EventWorker(lambda: ListStream(), container.uow_factory)
        events = session_events(args.stations, args.events * (len(sizes) + 1))
        run(worker, events[:args.events], 200, db)  # warm-up: stations created, caches filled
        for i, size in enumerate(sizes, start=1):
            figures = run(worker, events[i * args.events:(i + 1) * args.events], size, db)
            print(" ".join(f"{k}={v:,.0f}" for k, v in figures.items()), flush=True)
        container.close()
    finally:
        db.drop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
