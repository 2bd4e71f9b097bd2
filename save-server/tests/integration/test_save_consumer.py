"""The consumer against its brokers: redelivered events change nothing, poison goes to the
dead-letter queue with its error and never blocks the queue."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from save_server.bootstrap import bootstrap
from save_server.config import Settings
from save_server.infrastructure.db.engine import migrate
from save_server.infrastructure.metrics import EVENTS_DUPLICATE
from save_server.infrastructure.translation import parse_envelope, translate
from save_server.service.ingest import ingest_event
from tests.support.api_keys import grant

pytestmark = pytest.mark.integration


def session(cp: Any) -> list[dict[str, Any]]:
    return [cp.boot(), cp.status(0, "Available"), cp.status(1, "Available"),
            cp.status(1, "Preparing"), cp.start(1, 11, 100, "RFID-1"), cp.status(1, "Charging"),
            cp.meter_values(1, [{"value": "600"}, {"value": "230", "measurand": "Voltage"}], 11),
            cp.stop(11, 2100, "Remote"), cp.status(1, "Finishing"), cp.status(1, "Available"),
            cp.start(2, 12, 0, "RFID-2"), cp.status(2, "Charging"), cp.disconnect()]


def api_state(client: TestClient, station_id: str) -> dict[str, Any]:
    charges = client.get("/charges", params={"charging_station_id": station_id}).json()
    for charge in charges:
        charge.pop("id")
    return {"station": client.get(f"/charging-stations/{station_id}").json(),
            "charges": charges}


def reference_state(tmp_path: Path, events: list[dict[str, Any]], station_id: str
                    ) -> dict[str, Any]:
    """The same events applied once, in order, straight through the use case."""
    url = f"sqlite:///{tmp_path / 'reference.sqlite3'}"
    migrate(url)
    container = bootstrap(Settings(database_url=url, data_dir=tmp_path))
    for event in events:
        envelope = parse_envelope(json.dumps(event).encode())
        ingest_event(container.uow_factory, str(envelope.event_id), envelope.type,
                     translate(envelope))
    state = api_state(TestClient(container.app(), headers=grant(container)), station_id)
    container.close()
    return state


def duplicates_seen() -> float:
    return sum(sample.value for metric in EVENTS_DUPLICATE.collect()
               for sample in metric.samples if sample.name.endswith("_total"))


def test_every_event_delivered_twice_gives_the_state_of_one_delivery(
        pipeline: Any, charger: Callable[..., Any], tmp_path: Path) -> None:
    cp = charger()
    events = session(cp)
    duplicates_before = duplicates_seen()
    pipeline.send(*events)
    pipeline.send(*events)  # the broker redelivers everything
    pipeline.settle()
    deadline = time.monotonic() + 10
    while duplicates_seen() - duplicates_before < len(events) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert duplicates_seen() - duplicates_before == len(events)
    state = api_state(pipeline.client, cp.station_id)
    assert state == reference_state(tmp_path, events, cp.station_id)
    assert [c["status"] for c in state["charges"]] == ["charging", "finished"]


def test_poison_goes_to_the_dead_letter_queue_and_the_queue_moves_on(
        pipeline: Any, charger: Callable[..., Any]) -> None:
    cp = charger()
    broken = cp.status(1, "Exploded")
    pipeline.send_raw("ocpp-events.status-notification", b"{not json")
    pipeline.send_raw(broken["type"], json.dumps(broken).encode())
    pipeline.send(cp.boot())
    pipeline.settle()
    deadline, dead = time.monotonic() + 10, []
    while len(dead) < 2 and time.monotonic() < deadline:
        dead += pipeline.dead_letters()
        time.sleep(0.05)
    assert sorted(body for body, _ in dead) == sorted([b"{not json",
                                                       json.dumps(broken).encode()])
    errors = {body: headers["x-error"] for body, headers in dead}
    assert "not JSON" in errors[b"{not json"]
    assert "unknown connector status" in errors[json.dumps(broken).encode()]
    assert pipeline.client.get(f"/charging-stations/{cp.station_id}").status_code == 200


def unbound_events(cp: Any) -> list[dict[str, Any]]:
    """Types the queue is not bound to, as a replay to the queue brings them (later than every
    bound event: applied, any of them would move `last_seen_at`)."""
    events = [cp.event("data-transfer", "DataTransfer", {"vendorId": "ACME"},
                       {"status": "UnknownVendorId"}),
              cp.event("firmware-status-notification", "FirmwareStatusNotification",
                       {"status": "Installed"}, {}),
              cp.event("notify-report", "NotifyReport",
                       {"requestId": 1, "generatedAt": "2026-11-25T08:00:00Z", "seqNo": 0}, {})]
    command = cp.event("unused", None, {}, None)
    command["type"] = "ocpp-commands.reset"
    command["command"] = {"command_id": "c-1", "name": "reset", "parameters": {},
                          "requested_by": None, "sent_at": command["received_at"],
                          "outcome": "timeout", "error_code": None, "error_description": None,
                          "latency_ms": 0, "gateway_instance": "gw-1"}
    return [*events, command]


def test_a_replay_of_every_type_to_the_queue_gives_the_live_state(
        pipeline: Any, charger: Callable[..., Any], tmp_path: Path) -> None:
    cp = charger()
    events = session(cp)
    later = unbound_events(cp)
    pipeline.send_to_queue(*later, *events)  # the unbound first: consumed once `settle` returns
    pipeline.settle()
    state = api_state(pipeline.client, cp.station_id)
    assert state == reference_state(tmp_path, events, cp.station_id)
    assert state["station"]["last_seen_at"] < later[0]["received_at"]
    with pipeline.container.engine.connect() as db:  # the database is shared by the session
        from sqlalchemy import select

        from save_server.infrastructure.db.tables import processed_events
        recorded = set(db.execute(select(processed_events.c.event_id).where(
            processed_events.c.event_id.in_([e["event_id"] for e in [*later, *events]])
        )).scalars())
    assert recorded == {e["event_id"] for e in events}  # an ignored type leaves no record
