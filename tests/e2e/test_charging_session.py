"""A 1.6 charger goes through a whole session; everything is checked via the public HTTP APIs.

Runs twice: on the embedded platform (`make run`'s mode) and on separate service processes
against the machine's RabbitMQ and PostgreSQL.
"""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
import websockets

from tests.e2e.charger import CALL_ERROR, Charger, get_json, now_iso, poll
from tests.e2e.platform import Platform, api_headers

pytestmark = pytest.mark.e2e


def new_station_id() -> str:
    return f"E2E-{uuid.uuid4().hex[:8]}"


def find_station(stations: list[dict], station_id: str) -> dict | None:
    return next((s for s in stations if s["id"] == station_id), None)


async def run_session(charger: Charger) -> int:
    boot = await charger.call("BootNotification", {
        "chargePointVendor": "SAVE", "chargePointModel": "Wallbox-1",
        "chargePointSerialNumber": "SN-1", "firmwareVersion": "1.0"})
    assert boot["status"] == "Accepted"
    assert boot["interval"] > 0 and boot["currentTime"].endswith(("Z", "+00:00"))
    for connector_id in (0, 1, 2):
        await charger.call("StatusNotification", {
            "connectorId": connector_id, "errorCode": "NoError", "status": "Available",
            "timestamp": now_iso()})
    authorized = await charger.call("Authorize", {"idTag": "TAG-1"})
    assert authorized["idTagInfo"]["status"] == "Accepted"
    started = await charger.call("StartTransaction", {
        "connectorId": 1, "idTag": "TAG-1", "meterStart": 1000, "timestamp": now_iso()})
    transaction_id = started["transactionId"]
    assert isinstance(transaction_id, int) and 0 < transaction_id < 2**31
    await charger.call("StatusNotification", {
        "connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": now_iso()})
    await charger.call("MeterValues", {
        "connectorId": 1, "transactionId": transaction_id,
        "meterValue": [{"timestamp": now_iso(), "sampledValue": [
            {"value": "1500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]})
    heartbeat = await charger.call("Heartbeat", {})
    assert heartbeat["currentTime"]
    await charger.call("StopTransaction", {
        "transactionId": transaction_id, "meterStop": 3500, "timestamp": now_iso(),
        "reason": "Local"})
    return transaction_id


async def test_session_is_visible_through_the_apis(platform: Platform) -> None:
    station_id = new_station_id()
    stations_url = f"{platform.save_server_url}/charging-stations"
    async with Charger(platform.station_url(station_id)) as charger:
        await run_session(charger)
        station = await poll(
            lambda: get_json(stations_url),
            lambda stations: (s := find_station(stations, station_id)) is not None
            and s["status"] == "connected"
            and {c["connector_id"] for c in s["connectors"]} >= {1, 2})
        listed = find_station(station, station_id)
        assert listed["first_connected_at"] and listed["last_connected_at"]
        message_ids = list(charger.sent_message_ids)

    await poll(lambda: get_json(stations_url),
               lambda stations: find_station(stations, station_id)["status"] == "disconnected")

    events = await poll(
        lambda: get_json(f"{platform.event_store_url}/events",
                         charging_station_id=station_id, limit=1000),
        lambda events: len(events) >= len(message_ids) + 2)
    lifecycle = {"ocpp-events.connect", "ocpp-events.disconnect"}
    assert {e["message_id"] for e in events if e["type"] not in lifecycle} == set(message_ids)
    assert events[0]["type"] == "ocpp-events.connect"
    assert events[-1]["type"] == "ocpp-events.disconnect"
    types = [e["type"] for e in events]
    for expected in ("ocpp-events.boot-notification", "ocpp-events.status-notification",
                     "ocpp-events.authorize", "ocpp-events.start-transaction",
                     "ocpp-events.meter-values", "ocpp-events.heart-beat",
                     "ocpp-events.stop-transaction"):
        assert expected in types
    dates = [e["date"] for e in events]
    assert dates == sorted(dates), "events are listed oldest first"
    assert all(e["charging_station_id"] == station_id for e in events)


async def test_garbage_frame_gets_a_call_error_and_spares_other_chargers(
        platform: Platform) -> None:
    async with Charger(platform.station_url(new_station_id())) as bad, \
            Charger(platform.station_url(new_station_id())) as good:
        await bad.send_raw('[2, "x-1", "Heartbeat", {"unterminated": ')
        try:
            frame = await bad.receive_for()
            assert frame[0] == CALL_ERROR
            assert frame[2] in {"FormationViolation", "ProtocolError", "GenericError"}
        except websockets.ConnectionClosed as closed:  # closing the socket is also allowed
            assert closed.rcvd is not None
        boot = await good.call("BootNotification", {
            "chargePointVendor": "SAVE", "chargePointModel": "Wallbox-1"})
        assert boot["status"] == "Accepted"


async def test_wrong_payload_gets_a_call_error(platform: Platform) -> None:
    async with Charger(platform.station_url(new_station_id())) as charger:
        await charger.send_raw(json.dumps([2, "m-1", "StartTransaction", {"connectorId": "one"}]))
        frame = await charger.receive_for("m-1")
        assert frame[0] == CALL_ERROR
        boot = await charger.call("BootNotification", {
            "chargePointVendor": "SAVE", "chargePointModel": "Wallbox-1"})
        assert boot["status"] == "Accepted", "the connection survives a bad call"


@pytest.mark.parametrize(
    ("service", "path", "params"),
    [
        ("event_store_url", "/events", {"start_date": "not-a-date"}),
        ("event_store_url", "/events", {"limit": "0"}),
        ("save_server_url", "/charging-stations", {"status": "sleeping"}),
    ],
)
def test_bad_query_parameters_get_422_naming_the_parameter(
        platform: Platform, service: str, path: str, params: dict) -> None:
    response = httpx.get(f"{getattr(platform, service)}{path}", params=params, timeout=10,
                         headers=api_headers())
    assert response.status_code == 422
    assert next(iter(params)) in response.text
