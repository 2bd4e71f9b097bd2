"""The outbox's cost on an API write, in one run: `PATCH /charging-stations/{id}` (the
operator's station data, committed with its `stations.details-changed` event) through two API
processes on one fresh PostgreSQL database — as shipped, and with the outbox write removed —
requests interleaved one by one.

    .venv/bin/python -m bench.accounts.outbox [--requests 2000]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime

import httpx

from bench.accounts.run import (
    api_key,
    compare,
    create_database,
    drop_database,
    free_port,
    serve,
    stop,
)
from save_server.infrastructure.db.engine import migrate


def measure(requests: int, key: str, ports: dict[str, int]) -> dict[str, list[float]]:
    clients = {mode: httpx.Client(base_url=f"http://127.0.0.1:{port}",
                                  headers={"Authorization": f"Bearer {key}"})
               for mode, port in ports.items()}
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
        stations(url, 50)
        key = api_key(url)
        ports = {"outbox": free_port(), "no-outbox": free_port()}
        processes = [serve(url, ports["outbox"], "on"),
                     serve(url, ports["no-outbox"], "no-outbox")]
        timings = measure(args.requests, key, ports)
    finally:
        stop(processes)
        drop_database(url)
    print(json.dumps(compare(timings, "outbox", "no-outbox"), indent=2))


if __name__ == "__main__":
    main()
