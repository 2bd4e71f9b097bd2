"""Seeding through the SQLite adapter's batch insert, and `GET /events` for one station and one
day over the seeded store (API subprocess vs the same SQL through sqlite3)."""

from __future__ import annotations

import random
import sqlite3
import time
from datetime import timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from bench.common.http_load import Plan, run_plans
from bench.common.machine import latency_summary
from bench.event_store.events import DAY0, station_id, stored_events
from bench.event_store.processes import event_store_process
from event_store.infrastructure.sqlite_storage import SqliteEventStorage, to_micros

SEED_BATCH = 10_000


def seed(path: Path, stations: int, days: int, total: int, log: Any = print) -> dict[str, Any]:
    storage = SqliteEventStorage(path)
    stored = 0
    began = time.perf_counter()
    events = stored_events(stations, days, total)
    while batch := list(islice(events, SEED_BATCH)):
        stored += storage.save_many(batch)
        if stored % 500_000 < SEED_BATCH:
            log(f"  seeded {stored:,} / {total:,} events")
    storage.close()
    elapsed = time.perf_counter() - began
    return {"events": stored, "seconds": elapsed, "events_per_s": stored / elapsed,
            "file_mib": path.stat().st_size / 2**20}


def count(path: Path) -> int:
    connection = sqlite3.connect(path)
    try:
        return int(connection.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        connection.close()


def day_plans(stations: int, days: int, requests: int, rng: random.Random) -> list[Plan]:
    plans = []
    for _ in range(requests):
        day = DAY0 + timedelta(days=rng.randrange(days))
        end = day + timedelta(days=1) - timedelta(microseconds=1)
        plans.append(Plan("/events", {"charging_station_id": station_id(rng.randrange(stations)),
                                      "start_date": day.isoformat(), "end_date": end.isoformat()}))
    return plans


def query_api(path: Path, plans: list[Plan], concurrency: int, log_path: Path
              ) -> dict[str, Any]:
    with event_store_process("api", path, log_path) as (base, _pid):
        run_plans(base, plans[:50], concurrency)  # warm-up
        result = run_plans(base, plans, concurrency, timeout=30.0, budget_s=600.0)
    return {**latency_summary(result.latencies), "rows": result.rows,
            "errors": result.errors[:5], "error_count": len(result.errors),
            "concurrency": concurrency,
            "requests_per_s": len(result.latencies) / result.wall_seconds}


def query_sql(path: Path, plans: list[Plan]) -> dict[str, Any]:
    """The adapter's SQL for this filter (first page: LIMIT 100), plain sqlite3."""
    from event_store.domain.events import parse_date

    connection = sqlite3.connect(path)
    latencies, rows = [], 0
    sql = ("SELECT event_id, type, date_us, charging_station_id, body FROM events"
           " WHERE date_us >= ? AND date_us <= ? AND charging_station_id = ?"
           " ORDER BY date_us, event_id LIMIT ?")
    for plan in plans:
        params = (to_micros(parse_date(plan.params["start_date"])),
                  to_micros(parse_date(plan.params["end_date"])),
                  plan.params["charging_station_id"], 101)
        began = time.perf_counter()
        rows += len(connection.execute(sql, params).fetchall())
        latencies.append(time.perf_counter() - began)
    plan_text = " | ".join(r[-1] for r in connection.execute(f"EXPLAIN QUERY PLAN {sql}", params))
    connection.close()
    return {**latency_summary(latencies), "rows": rows, "plan": plan_text}
