"""GET /charging-stations for stations seeded straight into the tables, without a stored
document (as after an upgrade): each one's document is built from its rows, on either
database, with the values as the writers store them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from save_server.bootstrap import Container
from save_server.domain.rules import StationStatus
from save_server.infrastructure.db import tables
from save_server.infrastructure.db.readers import SqlStationReader
from tests.support.api_keys import grant

T = datetime(2026, 11, 25, 8, 0, 0, tzinfo=UTC)
T_MICRO = datetime(2026, 11, 25, 8, 0, 0, 120000, tzinfo=UTC)


@pytest.fixture
def stations(container: Container) -> Iterator[list[str]]:
    """Three stations covering nulls, microseconds, unicode, an id tag still assigned and one
    cleared by a later Available, readings with and without phase; removed afterwards."""
    prefix = f"SQLJSON-{uuid.uuid4().hex[:8]}-"
    ids = [f"{prefix}a", f"{prefix}b", f"{prefix}c"]
    t = tables
    with container.engine.begin() as db:
        db.execute(t.stations.insert(), _full(t.stations, [
            {"station_id": ids[0], "status": "connected", "first_connected_at": T,
             "last_connected_at": T_MICRO, "last_seen_at": T + timedelta(minutes=5),
             "vendor": "ACME", "model": "Wallbox \"22\"", "serial_number": None,
             "firmware_version": "1.2", "boot_info_at": T, "name": "Garagem São João",
             "address": "Rua 1\nLisboa", "latitude": 38.5, "longitude": -9.125,
             "availability_status": "faulted", "availability_raw_status": "Faulted",
             "availability_error_code": "GroundFailure", "availability_info": None,
             "availability_at": T_MICRO},
            {"station_id": ids[1], "status": "disconnected"},
            {"station_id": ids[2], "status": "connected", "latitude": 1e-7,
             "longitude": 180.0},
        ]))
        db.execute(t.connectors.insert(), _full(t.connectors, [
            {"station_id": ids[0], "connector_id": 2, "status": "available",
             "raw_status": "Available", "error_code": "NoError", "status_at": T_MICRO,
             "last_available_at": T_MICRO, "id_tag": "OLD", "id_tag_at": T},
            {"station_id": ids[0], "connector_id": 1, "status": "in_use",
             "raw_status": "Charging", "error_code": "NoError", "info": "hot",
             "status_at": T, "last_used_at": T_MICRO, "last_available_at": T,
             "id_tag": "RFID-1", "id_tag_at": T + timedelta(seconds=1)},
            {"station_id": ids[2], "connector_id": 1},
        ]))
        db.execute(t.station_readings.insert(), [
            {"station_id": ids[0], "measurand": "voltage", "phase": "L1", "value": 231.5,
             "unit": "V", "measured_at": T_MICRO},
            {"station_id": ids[0], "measurand": "energy_register", "phase": "",
             "value": 1200.0, "unit": "Wh", "measured_at": T},
            {"station_id": ids[2], "measurand": "power", "phase": "",
             "value": 7.25, "unit": None, "measured_at": T},
        ])
    yield ids
    with container.engine.begin() as db:
        for table in (t.station_readings, t.connectors, t.stations):
            db.execute(delete(table).where(table.c.station_id.in_(ids)))


def _full(table: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every column in every row (one executemany), NULL where not given (the database's
    default for columns that have one)."""
    return [{column.name: row.get(column.name) for column in table.columns
             if column.server_default is None or column.name in row} for row in rows]


@pytest.mark.parametrize("status", [None, StationStatus.CONNECTED, StationStatus.DISCONNECTED])
def test_documents_listed_by_id_and_filtered_by_status(container: Container,
                                                      stations: list[str],
                                                      status: StationStatus | None) -> None:
    document = SqlStationReader(container.engine).list_documents(status)
    listed = [s["id"] for s in json.loads(document)]
    assert listed == sorted(listed)
    expected = {None: stations, StationStatus.CONNECTED: [stations[0], stations[2]],
                StationStatus.DISCONNECTED: [stations[1]]}[status]
    assert [i for i in listed if i in stations] == expected


def test_built_document_values(container: Container, stations: list[str]) -> None:
    document = SqlStationReader(container.engine).list_documents()
    by_id = {s["id"]: s for s in json.loads(document)}
    first, bare, third = (by_id[i] for i in stations)
    # Times in UTC with Z, microseconds only when there are some.
    assert '"first_connected_at":"2026-11-25T08:00:00Z"' in document
    assert '"last_connected_at":"2026-11-25T08:00:00.120000Z"' in document
    assert first["name"] == "Garagem São João" and first["model"] == 'Wallbox "22"'
    assert first["address"] == "Rua 1\nLisboa"
    assert first["availability"] == {"status": "faulted", "raw_status": "Faulted",
                                     "error_code": "GroundFailure", "info": None,
                                     "at": "2026-11-25T08:00:00.120000Z"}
    assert [c["connector_id"] for c in first["connectors"]] == [1, 2]
    assert first["connectors"][0]["id_tag"] == "RFID-1"
    assert first["connectors"][1]["id_tag"] is None  # available after the assignment
    assert [(r["measurand"], r["phase"]) for r in first["readings"]] == [
        ("energy_register", None), ("voltage", "L1")]
    assert bare["connectors"] == [] and bare["readings"] == []
    assert bare["availability"] is None and bare["latitude"] is None
    assert third["latitude"] == 1e-7 and third["longitude"] == 180.0
    assert third["connectors"][0]["status"] is None


def test_route_serves_the_documents(container: Container, stations: list[str]) -> None:
    reader = SqlStationReader(container.engine)
    with TestClient(container.app(), headers=grant(container)) as client:
        response = client.get("/charging-stations", params={"status": "disconnected"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == json.loads(reader.list_documents(StationStatus.DISCONNECTED))
        assert stations[1] in [s["id"] for s in response.json()]
        assert client.get("/charging-stations", params={"status": "sleepy"}).status_code == 422
