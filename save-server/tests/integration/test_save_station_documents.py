"""Every write of a station stores its listed JSON document in the same transaction, so
`GET /charging-stations` reads ready documents; stations without one (written before
migration 0004, or seeded straight into the tables) are built from their rows."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, delete, select, text

from save_server.bootstrap import Container
from save_server.infrastructure.db import tables
from save_server.infrastructure.db.documents import view_document
from save_server.infrastructure.db.engine import migrate
from save_server.infrastructure.db.readers import SqlStationReader
from save_server.infrastructure.translation import parse_envelope, translate
from save_server.service.ingest import IncomingEvent, ingest_events
from tests.support.api_keys import grant

pytestmark = pytest.mark.integration


def feed(container: Container, events: list[dict[str, Any]], batch: int = 3) -> None:
    incoming = []
    for event in events:
        envelope = parse_envelope(json.dumps(event).encode())
        incoming.append(IncomingEvent(str(envelope.event_id), envelope.type,
                                      translate(envelope)))
    for start in range(0, len(incoming), batch):
        ingest_events(container.uow_factory, incoming[start:start + batch])


def stored(container: Container, station_id: str) -> str | None:
    s = tables.stations.c
    with container.engine.connect() as db:
        return db.execute(select(s.document).where(s.station_id == station_id)).scalar_one()


def python_document(container: Container, station_id: str) -> dict[str, Any]:
    """The document the station's rows give."""
    view = SqlStationReader(container.engine).get(station_id)
    assert view is not None
    return json.loads(view_document(view))  # type: ignore[no-any-return]


def test_ingest_stores_the_document_the_rows_give(container: Container,
                                                  charger: Callable[..., Any]) -> None:
    cp = charger()
    feed(container, [cp.connect(), cp.boot(), cp.status(0, "Faulted", "GroundFailure"),
              cp.status(1, "Preparing"), cp.start(1, 7, 1000, "TAG-9"),
              cp.status(1, "Charging"), cp.status(2, "Available"),
              cp.meter_values(1, [{"value": "1010"},
                                  {"value": "231.5", "measurand": "Voltage", "phase": "L1",
                                   "unit": "V"}], 7)])
    document = stored(container, cp.station_id)
    assert document is not None
    assert json.loads(document) == python_document(container, cp.station_id)
    listed = json.loads(document)
    assert listed["status"] == "connected" and listed["vendor"] == "ACME"
    assert [c["connector_id"] for c in listed["connectors"]] == [1, 2]
    assert listed["connectors"][0]["id_tag"] == "TAG-9"
    assert listed["availability"]["status"] == "faulted"
    # Every later change rewrites it: stop, available (id tag cleared), disconnect.
    feed(container, [cp.stop(7, 2000, "Local"), cp.status(1, "Available"), cp.disconnect()])
    after = json.loads(stored(container, cp.station_id) or "null")
    assert after == python_document(container, cp.station_id)
    assert after["status"] == "disconnected"
    assert after["connectors"][0]["id_tag"] is None
    assert after["connectors"][0]["last_used_at"] is not None
    assert after != listed


def test_operator_data_rewrites_the_document(container: Container,
                                             charger: Callable[..., Any]) -> None:
    cp = charger()
    feed(container, [cp.connect(), cp.boot()])
    with TestClient(container.app(), headers=grant(container)) as client:
        response = client.patch(f"/charging-stations/{cp.station_id}",
                                json={"name": "Garagem São João", "latitude": 38.75})
        assert response.status_code == 200
        listed = {s["id"]: s for s in client.get("/charging-stations").json()}
    document = json.loads(stored(container, cp.station_id) or "null")
    assert document["name"] == "Garagem São João" and document["latitude"] == 38.75
    assert listed[cp.station_id] == document == response.json()


def test_list_mixes_stored_and_rebuilt_documents(container: Container,
                                                 charger: Callable[..., Any]) -> None:
    fed, seeded = charger(), f"SEEDED-{uuid.uuid4().hex[:8]}"
    feed(container, [fed.connect(), fed.boot(), fed.status(1, "Available")])
    with container.engine.begin() as db:
        db.execute(tables.stations.insert().values(station_id=seeded, status="disconnected",
                                                   vendor="Old", latitude=12.5))
        db.execute(tables.connectors.insert().values(station_id=seeded, connector_id=1,
                                                     status="faulted"))
    try:
        assert stored(container, seeded) is None
        document = SqlStationReader(container.engine).list_documents()
        assert document is not None
        by_id = {s["id"]: s for s in json.loads(document)}
        for station_id in (fed.station_id, seeded):
            assert by_id[station_id] == python_document(container, station_id)
        assert by_id[seeded]["connectors"][0]["status"] == "faulted"
        # The next write of the seeded station stores its document.
        cp = charger(seeded)
        feed(container, [cp.connect()])
        assert json.loads(stored(container, seeded) or "null") == python_document(container, seeded)
    finally:
        with container.engine.begin() as db:
            for table in (tables.station_connections, tables.connectors, tables.stations):
                db.execute(delete(table).where(table.c.station_id == seeded))


def test_migration_0004_fills_the_documents_of_existing_stations(
        postgres_database: Callable[..., Any]) -> None:
    with postgres_database("save_server_docs") as url:
        migrate(url, "0003_station_commands")
        engine = create_engine(url)
        try:
            with engine.begin() as db:
                db.execute(text("INSERT INTO stations (station_id, status, name, longitude) "
                                "VALUES ('CP-OLD', 'connected', 'Depot', -9.5)"))
                db.execute(text("INSERT INTO station_readings (station_id, measurand, phase, "
                                "value, unit, measured_at) VALUES ('CP-OLD', 'power', '', "
                                "7250.5, 'W', '2026-11-25T08:00:00.5Z')"))
            migrate(url)
            with engine.connect() as db:
                document = db.execute(text(
                    "SELECT document FROM stations WHERE station_id = 'CP-OLD'")).scalar_one()
            assert document is not None
            view = SqlStationReader(engine).get("CP-OLD")
            assert view is not None
            assert json.loads(document) == json.loads(view_document(view))
            assert json.loads(document)["readings"][0]["measured_at"] == \
                "2026-11-25T08:00:00.500000Z"
        finally:
            engine.dispose()


def test_values_with_percent_signs_quotes_and_accents_are_stored_as_sent(
        container: Container, charger: Callable[..., Any]) -> None:
    """The worker's writes go to PostgreSQL as one rendered multi-statement string: nothing in
    a value may be read as a placeholder or end a literal."""
    cp = charger()
    info = "100% %s %(x)s %% ' \" ; São João"
    booted = [cp.connect(), cp.boot()]
    status = cp.event("status-notification", "StatusNotification", {
        "connectorId": 1, "status": "Faulted", "errorCode": "OtherError", "info": info}, {})
    feed(container, [*booted, status])
    listed = json.loads(stored(container, cp.station_id) or "null")
    assert listed["connectors"][0]["info"] == info
    assert listed == python_document(container, cp.station_id)
    r = tables.connector_status_reports.c
    with container.engine.connect() as db:
        assert db.execute(select(r.info).where(r.station_id == cp.station_id)).scalar_one() == info
