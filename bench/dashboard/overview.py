"""The dashboard's overview with many stations: time to render `GET /ui/overview` (a page of
50 rows, problems first, counts over all) against `GET /charging-stations` (the API's list of
the same documents) in the same run, requests interleaved, in-process (ASGI, no network) on a
SQLite database seeded with N stations (boot + a status per connector, 1 in 20 faulted).

    flock /tmp/csms-bench.lock .venv/bin/python -m bench.dashboard.overview --stations 1000 10000
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient

from bench.common.machine import latency_summary, load_line, machine_lines
from save_server.bootstrap import bootstrap
from save_server.config import Settings
from save_server.domain.access import Role
from save_server.infrastructure.db.engine import migrate
from save_server.infrastructure.translation import parse_envelope, translate
from save_server.service.ingest import IncomingEvent, ingest_events

PASSWORD = "correct horse battery staple"


def event(station_id: str, kind: str, action: str, payload: dict, response: dict,
          received: str) -> IncomingEvent:
    raw = {"event_id": str(uuid.uuid4()), "type": f"ocpp-events.{kind}",
           "schema_version": 1, "charging_station_id": station_id, "ocpp_version": "1.6",
           "connection_id": "c1", "message_id": "m1", "action": action,
           "received_at": received, "payload": payload, "response": response}
    envelope = parse_envelope(json.dumps(raw).encode())
    return IncomingEvent(str(envelope.event_id), envelope.type, translate(envelope))


def seed(container, stations: int) -> None:  # type: ignore[no-untyped-def]
    at = "2026-12-05T12:00:00.000000Z"
    batch: list[IncomingEvent] = []
    for i in range(stations):
        station_id = f"BENCH-{i:06d}"
        batch.append(event(station_id, "boot-notification", "BootNotification", {
            "chargePointVendor": "ACME", "chargePointModel": "W22"}, {
            "status": "Accepted", "currentTime": at, "interval": 300}, at))
        for connector in (1, 2):
            status = "Faulted" if i % 20 == 0 and connector == 1 else "Available"
            batch.append(event(station_id, "status-notification", "StatusNotification", {
                "connectorId": connector, "status": status, "errorCode": "NoError",
                "timestamp": at}, {}, at))
        if len(batch) >= 600:
            ingest_events(container.uow_factory, batch)
            batch = []
    if batch:
        ingest_events(container.uow_factory, batch)


def measure(stations: int, requests: int) -> dict[str, dict[str, float]]:
    folder = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    url = f"sqlite:///{folder / 'save-server.sqlite3'}"
    migrate(url)
    container = bootstrap(Settings(database_url=url, data_dir=folder))
    seed(container, stations)
    email = f"bench-{uuid.uuid4().hex[:6]}@save.example"
    container.access_control().accounts.create_account(email, "Bench", Role.ADMIN, PASSWORD,
                                                       by="bench")
    client = TestClient(container.app())
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/sign-in").text)
    assert token is not None
    client.post("/ui/sign-in", data={"email": email, "password": PASSWORD,
                                     "csrf_token": token.group(1)})
    first = client.get("/ui/overview", headers={"Accept-Language": "en"})
    assert f"50 of {stations} stations" in first.text, first.text[-3000:]
    api_token = client.cookies.get("csms_access")
    times: dict[str, list[float]] = {"overview": [], "api_list": []}
    for _ in range(requests):
        for name, path, headers in (
                ("overview", "/ui/overview", {}),
                ("api_list", "/charging-stations", {"Authorization": f"Bearer {api_token}"})):
            started = time.perf_counter()
            response = client.get(path, headers=headers)
            times[name].append(time.perf_counter() - started)
            assert response.status_code == 200, (name, response.status_code)
    times["live_tick_50_moved"] = live_ticks(container, stations, min(requests, 20))
    container.close()
    return {name: latency_summary(values) for name, values in times.items()}


def live_ticks(container, stations: int, ticks: int) -> list[float]:  # type: ignore[no-untyped-def]
    """The live feed's work per tick at 100 events/s (50 stations move per 0.5 s tick): read
    every revision, load the moved stations' documents, build their summaries."""
    from save_server.infrastructure.dashboard.live import LiveFeed, station_revisions
    from save_server.infrastructure.db.readers import SqlStationReader

    feed = LiveFeed(station_revisions(container.engine),
                    SqlStationReader(container.engine).document)
    known = feed._step(None)
    spent = []
    at = "2026-12-05T13:00:00.000000Z"
    for tick in range(ticks):
        moved = [f"BENCH-{(tick * 50 + i) % stations:06d}" for i in range(50)]
        ingest_events(container.uow_factory, [event(
            station_id, "status-notification", "StatusNotification", {
                "connectorId": 2, "status": "Charging" if tick % 2 == 0 else "Available",
                "errorCode": "NoError", "timestamp": at}, {}, at) for station_id in moved])
        started = time.perf_counter()
        known = feed._step(known)
        spent.append(time.perf_counter() - started)
    return spent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stations", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args(argv)
    print("\n".join(machine_lines(sys.argv)))
    print(load_line("before"))
    print("live_tick_50_moved: one tick of the live feed's watcher when 50 stations moved")
    for stations in args.stations:
        result = measure(stations, args.requests)
        print(f"{stations} stations: " + "; ".join(
            f"{name} p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms max {r['max_ms']:.1f} ms"
            for name, r in result.items()))
    print(load_line("after"))


if __name__ == "__main__":
    main()
