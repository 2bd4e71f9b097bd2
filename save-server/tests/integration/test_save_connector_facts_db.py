"""The connector rules that need a fact's source, arrival and EVSE connector, through the real
databases: each event in its own transaction in a fresh container (no station cache), so every
fact is read back from its row before the next one applies."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from save_server.bootstrap import bootstrap
from save_server.config import Settings
from save_server.domain.rules import ConnectorStatus
from save_server.infrastructure.db.readers import SqlStationReader
from save_server.infrastructure.translation import parse_envelope, translate
from save_server.service.ingest import IncomingEvent, ingest_events

pytestmark = pytest.mark.integration


@pytest.fixture
def feed_one_by_one(database_url: str, tmp_path: Path) -> Callable[[list[dict[str, Any]]], None]:
    def feed(events: list[dict[str, Any]]) -> None:
        for event in events:
            container = bootstrap(Settings(database_url=database_url, data_dir=tmp_path))
            envelope = parse_envelope(json.dumps(event).encode())
            ingest_events(container.uow_factory, [IncomingEvent(
                str(envelope.event_id), envelope.type, translate(envelope))])
            container.close()
    return feed


@pytest.fixture
def shown(database_url: str, tmp_path: Path) -> Callable[[str], dict[int, Any]]:
    """Each connector as its rows give it, checked equal to the stored document the API
    serves."""
    def read(station_id: str) -> dict[int, Any]:
        container = bootstrap(Settings(database_url=database_url, data_dir=tmp_path))
        reader = SqlStationReader(container.engine)
        view, document = reader.get(station_id), reader.document(station_id)
        container.close()
        assert view is not None and document is not None
        stored = {c["connector_id"]: c for c in json.loads(document)["connectors"]}
        for connector in view.connectors:
            assert (stored[connector.connector_id]["status"],
                    stored[connector.connector_id]["raw_status"],
                    stored[connector.connector_id]["id_tag"]) == (
                connector.status.value if connector.status else None, connector.raw_status,
                connector.id_tag)
        return {c.connector_id: c for c in view.connectors}
    return read


def stamp(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def test_a_charge_without_status_reports(feed_one_by_one: Any, shown: Any,
                                         charger: Callable[..., Any]) -> None:
    cp = charger()
    boot, start = cp.boot(), cp.start(1, 7, 100, "TAG-7")
    feed_one_by_one([boot, start])
    during = shown(cp.station_id)[1]
    assert (during.status, during.id_tag) == (ConnectorStatus.IN_USE, "TAG-7")
    stop = cp.stop(7, 900, "Local")
    feed_one_by_one([stop])
    after = shown(cp.station_id)[1]
    ended = datetime.fromisoformat(stop["payload"]["timestamp"])
    assert (after.status, after.last_used_at, after.id_tag) == (
        ConnectorStatus.AVAILABLE, ended, None)


def test_reports_in_the_second_of_the_boot_after_it_on_its_connection(
        feed_one_by_one: Any, shown: Any, charger: Callable[..., Any]) -> None:
    cp = charger(version="2.0.1")
    received = cp.tick().replace(microsecond=654_321)
    boot = cp.boot201()
    boot["received_at"] = stamp(received)
    reports = [cp.status201(1, "Occupied", at=received.replace(microsecond=0)),
               cp.status201(2, "Faulted", at=received.replace(microsecond=0))]
    for n, report in enumerate(reports, start=1):
        report["received_at"] = stamp(received + timedelta(milliseconds=n))
    feed_one_by_one([reports[1], boot, reports[0]])
    evses = shown(cp.station_id)
    assert (evses[1].raw_status, evses[2].raw_status) == ("Occupied", "Faulted")


def test_an_evse_with_two_connectors(feed_one_by_one: Any, shown: Any,
                                     charger: Callable[..., Any]) -> None:
    cp = charger(version="2.0.1")
    feed_one_by_one([cp.boot201(), cp.status201(1, "Occupied", connector_id=1),
                                   cp.status201(1, "Unavailable", connector_id=2)])
    assert shown(cp.station_id)[1].raw_status == "Occupied"
    released = cp.status201(1, "Available", connector_id=1)
    feed_one_by_one([released])
    evse = shown(cp.station_id)[1]
    assert (evse.raw_status, evse.last_used_at) == (
        "Available", datetime.fromisoformat(released["payload"]["timestamp"]))


def test_each_connector_of_an_evse_is_served_with_the_station(
        feed_one_by_one: Any, database_url: str, tmp_path: Path,
        charger: Callable[..., Any]) -> None:
    """GET /charging-stations/{id} and the list show each connector of a 2.0.1 EVSE (a car in
    connector 1 while connector 2 is out of order) beside the EVSE's derived status; a boot
    resets them; a 1.6 connector has none."""
    from fastapi.testclient import TestClient

    from tests.support.api_keys import grant

    cp, old = charger(version="2.0.1"), charger(version="1.6")
    boot = cp.boot201()
    occupied = cp.status201(1, "Occupied", connector_id=1)
    broken = cp.status201(1, "Faulted", connector_id=2)
    feed_one_by_one([boot, occupied, broken, cp.status201(2, "Available"),
                     old.boot(), old.status(1, "Available")])
    container = bootstrap(Settings(database_url=database_url, data_dir=tmp_path))
    client = TestClient(container.app(), headers=grant(container))

    def evses(station_id: str) -> dict[int, dict]:
        response = client.get(f"/charging-stations/{station_id}")
        assert response.status_code == 200, response.text
        listed = [s for s in client.get("/charging-stations").json() if s["id"] == station_id]
        assert listed == [response.json()]
        return {c["connector_id"]: c for c in response.json()["connectors"]}

    try:
        shown = evses(cp.station_id)
        assert (shown[1]["status"], shown[1]["raw_status"]) == ("in_use", "Occupied")
        assert shown[1]["evse_connectors"] == [
            {"connector_id": 1, "status": "in_use", "raw_status": "Occupied",
             "error_code": None, "info": None, "status_at": occupied["payload"]["timestamp"]},
            {"connector_id": 2, "status": "faulted", "raw_status": "Faulted",
             "error_code": None, "info": None, "status_at": broken["payload"]["timestamp"]}]
        assert [c["connector_id"] for c in shown[2]["evse_connectors"]] == [1]
        assert evses(old.station_id)[1]["evse_connectors"] == []
        cp.reconnect()
        feed_one_by_one([cp.boot201()])
        assert evses(cp.station_id)[1]["evse_connectors"] == []
    finally:
        container.close()
