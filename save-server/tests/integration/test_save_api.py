"""The REST API over a real database (SQLite and PostgreSQL), fed through the ingest path."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from save_server.bootstrap import Container
from save_server.infrastructure.translation import parse_envelope, translate
from save_server.service.ingest import ingest_event
from tests.support.api_keys import grant

pytestmark = pytest.mark.integration


def feed(container: Container, events: list[dict[str, Any]]) -> None:
    for event in events:
        envelope = parse_envelope(json.dumps(event).encode())
        ingest_event(container.uow_factory, str(envelope.event_id), envelope.type,
                     translate(envelope))


@pytest.fixture
def client(container: Container) -> TestClient:
    return TestClient(container.app(), headers=grant(container))


def a_session(cp: Any, transaction: int, meter: int, reason: str | None = "Local",
              tag: str = "TAG-1") -> list[dict[str, Any]]:
    return [cp.status(1, "Preparing"), cp.start(1, transaction, meter, tag),
            cp.status(1, "Charging"),
            cp.meter_values(1, [{"value": str(meter + 10)}], transaction),
            cp.stop(transaction, meter + 1000, reason), cp.status(1, "Available")]


def test_station_listing_shows_state_connectors_and_readings(
        container: Container, client: TestClient, charger: Callable[..., Any]) -> None:
    cp, other = charger(), charger()
    feed(container, [cp.boot(), cp.status(0, "Available"), cp.status(1, "Available"),
                     cp.start(1, 1, 0, "RFID-7"), cp.status(1, "Charging"),
                     cp.meter_values(1, [{"value": "231", "measurand": "Voltage", "unit": "V"}]),
                     other.boot(), other.disconnect()])
    stations = {s["id"]: s for s in client.get("/charging-stations").json()}
    station = stations[cp.station_id]
    assert station["status"] == "connected"
    assert (station["vendor"], station["model"]) == ("ACME", "Wallbox 22")
    assert station["first_connected_at"].endswith("Z")
    assert station["availability"]["status"] == "available"
    [connector] = station["connectors"]
    assert (connector["connector_id"], connector["status"], connector["raw_status"],
            connector["id_tag"]) == (1, "in_use", "Charging", "RFID-7")
    assert [(r["measurand"], r["value"]) for r in station["readings"]] == [("voltage", 231.0)]
    assert stations[other.station_id]["status"] == "disconnected"
    connected = client.get("/charging-stations", params={"status": "connected"}).json()
    assert cp.station_id in {s["id"] for s in connected}
    assert other.station_id not in {s["id"] for s in connected}
    assert client.get(f"/charging-stations/{cp.station_id}").json() == station


def test_station_errors(client: TestClient) -> None:
    assert client.get("/charging-stations/NOPE-404").status_code == 404
    response = client.get("/charging-stations", params={"status": "sleepy"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "status"]


@pytest.mark.parametrize("method", ["post", "patch"])
def test_operator_data_is_merged_and_validated(
        container: Container, client: TestClient, charger: Callable[..., Any],
        method: str) -> None:
    cp = charger()
    feed(container, [cp.boot()])
    path = (f"/charging-station/{cp.station_id}/data" if method == "post"
            else f"/charging-stations/{cp.station_id}")
    send = getattr(client, method)
    first = send(path, json={"name": "Garage A", "latitude": 38.72, "longitude": -9.14})
    assert first.status_code == 200
    assert (first.json()["name"], first.json()["latitude"]) == ("Garage A", 38.72)
    second = send(path, json={"address": "Rua 1"}).json()
    assert (second["name"], second["address"], second["longitude"]) == (
        "Garage A", "Rua 1", -9.14)
    assert second["vendor"] == "ACME"
    for bad, field in [({}, "name"), ({"colour": "red"}, "colour"),
                       ({"latitude": 91}, "latitude"), ({"longitude": -180.01}, "longitude")]:
        response = send(path, json=bad)
        assert response.status_code == 422, bad
        assert response.json()["detail"][0]["loc"][-1] == field
    assert send(path.replace(cp.station_id, "NOPE-404"), json={"name": "x"}).status_code == 404
    assert client.get(f"/charging-stations/{cp.station_id}").json()["name"] == "Garage A"


def test_charges_filters_order_and_keyset_pages(
        container: Container, client: TestClient, charger: Callable[..., Any]) -> None:
    cp, other = charger(), charger()
    events: list[dict[str, Any]] = [cp.boot(), other.boot()]
    for n in range(5):
        events += a_session(cp, n + 1, n * 10_000, "Local" if n % 2 else "EmergencyStop",
                            tag=f"TAG-{n % 2}")
    events += a_session(other, 1, 0)
    feed(container, events)

    mine = client.get("/charges", params={"charging_station_id": cp.station_id}).json()
    assert [c["transaction_id"] for c in mine] == ["5", "4", "3", "2", "1"]  # newest first
    assert {c["status"] for c in mine} == {"finished", "error"}
    assert all(c["energy_wh"] == 1000 for c in mine)
    errors = client.get("/charges", params={"charging_station_id": cp.station_id,
                                            "status": "error"}).json()
    assert [c["stop_reason"] for c in errors] == ["EmergencyStop"] * 3
    tagged = client.get("/charges", params={"charging_station_id": cp.station_id,
                                            "id_tag": "TAG-1"}).json()
    assert [c["transaction_id"] for c in tagged] == ["4", "2"]

    start = mine[3]["started_at"]  # charge 2 onwards
    end = mine[1]["ended_at"]  # up to charge 4
    window = client.get("/charges", params={"charging_station_id": cp.station_id,
                                            "start_date": start, "end_date": end}).json()
    assert [c["transaction_id"] for c in window] == ["4", "3", "2"]
    naive = start.replace("Z", "")
    assert client.get("/charges", params={"charging_station_id": cp.station_id,
                                          "start_date": naive}).json() == mine[:4]

    pages, url = [], f"/charges?charging_station_id={cp.station_id}&limit=2"
    while url:
        response = client.get(url)
        pages.append([c["transaction_id"] for c in response.json()])
        link = response.headers.get("link")
        url = re.match(r'<([^>]+)>; rel="next"', link).group(1) if link else ""
    assert pages == [["5", "4"], ["3", "2"], ["1"]]


@pytest.mark.parametrize(("params", "name"), [
    ({"start_date": "yesterday"}, "start_date"),
    ({"end_date": "2026-13-01"}, "end_date"),
    ({"start_date": "2026-02-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"}, "start_date"),
    ({"status": "paused"}, "status"),
    ({"limit": 0}, "limit"),
    ({"limit": 1001}, "limit"),
    ({"after": "garbage"}, "after"),
])
def test_bad_charge_queries_are_422_naming_the_parameter(
        client: TestClient, params: dict[str, Any], name: str) -> None:
    for path in ("/charges", "/charges.csv"):
        if path == "/charges.csv" and name in ("limit", "after"):
            continue
        response = client.get(path, params=params)
        assert response.status_code == 422, (path, params)
        assert response.json()["detail"][0]["loc"] == ["query", name]


def test_empty_results_are_empty_lists(client: TestClient) -> None:
    assert client.get("/charges", params={"charging_station_id": "NOBODY"}).json() == []
    assert client.get("/charging-stations", params={"status": "connected"}).status_code == 200


def test_one_charge_with_its_meter_values_and_404(
        container: Container, client: TestClient, charger: Callable[..., Any]) -> None:
    cp = charger()
    feed(container, [cp.boot(), *a_session(cp, 9, 500)])
    [listed] = client.get("/charges", params={"charging_station_id": cp.station_id}).json()
    detail = client.get(f"/charges/{listed['id']}").json()
    assert {k: v for k, v in detail.items() if k != "meter_values"} == listed
    assert [(m["measurand"], m["value"]) for m in detail["meter_values"]] == [
        ("energy_register", 510.0)]
    assert client.get("/charges/999999999").status_code == 404


def test_charges_csv_is_rfc4180_with_offsets(
        container: Container, client: TestClient, charger: Callable[..., Any]) -> None:
    cp = charger()
    feed(container, [cp.boot(), *a_session(cp, 1, 0, tag='Tag, "quoted"'),
                     *a_session(cp, 2, 0, reason="PowerLoss")])
    response = client.get("/charges.csv", params={"charging_station_id": cp.station_id})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "\r\n" in response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["transaction_id"], r["status"], r["stop_reason"]) for r in rows] == [
        ("2", "error", "PowerLoss"), ("1", "finished", "Local")]
    assert rows[1]["id_tag"] == 'Tag, "quoted"'
    assert rows[0]["started_at"].endswith("+00:00")


def test_health_ready_and_metrics(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready", "checks": {"database": True}}
    client.get("/charging-stations/NOPE")
    metrics = client.get("/metrics").text
    assert 'route="/charging-stations/{station_id}"' in metrics
    assert "save_server_events_processed_total" in metrics


def test_ocpp201_updated_before_started_still_gives_one_listed_charge(
        container: Container, client: TestClient, charger: Callable[..., Any]) -> None:
    cp = charger(version="2.0.1")
    started = cp.transaction201("Started", "tx-late", 1, energy_wh=10, id_token="RFID-5")
    updated = cp.transaction201("Updated", "tx-late", 1, energy_wh=500)
    feed(container, [updated])
    [in_progress] = client.get("/charges", params={"charging_station_id": cp.station_id}).json()
    assert (in_progress["status"], in_progress["started_at"]) == ("charging", None)
    ended = cp.transaction201("Ended", "tx-late", 1, energy_wh=910, stopped_reason="Local")
    feed(container, [ended, started])
    [charge] = client.get("/charges", params={"charging_station_id": cp.station_id}).json()
    assert (charge["status"], charge["energy_wh"], charge["id_tag"]) == ("finished", 900, "RFID-5")
