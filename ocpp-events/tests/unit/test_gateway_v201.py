"""OCPP 2.0.1: every inbound call of issue 3 answered per spec, its event valid per schema."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect

T = "2026-11-25T12:00:00Z"
ID_TOKEN = {"idToken": "ABC123", "type": "ISO14443"}
V201_CALLS = [
    ("BootNotification", {"chargingStation": {"model": "M", "vendorName": "V"},
                          "reason": "PowerUp"}),
    ("Heartbeat", {}),
    ("StatusNotification", {"timestamp": T, "connectorStatus": "Available", "evseId": 1,
                            "connectorId": 1}),
    ("Authorize", {"idToken": ID_TOKEN}),
    ("TransactionEvent", {"eventType": "Started", "timestamp": T, "triggerReason": "Authorized",
                          "seqNo": 0, "transactionInfo": {"transactionId": "tx-1"},
                          "idToken": ID_TOKEN, "evse": {"id": 1, "connectorId": 1}}),
    ("MeterValues", {"evseId": 1, "meterValue": [
        {"timestamp": T, "sampledValue": [{"value": 12.5}]}]}),
    ("NotifyEvent", {"generatedAt": T, "seqNo": 0, "eventData": [
        {"eventId": 1, "timestamp": T, "trigger": "Alerting", "actualValue": "x",
         "eventNotificationType": "HardWiredNotification", "component": {"name": "C"},
         "variable": {"name": "V"}}]}),
    ("NotifyReport", {"requestId": 1, "generatedAt": T, "seqNo": 0}),
    ("SecurityEventNotification", {"type": "StartupOfTheDevice", "timestamp": T}),
    ("FirmwareStatusNotification", {"status": "Installed"}),
    ("LogStatusNotification", {"status": "Uploaded"}),
    ("DataTransfer", {"vendorId": "acme"}),
    ("ReservationStatusUpdate", {"reservationId": 1, "reservationUpdateStatus": "Expired"}),
    ("ClearedChargingLimit", {"chargingLimitSource": "EMS"}),
    ("NotifyChargingLimit", {"chargingLimit": {"chargingLimitSource": "EMS"}}),
    ("ReportChargingProfiles", {"requestId": 1, "chargingLimitSource": "CSO", "evseId": 1,
                                "chargingProfile": [{
                                    "id": 1, "stackLevel": 0,
                                    "chargingProfilePurpose": "TxDefaultProfile",
                                    "chargingProfileKind": "Absolute",
                                    "chargingSchedule": [{
                                        "id": 1, "chargingRateUnit": "W",
                                        "chargingSchedulePeriod": [
                                            {"startPeriod": 0, "limit": 11000.0}]}]}]}),
    ("NotifyEVChargingNeeds", {"evseId": 1,
                               "chargingNeeds": {"requestedEnergyTransfer": "AC_three_phase"}}),
]
EXPECTED_REPLIES = {
    "BootNotification": {"currentTime": "2026-11-25T12:00:00Z", "interval": 300,
                         "status": "Accepted"},
    "Heartbeat": {"currentTime": "2026-11-25T12:00:00Z"},
    "Authorize": {"idTokenInfo": {"status": "Accepted"}},
    "TransactionEvent": {"idTokenInfo": {"status": "Accepted"}},
    "DataTransfer": {"status": "UnknownVendorId"},
    "NotifyEVChargingNeeds": {"status": "Rejected"},
}


async def test_each_201_call_gets_its_exact_answer(charge_point_201, notifier):
    for index, (action, payload) in enumerate(V201_CALLS):
        await charge_point_201.route_message(json.dumps([2, str(index), action, payload]))
        assert charge_point_201._connection.last() == [
            3, str(index), EXPECTED_REPLIES.get(action, {})], action
    assert [e.action for e in notifier.events] == [a for a, _ in V201_CALLS]
    assert all(e.ocpp_version == "2.0.1" for e in notifier.events)


async def test_transaction_event_without_id_token_has_no_id_token_info(charge_point_201):
    payload = {"eventType": "Updated", "timestamp": T, "triggerReason": "MeterValuePeriodic",
               "seqNo": 1, "transactionInfo": {"transactionId": "tx-1"}}
    await charge_point_201.route_message(json.dumps([2, "u", "TransactionEvent", payload]))
    assert charge_point_201._connection.last() == [3, "u", {}]


@pytest.mark.parametrize("subprotocol", ["ocpp2.0.1", "ocpp2.1"])
async def test_every_201_event_over_the_wire_matches_its_schema(
        make_gateway, notifier, station_id, validate_event, subprotocol):
    gateway = await make_gateway(notifier)
    async with connect(f"ws://127.0.0.1:{gateway.ocpp.port}/ocpp/{station_id}",
                       subprotocols=[subprotocol]) as ws:
        assert ws.subprotocol == subprotocol
        for index, (action, payload) in enumerate(V201_CALLS):
            await ws.send(json.dumps([2, str(index), action, payload]))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert reply[0] == 3, (action, reply)
    for _ in range(100):
        if notifier.of_type("ocpp-events.disconnect"):
            break
        await asyncio.sleep(0.02)
    assert len(notifier.events) == len(V201_CALLS) + 2  # plus connect and disconnect
    for event in notifier.events:
        body = json.loads(event.to_json())
        assert body["ocpp_version"] == subprotocol.removeprefix("ocpp")
        validate_event(body)


async def test_21_uses_the_corrected_occurrence_spelling_and_ignores_send_frames(
        make_gateway, notifier, station_id):
    gateway = await make_gateway(notifier)
    async with connect(f"ws://127.0.0.1:{gateway.ocpp.port}/ocpp/{station_id}",
                       subprotocols=["ocpp2.0.1", "ocpp2.1"]) as ws:
        assert ws.subprotocol == "ocpp2.1"
        await ws.send('[6,"s1","NotifyPeriodicEventStream",{}]')  # SEND: never answered
        await ws.send('[2,"m1","Authorize",{}]')
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert reply[:3] == [4, "m1", "OccurrenceConstraintViolation"]
