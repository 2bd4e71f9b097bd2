"""Out-of-order and duplicated delivery through the SQL repositories (which load only the
status history the rules need): the API state equals the in-order state."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from save_server.bootstrap import Container, bootstrap
from save_server.config import Settings
from save_server.infrastructure.db.engine import migrate
from save_server.infrastructure.translation import parse_envelope, translate
from save_server.service.ingest import ingest_event
from tests.support.api_keys import grant

pytestmark = pytest.mark.integration


def feed(container: Container, events: list[dict[str, Any]]) -> None:
    for event in events:
        envelope = parse_envelope(json.dumps(event).encode())
        ingest_event(container.uow_factory, str(envelope.event_id), envelope.type,
                     translate(envelope))


def api_state(container: Container, station_id: str) -> dict[str, Any]:
    client = TestClient(container.app(), headers=grant(container))
    charges = client.get("/charges", params={"charging_station_id": station_id}).json()
    for charge in charges:
        detail = client.get(f"/charges/{charge.pop('id')}").json()
        charge["meter_values"] = sorted(detail["meter_values"], key=repr)
    return {"station": client.get(f"/charging-stations/{station_id}").json(),
            "charges": sorted(charges, key=lambda c: c["transaction_id"])}


def random_day(cp: Any, rng: random.Random) -> list[dict[str, Any]]:
    events = [cp.boot(), cp.status(0, "Available"), cp.status(1, "Available"),
              cp.status(2, "Available")]
    for n in range(rng.randint(2, 4)):
        connector = rng.choice([1, 2])
        meter = rng.randint(0, 10_000)
        events += [cp.status(connector, "Preparing"),
                   cp.start(connector, 100 + n, meter, f"TAG-{n}"),
                   cp.status(connector, rng.choice(["Charging", "SuspendedEVSE"])),
                   cp.meter_values(connector, [{"value": str(meter + 1)},
                                               {"value": str(rng.randint(220, 240)),
                                                "measurand": "Voltage", "phase": "L1"}],
                                   100 + n)]
        if rng.random() < 0.5:
            events.append(cp.disconnect())
            cp.reconnect()
            events.append(cp.boot())
        events += [cp.stop(100 + n, meter + rng.randint(0, 9000),
                           rng.choice([None, "Local", "EmergencyStop", "PowerLoss"])),
                   cp.status(connector, "Finishing"),
                   cp.status(connector, rng.choice(["Available", "Faulted", "Available"]))]
    if rng.random() < 0.5:
        events.append(cp.disconnect())
    return events


@pytest.mark.parametrize("seed", range(6))
def test_shuffled_duplicated_delivery_equals_in_order_delivery(
        database_url: str, tmp_path: Path, charger: Callable[..., Any], seed: int) -> None:
    rng = random.Random(seed)
    cp = charger()
    events = random_day(cp, rng)
    shuffled = events + [e for e in events if rng.random() < 0.3]
    rng.shuffle(shuffled)

    reference_url = f"sqlite:///{tmp_path / 'in-order.sqlite3'}"
    migrate(reference_url)
    reference = bootstrap(Settings(database_url=reference_url, data_dir=tmp_path))
    actual = bootstrap(Settings(database_url=database_url, data_dir=tmp_path))
    try:
        feed(reference, events)
        feed(actual, shuffled)
        assert api_state(actual, cp.station_id) == api_state(reference, cp.station_id)
    finally:
        reference.close()
        actual.close()


def test_a_station_loads_only_the_connections_its_rules_need(
        database_url: str, tmp_path: Path, charger: Callable[..., Any]) -> None:
    """A station that reconnected many times: only the current connection (and those an event
    names) is read back, yet the first connection time and the state stay right."""
    container = bootstrap(Settings(database_url=database_url, data_dir=tmp_path))
    cp = charger()
    first_seen = cp.now
    events = []
    for _ in range(12):
        cp.reconnect()
        events += [cp.connect(), cp.heartbeat(), cp.disconnect()]
    cp.reconnect()
    events += [cp.connect()]
    try:
        feed(container, events)
        with container.uow_factory() as uow:
            station = uow.stations.get(cp.station_id)
            assert station is not None
            assert list(station.connections) == [cp.connection_id]
        state = api_state(container, cp.station_id)["station"]
        assert state["status"] == "connected"
        assert state["first_connected_at"] == events[0]["received_at"]
        assert first_seen.isoformat()[:19] < state["first_connected_at"]
        late_old_disconnect = dict(events[2], event_id=str(uuid.uuid4()))
        feed(container, [late_old_disconnect])
        assert api_state(container, cp.station_id)["station"]["status"] == "connected"
    finally:
        container.close()


def test_charges_of_one_batch_get_ids_in_event_order(
        database_url: str, tmp_path: Path, charger: Callable[..., Any]) -> None:
    """So that a rebuild by replay gives every charge the id it had."""
    from save_server.service.ingest import IncomingEvent, ingest_events

    container = bootstrap(Settings(database_url=database_url, data_dir=tmp_path))
    zulu, alpha = charger(station_id=f"Z-{uuid.uuid4().hex[:6]}"), charger(
        station_id=f"A-{uuid.uuid4().hex[:6]}")
    events = [zulu.start(1, 9, 0), alpha.start(1, 1, 0), zulu.start(2, 3, 0)]
    batch = []
    for event in events:
        envelope = parse_envelope(json.dumps(event).encode())
        batch.append(IncomingEvent(str(envelope.event_id), envelope.type, translate(envelope)))
    try:
        ingest_events(container.uow_factory, batch)
        client = TestClient(container.app(), headers=grant(container))
        ids = {}
        for cp in (zulu, alpha):
            for charge in client.get("/charges", params={"charging_station_id": cp.station_id}
                                     ).json():
                ids[(cp.station_id, charge["transaction_id"])] = charge["id"]
        assert ids[(zulu.station_id, "9")] < ids[(alpha.station_id, "1")] \
            < ids[(zulu.station_id, "3")]
    finally:
        container.close()
