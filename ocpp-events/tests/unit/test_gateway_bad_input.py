"""Garbage from a station gets the CallError its OCPP version names; nothing is published."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

START = {"connectorId": 1, "idTag": "ABC", "meterStart": 0, "timestamp": "2026-11-25T12:00:00Z"}


async def reply_to(charge_point, frame: str) -> list:
    await charge_point.route_message(frame)
    return charge_point._connection.last()


# --- OCPP 1.6 -------------------------------------------------------------------------------
async def test_16_malformed_json_is_formation_violation(charge_point_16, notifier):
    reply = await reply_to(charge_point_16, '[2,"1","Heartbeat",{')
    assert reply[:3] == [4, "-1", "FormationViolation"]
    assert notifier.events == []


async def test_16_not_a_list_is_protocol_error(charge_point_16, notifier):
    reply = await reply_to(charge_point_16, '{"action":"Heartbeat"}')
    assert reply[:3] == [4, "-1", "ProtocolError"]
    assert notifier.events == []


async def test_16_wrong_message_type_id_is_protocol_error(charge_point_16, notifier):
    reply = await reply_to(charge_point_16, '[7,"m1","Heartbeat",{}]')
    assert reply[:3] == [4, "m1", "ProtocolError"]


async def test_16_call_with_missing_elements_is_protocol_error(charge_point_16):
    reply = await reply_to(charge_point_16, '[2,"m1","Heartbeat"]')
    assert reply[:3] == [4, "m1", "ProtocolError"]


async def test_16_over_long_message_id_is_protocol_error(charge_point_16):
    reply = await reply_to(charge_point_16, json.dumps([2, "x" * 37, "Heartbeat", {}]))
    assert reply[:3] == [4, "-1", "ProtocolError"]


async def test_16_wrong_field_type_is_type_constraint_violation(charge_point_16, notifier):
    payload = dict(START, connectorId="one")
    reply = await reply_to(charge_point_16, json.dumps([2, "m1", "StartTransaction", payload]))
    assert reply[:3] == [4, "m1", "TypeConstraintViolation"]
    assert notifier.events == []


async def test_16_missing_field_is_occurence_constraint_violation_16_spelling(
        charge_point_16, notifier):
    payload = {k: v for k, v in START.items() if k != "idTag"}
    reply = await reply_to(charge_point_16, json.dumps([2, "m1", "StartTransaction", payload]))
    assert reply[:3] == [4, "m1", "OccurenceConstraintViolation"]
    assert "idTag" in reply[4]["cause"]
    assert notifier.events == []


async def test_16_unknown_field_is_formation_violation(charge_point_16):
    reply = await reply_to(charge_point_16, '[2,"m1","Heartbeat",{"extra":1}]')
    assert reply[:3] == [4, "m1", "FormationViolation"]


async def test_16_invalid_enum_value_is_property_constraint_violation(charge_point_16):
    payload = {"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"}
    reply = await reply_to(charge_point_16, json.dumps([2, "m1", "StatusNotification", payload]))
    assert reply[:3] == [4, "m1", "PropertyConstraintViolation"]


async def test_16_action_of_the_other_direction_is_not_implemented(charge_point_16):
    reply = await reply_to(charge_point_16, '[2,"m1","RemoteStartTransaction",{"idTag":"A"}]')
    assert reply[:3] == [4, "m1", "NotImplemented"]


async def test_16_unknown_action_is_not_supported(charge_point_16):
    reply = await reply_to(charge_point_16, '[2,"m1","TransactionEvent",{}]')
    assert reply[:3] == [4, "m1", "NotSupported"]


# --- OCPP 2.0.1 -----------------------------------------------------------------------------
async def test_201_malformed_json_is_rpc_framework_error(charge_point_201, notifier):
    reply = await reply_to(charge_point_201, "not json")
    assert reply[:3] == [4, "-1", "RpcFrameworkError"]
    assert notifier.events == []


async def test_201_wrong_message_type_id_is_message_type_not_supported(charge_point_201):
    reply = await reply_to(charge_point_201, '[5,"m1","Heartbeat",{}]')
    assert reply[:3] == [4, "m1", "MessageTypeNotSupported"]


async def test_201_unknown_field_is_format_violation(charge_point_201):
    reply = await reply_to(charge_point_201, '[2,"m1","Heartbeat",{"extra":1}]')
    assert reply[:3] == [4, "m1", "FormatViolation"]


async def test_201_wrong_type_is_type_constraint_violation(charge_point_201):
    reply = await reply_to(charge_point_201, '[2,"m1","Authorize",{"idToken":"ABC"}]')
    assert reply[:3] == [4, "m1", "TypeConstraintViolation"]


async def test_201_missing_field_is_occurence_constraint_violation(charge_point_201):
    reply = await reply_to(charge_point_201, '[2,"m1","Authorize",{}]')
    assert reply[:3] == [4, "m1", "OccurenceConstraintViolation"]


async def test_201_unknown_action_is_not_supported(charge_point_201):
    reply = await reply_to(charge_point_201, '[2,"m1","StartTransaction",{}]')
    assert reply[:3] == [4, "m1", "NotSupported"]


async def test_201_csms_side_action_is_not_implemented(charge_point_201):
    reply = await reply_to(charge_point_201, '[2,"m1","RequestStartTransaction",{}]')
    assert reply[:3] == [4, "m1", "NotImplemented"]


# --- over the wire: a bad station never affects another -------------------------------------
async def test_oversized_frame_closes_1009_and_other_station_is_unaffected(
        make_gateway, notifier, station_id):
    gateway = await make_gateway(notifier, gateway_max_frame_bytes=4096)
    base = f"ws://127.0.0.1:{gateway.ocpp.port}/ocpp/"
    async with connect(base + station_id + "-good", subprotocols=["ocpp1.6"]) as good, \
            connect(base + station_id + "-bad", subprotocols=["ocpp1.6"]) as bad:
        await bad.send(json.dumps([2, "1", "DataTransfer", {"vendorId": "v", "data": "x" * 5000}]))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(bad.recv(), 5)
        assert closed.value.rcvd.code == 1009
        await bad.wait_closed()
        await good.send('[2,"g1","Heartbeat",{}]')
        reply = json.loads(await asyncio.wait_for(good.recv(), 5))
        assert reply[0] == 3
        assert gateway.ocpp.registry.get(station_id + "-good") is not None


async def test_garbage_on_one_connection_keeps_both_connections_working(
        make_gateway, notifier, station_id):
    gateway = await make_gateway(notifier)
    base = f"ws://127.0.0.1:{gateway.ocpp.port}/ocpp/"
    async with connect(base + station_id + "-a", subprotocols=["ocpp1.6"]) as a, \
            connect(base + station_id + "-b", subprotocols=["ocpp1.6"]) as b:
        for garbage in ("{", "[]", "42", '[2,"x","Nope",{}]', '[2,"y","Heartbeat",[]]'):
            await a.send(garbage)
            assert json.loads(await asyncio.wait_for(a.recv(), 5))[0] == 4
        await b.send('[2,"b1","Heartbeat",{}]')
        assert json.loads(await asyncio.wait_for(b.recv(), 5))[0] == 3
        await a.send('[2,"a1","Heartbeat",{}]')
        assert json.loads(await asyncio.wait_for(a.recv(), 5))[0] == 3


async def test_flooding_station_that_never_reads_does_not_slow_another(
        make_gateway, notifier, station_id):
    gateway = await make_gateway(notifier)
    base = f"ws://127.0.0.1:{gateway.ocpp.port}/ocpp/"
    async with connect(base + station_id + "-flood", subprotocols=["ocpp1.6"]) as flood, \
            connect(base + station_id + "-calm", subprotocols=["ocpp1.6"]) as calm:
        flood.transport.pause_reading()  # a slow reader: our answers pile up unread
        for n in range(2000):
            await flood.send(json.dumps([2, str(n), "DataTransfer",
                                         {"vendorId": "v", "data": "x" * 200}]))
        started = asyncio.get_running_loop().time()
        await calm.send('[2,"c1","Heartbeat",{}]')
        assert json.loads(await asyncio.wait_for(calm.recv(), 5))[0] == 3
        assert asyncio.get_running_loop().time() - started < 1.0
        flood.transport.abort()
