"""An OCPP 2.0.1 charger's session lands in the same station list and charge history as 1.6."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.charger import Charger, get_json, now_iso, poll
from tests.e2e.platform import Platform

pytestmark = pytest.mark.e2e


def energy(wh: int, context: str) -> list[dict]:
    return [{"timestamp": now_iso(), "sampledValue": [
        {"value": wh, "measurand": "Energy.Active.Import.Register", "context": context,
         "unitOfMeasure": {"unit": "Wh"}}]}]


def transaction_event(event_type: str, seq_no: int, transaction_id: str, trigger: str,
                      **extra: object) -> dict:
    return {"eventType": event_type, "timestamp": now_iso(), "triggerReason": trigger,
            "seqNo": seq_no, "transactionInfo": {"transactionId": transaction_id, **(
                {"stoppedReason": extra.pop("stopped_reason")} if "stopped_reason" in extra
                else {})},
            "evse": {"id": 1, "connectorId": 1}, **extra}


async def test_a_201_charging_session_shows_up_like_a_16_one(platform: Platform) -> None:
    station_id = f"E2E-201-{uuid.uuid4().hex[:8]}"
    transaction_id = f"TX-{uuid.uuid4().hex[:8]}"
    id_token = {"idToken": "TAG-201", "type": "ISO14443"}
    async with Charger(platform.station_url(station_id), subprotocol="ocpp2.0.1") as charger:
        boot = await charger.call("BootNotification", {
            "chargingStation": {"model": "Wallbox-2", "vendorName": "SAVE"}, "reason": "PowerUp"})
        assert boot["status"] == "Accepted"
        await charger.call("StatusNotification", {"timestamp": now_iso(), "connectorStatus":
                                                  "Available", "evseId": 1, "connectorId": 1})
        authorized = await charger.call("Authorize", {"idToken": id_token})
        assert authorized["idTokenInfo"]["status"] == "Accepted"
        started = await charger.call("TransactionEvent", transaction_event(
            "Started", 0, transaction_id, "Authorized", idToken=id_token,
            meterValue=energy(1_000, "Transaction.Begin")))
        assert started["idTokenInfo"]["status"] == "Accepted"
        await charger.call("StatusNotification", {"timestamp": now_iso(), "connectorStatus":
                                                  "Occupied", "evseId": 1, "connectorId": 1})
        await charger.call("TransactionEvent", transaction_event(
            "Updated", 1, transaction_id, "MeterValuePeriodic",
            meterValue=energy(2_500, "Sample.Periodic")))
        await charger.call("TransactionEvent", transaction_event(
            "Ended", 2, transaction_id, "StopAuthorized", stopped_reason="Local",
            meterValue=energy(4_000, "Transaction.End")))
        await charger.call("StatusNotification", {"timestamp": now_iso(), "connectorStatus":
                                                  "Available", "evseId": 1, "connectorId": 1})

        station = await poll(
            lambda: get_json(f"{platform.save_server_url}/charging-stations/{station_id}"),
            lambda s: s["status"] == "connected" and s["connectors"]
            and s["connectors"][0]["status"] == "available")
        assert [c["connector_id"] for c in station["connectors"]] == [1]
        charges = await poll(
            lambda: get_json(f"{platform.save_server_url}/charges",
                             charging_station_id=station_id),
            lambda cs: len(cs) == 1 and cs[0]["status"] == "finished")
    charge = charges[0]
    assert charge["transaction_id"] == transaction_id
    assert charge["energy_wh"] == 3_000
    assert charge["id_tag"] == "TAG-201"
    assert charge["connector_id"] == 1
    assert charge["ended_at"] is not None and charge["duration_seconds"] >= 0
    events = await poll(
        lambda: get_json(f"{platform.event_store_url}/events", charging_station_id=station_id),
        lambda es: any(e["type"] == "ocpp-events.disconnect" for e in es))
    assert all(e["ocpp_version"] == "2.0.1" for e in events)
    assert sum(e["type"] == "ocpp-events.transaction-event" for e in events) == 3
