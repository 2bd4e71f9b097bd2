"""The thesis's four failure scenarios (3.4, 4.6.2), events in → API out, through the real
worker: embedded broker + SQLite, and RabbitMQ + PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def station(pipeline: Any, station_id: str) -> dict[str, Any]:
    response = pipeline.client.get(f"/charging-stations/{station_id}")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def charges(pipeline: Any, station_id: str) -> list[dict[str, Any]]:
    return pipeline.client.get(  # type: ignore[no-any-return]
        "/charges", params={"charging_station_id": station_id}).json()


def charging(cp: Any, transaction: int = 1, meter_start: int = 1000) -> list[dict[str, Any]]:
    return [cp.boot(), cp.status(0, "Available"), cp.status(1, "Available"),
            cp.status(1, "Preparing"), cp.start(1, transaction, meter_start, "RFID-1"),
            cp.status(1, "Charging"),
            cp.meter_values(1, [{"value": str(meter_start + 2000)}], transaction)]


def test_1_emergency_stop(pipeline: Any, charger: Callable[..., Any]) -> None:
    cp = charger()
    pipeline.send(*charging(cp))
    stopped_at = cp.tick(600)
    pipeline.send(cp.stop(1, 4200, "EmergencyStop", at=stopped_at), cp.status(1, "Finishing"),
                  cp.status(1, "Available"))
    pipeline.settle()
    [charge] = charges(pipeline, cp.station_id)
    assert (charge["status"], charge["stop_reason"], charge["energy_wh"]) == (
        "error", "EmergencyStop", 3200)
    assert charge["ended_at"] == iso(stopped_at)
    [connector] = station(pipeline, cp.station_id)["connectors"]
    assert (connector["status"], connector["id_tag"]) == ("available", None)
    assert station(pipeline, cp.station_id)["availability"]["status"] == "available"


def test_2_connection_lost_mid_charge_then_finished_after_reconnect(
        pipeline: Any, charger: Callable[..., Any]) -> None:
    cp = charger()
    pipeline.send(*charging(cp), cp.disconnect())
    pipeline.settle()
    assert station(pipeline, cp.station_id)["status"] == "disconnected"
    assert [c["status"] for c in charges(pipeline, cp.station_id)] == ["charging"]
    cp.tick(300)
    cp.reconnect()
    stopped_at = cp.tick(600)
    pipeline.send(cp.heartbeat(), cp.stop(1, 9000, "Local", at=stopped_at),
                  cp.status(1, "Available"))
    pipeline.settle()
    assert station(pipeline, cp.station_id)["status"] == "connected"
    [charge] = charges(pipeline, cp.station_id)
    assert (charge["status"], charge["energy_wh"], charge["ended_at"]) == (
        "finished", 8000, iso(stopped_at))


def test_3_stopped_while_offline_keeps_the_real_end_time(
        pipeline: Any, charger: Callable[..., Any]) -> None:
    cp = charger()
    pipeline.send(*charging(cp), cp.disconnect())
    stopped_offline_at = cp.tick(120)
    queued_stop = cp.stop(1, 5000, "Local", at=stopped_offline_at)
    cp.tick(3600)  # back online an hour later; the queued stop is delivered now
    cp.reconnect()
    pipeline.send(cp.boot(), cp.event("stop-transaction", "StopTransaction",
                                      queued_stop["payload"], queued_stop["response"]),
                  cp.status(1, "Available"))
    pipeline.settle()
    [charge] = charges(pipeline, cp.station_id)
    assert charge["status"] == "finished" and charge["energy_wh"] == 4000
    assert charge["ended_at"] == iso(stopped_offline_at)
    assert charge["duration_seconds"] < 3600


def test_4_power_loss_closes_the_charge_as_error_after_reboot(
        pipeline: Any, charger: Callable[..., Any]) -> None:
    cp = charger()
    pipeline.send(*charging(cp))
    power_cut_at = cp.tick(900)
    pipeline.send(cp.disconnect())
    pipeline.settle()
    assert station(pipeline, cp.station_id)["status"] == "disconnected"
    assert charges(pipeline, cp.station_id)[0]["status"] == "charging"
    cp.now = power_cut_at + timedelta(hours=2)
    cp.reconnect()
    pipeline.send(cp.boot(), cp.stop(1, 6500, "PowerLoss", at=power_cut_at),
                  cp.status(1, "Available"))
    pipeline.settle()
    [charge] = charges(pipeline, cp.station_id)
    assert (charge["status"], charge["stop_reason"], charge["energy_wh"], charge["ended_at"]) \
        == ("error", "PowerLoss", 5500, iso(power_cut_at))
    current = station(pipeline, cp.station_id)
    assert current["status"] == "connected"
    assert current["connectors"][0]["status"] == "available"


def test_ocpp201_session_through_the_same_domain(
        pipeline: Any, charger: Callable[..., Any]) -> None:
    cp = charger(version="2.0.1")
    pipeline.send(cp.boot201(), cp.status201(1, "Available"),
                  cp.transaction201("Started", "tx-9f", 1, energy_wh=100, id_token="RFID-2"),
                  cp.status201(1, "Occupied"),
                  cp.transaction201("Updated", "tx-9f", 1, energy_wh=900))
    pipeline.settle()
    [connector] = station(pipeline, cp.station_id)["connectors"]
    assert (connector["status"], connector["id_tag"]) == ("in_use", "RFID-2")
    ended_at = cp.tick(60)
    pipeline.send(cp.transaction201("Ended", "tx-9f", 1, energy_wh=1600,
                                    stopped_reason="Remote", at=ended_at),
                  cp.status201(1, "Available"))
    pipeline.settle()
    [charge] = charges(pipeline, cp.station_id)
    assert (charge["transaction_id"], charge["status"], charge["energy_wh"],
            charge["ended_at"], charge["id_tag"]) == ("tx-9f", "finished", 1500,
                                                      iso(ended_at), "RFID-2")
    detail = pipeline.client.get(f"/charges/{charge['id']}").json()
    assert [m["value"] for m in detail["meter_values"]] == [100, 900, 1600]
    assert station(pipeline, cp.station_id)["model"] == "Wallbox 201"
