"""The real websocket server: handshake rules, every 1.6 event against its schema, disconnects."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

V16_CALLS = [
    ("BootNotification", {"chargePointVendor": "VendorX", "chargePointModel": "ModelY"}),
    ("Heartbeat", {}),
    ("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"}),
    ("Authorize", {"idTag": "ABC123"}),
    ("StartTransaction", {"connectorId": 1, "idTag": "ABC123", "meterStart": 1000,
                          "timestamp": "2026-11-25T11:59:58Z"}),
    ("MeterValues", {"connectorId": 1, "transactionId": 1, "meterValue": [
        {"timestamp": "2026-11-25T12:00:00Z", "sampledValue": [{"value": "1500"}]}]}),
    ("StopTransaction", {"transactionId": 1, "meterStop": 2000, "idTag": "ABC123",
                         "timestamp": "2026-11-25T12:10:00Z", "reason": "Local"}),
    ("DataTransfer", {"vendorId": "acme", "messageId": "x", "data": "{}"}),
    ("DiagnosticsStatusNotification", {"status": "Uploaded"}),
    ("FirmwareStatusNotification", {"status": "Installed"}),
    ("SecurityEventNotification", {"type": "StartupOfTheDevice",
                                   "timestamp": "2026-11-25T12:00:00Z"}),
]


def url(gateway, station_id: str) -> str:
    return f"ws://127.0.0.1:{gateway.ocpp.port}/ocpp/{station_id}"


async def call(ws, unique_id: str, action: str, payload: dict) -> list:
    await ws.send(json.dumps([2, unique_id, action, payload]))
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_every_16_call_is_answered_and_its_event_matches_the_schema(
        make_gateway, notifier, station_id, validate_event):
    gateway = await make_gateway(notifier)
    async with connect(url(gateway, station_id), subprotocols=["ocpp1.6"]) as ws:
        assert ws.subprotocol == "ocpp1.6"
        for index, (action, payload) in enumerate(V16_CALLS):
            reply = await call(ws, f"id-{index}", action, payload)
            assert reply[0] == 3, reply
            assert reply[1] == f"id-{index}"
    await wait_for(lambda: bool(notifier.of_type("ocpp-events.disconnect")))
    assert notifier.events[0].type == "ocpp-events.connect"
    assert [e.action for e in notifier.events[1:-1]] == [a for a, _ in V16_CALLS]
    connection_ids = {e.connection_id for e in notifier.events}
    assert len(connection_ids) == 1
    for event in notifier.events:
        body = json.loads(event.to_json())
        validate_event(body)
        assert body["charging_station_id"] == station_id
        assert body["ocpp_version"] == "1.6"
        assert body["received_at"].endswith("Z")
    disconnect = json.loads(notifier.events[-1].to_json())
    assert disconnect["payload"]["close_code"] == 1000
    assert disconnect["message_id"] is None and disconnect["response"] is None


async def test_url_encoded_station_id_is_decoded(make_gateway, notifier):
    gateway = await make_gateway(notifier)
    async with connect(f"ws://127.0.0.1:{gateway.ocpp.port}/ocpp/CP%20{uuid.uuid4().hex[:6]}",
                       subprotocols=["ocpp1.6"]) as ws:
        await call(ws, "1", "Heartbeat", {})
    assert notifier.events[0].charging_station_id.startswith("CP ")


@pytest.mark.parametrize(("path", "status"), [
    ("/other/CP-1", 404),
    ("/ocpp/", 400),
    ("/ocpp/" + "x" * 49, 400),
    ("/ocpp/CP%0A1", 400),
    ("/ocpp/CP%FF", 400),
    ("/ocpp/a/b", 400),
])
async def test_bad_paths_are_refused_at_the_handshake(make_gateway, path, status):
    gateway = await make_gateway()
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"ws://127.0.0.1:{gateway.ocpp.port}{path}",
                           subprotocols=["ocpp1.6"]):
            pass
    assert refused.value.response.status_code == status


async def test_a_48_character_station_id_is_accepted(make_gateway):
    gateway = await make_gateway()
    async with connect(url(gateway, "x" * 48), subprotocols=["ocpp1.6"]) as ws:
        assert ws.subprotocol == "ocpp1.6"


@pytest.mark.parametrize("offered", [None, ["ocpp1.5"], ["chat"]])
async def test_handshake_without_a_supported_subprotocol_is_refused(
        make_gateway, station_id, offered):
    gateway = await make_gateway()
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url(gateway, station_id), subprotocols=offered):
            pass
    assert refused.value.response.status_code == 400


async def test_201_is_preferred_when_a_station_offers_both(make_gateway, station_id):
    gateway = await make_gateway()
    async with connect(url(gateway, station_id),
                       subprotocols=["ocpp1.6", "ocpp2.0.1"]) as ws:
        assert ws.subprotocol == "ocpp2.0.1"


async def test_broker_down_answers_internal_error_and_keeps_the_connection(
        make_gateway, notifier, station_id):
    gateway = await make_gateway(notifier)
    async with connect(url(gateway, station_id), subprotocols=["ocpp1.6"]) as ws:
        notifier.failing = True
        reply = await call(ws, "1", "Heartbeat", {})
        assert reply[:3] == [4, "1", "InternalError"]
        notifier.failing = False
        reply = await call(ws, "2", "Heartbeat", {})
        assert reply[0] == 3
    assert [e.message_id for e in notifier.of_type("ocpp-events.heart-beat")] == ["2"]


async def test_server_close_reports_its_close_code_in_disconnect(make_gateway, notifier,
                                                                 station_id):
    gateway = await make_gateway(notifier, gateway_max_frame_bytes=1024)
    async with connect(url(gateway, station_id), subprotocols=["ocpp1.6"]) as ws:
        await ws.send(json.dumps([2, "1", "DataTransfer", {"vendorId": "v", "data": "x" * 2000}]))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    await wait_for(lambda: bool(notifier.of_type("ocpp-events.disconnect")))
    assert notifier.of_type("ocpp-events.disconnect")[0].payload["close_code"] == 1009
