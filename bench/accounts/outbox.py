"""The outbox's cost on an API write, in one run: `PATCH /charging-stations/{id}` (the
operator's station data, committed with its `stations.details-changed` event) through two API
processes on one fresh PostgreSQL database — as shipped, and with the outbox write removed —
requests interleaved one by one.

    .venv/bin/python -m bench.accounts.outbox [--requests 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime

import httpx

from bench.accounts.run import (
    api_key,
    create_database,
    drop_database,
    percentile,
    seed,
    serve,
)
from save_server.infrastructure.db.engine import migrate


def measure(requests: int, key: str) -> dict[str, list[float]]:
    clients = {mode: httpx.Client(base_url=f"http://127.0.0.1:{port}",
                                  headers={"Authorization": f"Bearer {key}"})
               for mode, port in (("outbox", 18433), ("no-outbox", 18434))}
    timings: dict[str, list[float]] = {"outbox": [], "no-outbox": []}
    for i in range(requests + 100):
        for mode in (("outbox", "no-outbox") if i % 2 else ("no-outbox", "outbox")):
            body = {"name": f"Garagem {i}", "latitude": -23.5 + i / 1e6}
            started = time.perf_counter()
            response = clients[mode].patch(f"/charging-stations/BENCH-{1 + i % 50}", json=body)
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, response.text
            if i >= 100:
                timings[mode].append(elapsed)
    return timings


def stations(url: str, count: int) -> None:
    """Stations to write to: one boot each, through the worker's own code path."""
    from save_server.bootstrap import bootstrap
    from save_server.config import Settings
    from save_server.domain.commands import RecordBoot
    from save_server.domain.model import BootInfo
    from save_server.service.ingest import ingest_event

    container = bootstrap(Settings(database_url=url))
    for n in range(1, count + 1):
        ingest_event(container.uow_factory, f"boot-{n}", "ocpp-events.boot-notification",
                     [RecordBoot(f"BENCH-{n}", datetime.now(UTC), BootInfo("Bench", "B1"))])
    container.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    url = create_database()
    processes = []
    try:
        migrate(url)
        seed(url, 50, 1, 1)
        stations(url, 50)
        key = api_key(url)
        processes = [serve(url, 18433, "on"), serve(url, 18434, "no-outbox")]
        timings = measure(args.requests, key)
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
        drop_database(url)
    result: dict = {mode: {"p50_ms": round(percentile(t, 0.5), 3),
                           "p99_ms": round(percentile(t, 0.99), 3), "requests": len(t)}
                    for mode, t in timings.items()}
    result["p99_added_ms"] = round(result["outbox"]["p99_ms"] - result["no-outbox"]["p99_ms"], 3)
    result["p50_added_ms"] = round(result["outbox"]["p50_ms"] - result["no-outbox"]["p50_ms"], 3)
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    result["command"] = " ".join(sys.argv)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
