"""OCPP 1.6 handlers fed raw frames (no sockets): exact replies and the events behind them."""

from __future__ import annotations

import json

import pytest

BOOT = {"chargePointVendor": "VendorX", "chargePointModel": "ModelY"}


async def test_boot_notification_is_accepted_with_configured_interval(charge_point_16, notifier):
    await charge_point_16.route_message(json.dumps([2, "1", "BootNotification", BOOT]))
    assert charge_point_16._connection.sent == [
        '[3,"1",{"currentTime":"2026-11-25T12:00:00Z","interval":300,"status":"Accepted"}]']
    [event] = notifier.events
    assert event.type == "ocpp-events.boot-notification"
    assert event.payload == BOOT
    assert event.response == {"currentTime": "2026-11-25T12:00:00Z", "interval": 300,
                              "status": "Accepted"}


async def test_heartbeat_answers_utc_time_with_z_and_type_is_heart_beat(
        charge_point_16, notifier):
    await charge_point_16.route_message('[2,"hb-1","Heartbeat",{}]')
    assert charge_point_16._connection.sent == ['[3,"hb-1",{"currentTime":"2026-11-25T12:00:00Z"}]']
    assert notifier.events[0].type == "ocpp-events.heart-beat"


async def test_authorize_accept_all(charge_point_16):
    await charge_point_16.route_message('[2,"a","Authorize",{"idTag":"ABC123"}]')
    assert charge_point_16._connection.sent == ['[3,"a",{"idTagInfo":{"status":"Accepted"}}]']


async def test_start_transaction_assigns_increasing_positive_ids(charge_point_16, notifier):
    frame = {"connectorId": 1, "idTag": "ABC", "meterStart": 10,
             "timestamp": "2026-11-25T11:59:58Z"}
    for unique_id in ("s1", "s2"):
        await charge_point_16.route_message(json.dumps([2, unique_id, "StartTransaction", frame]))
    first, second = (json.loads(m)[2] for m in charge_point_16._connection.sent)
    assert first["idTagInfo"] == {"status": "Accepted"}
    assert 0 < first["transactionId"] < second["transactionId"] < 2**31
    assert [e.response["transactionId"] for e in notifier.events] == [
        first["transactionId"], second["transactionId"]]


async def test_stop_transaction_keeps_offline_timestamp_untouched(charge_point_16, notifier):
    payload = {"transactionId": 7, "meterStop": 99, "timestamp": "2020-01-01T00:00:00+02:00",
               "idTag": "ABC"}
    await charge_point_16.route_message(json.dumps([2, "x", "StopTransaction", payload]))
    assert charge_point_16._connection.sent == ['[3,"x",{"idTagInfo":{"status":"Accepted"}}]']
    assert notifier.events[0].payload == payload


@pytest.mark.parametrize(("action", "payload", "reply"), [
    ("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
     {}),
    ("MeterValues", {"connectorId": 1, "meterValue": [
        {"timestamp": "2026-11-25T11:00:00Z", "sampledValue": [{"value": "12"}]}]}, {}),
    ("StopTransaction", {"transactionId": 7, "meterStop": 99,
                         "timestamp": "2026-11-25T11:00:00Z"}, {}),
    ("DataTransfer", {"vendorId": "acme", "data": "x"}, {"status": "UnknownVendorId"}),
    ("DiagnosticsStatusNotification", {"status": "Uploaded"}, {}),
    ("FirmwareStatusNotification", {"status": "Installed"}, {}),
    ("SecurityEventNotification", {"type": "StartupOfTheDevice",
                                   "timestamp": "2026-11-25T11:00:00Z"}, {}),
])
async def test_other_calls_get_their_spec_answer(charge_point_16, notifier, action, payload,
                                                 reply):
    await charge_point_16.route_message(json.dumps([2, "m", action, payload]))
    assert charge_point_16._connection.last() == [3, "m", reply]
    assert notifier.events[0].action == action
    assert notifier.events[0].response == reply


async def test_unconfirmed_event_answers_internal_error(charge_point_16, notifier):
    notifier.failing = True
    await charge_point_16.route_message('[2,"hb","Heartbeat",{}]')
    reply = charge_point_16._connection.last()
    assert reply[:3] == [4, "hb", "InternalError"]
    assert notifier.events == []


async def test_event_is_published_before_the_answer_is_sent(charge_point_16, notifier):
    seen_at_publish: list[int] = []
    original = notifier.publish

    async def publish(event):
        seen_at_publish.append(len(charge_point_16._connection.sent))
        await original(event)

    notifier.publish = publish
    await charge_point_16.route_message('[2,"hb","Heartbeat",{}]')
    assert seen_at_publish == [0]
    assert len(charge_point_16._connection.sent) == 1
