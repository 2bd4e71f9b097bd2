"""The thesis's failure scenarios through the real gateway, RabbitMQ and PostgreSQL, then the
event-store's rebuild: wipe save-server's database, replay every event to save-server only, and
get exactly the same stations and charges; replaying everything again to all changes nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.e2e.charger import Charger, get_json, now_iso, poll
from tests.e2e.conftest import _require_real_servers
from tests.e2e.platform import (
    Platform,
    api_headers,
    restart_save_server_on_empty_database,
    services_platform,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    _require_real_servers()
    with services_platform(tmp_path_factory.mktemp("rebuild")) as running:
        yield running


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def boot(charger: Charger) -> None:
    await charger.call("BootNotification", {"chargePointVendor": "SAVE",
                                            "chargePointModel": "Wallbox-1"})
    await status(charger, 1, "Available")


async def status(charger: Charger, connector_id: int, value: str) -> None:
    await charger.call("StatusNotification", {"connectorId": connector_id, "errorCode": "NoError",
                                              "status": value, "timestamp": now_iso()})


async def start(charger: Charger, meter_start: int) -> int:
    started = await charger.call("StartTransaction", {
        "connectorId": 1, "idTag": "TAG-7", "meterStart": meter_start, "timestamp": now_iso()})
    await status(charger, 1, "Charging")
    return started["transactionId"]


async def stop(charger: Charger, transaction_id: int, meter_stop: int, reason: str | None,
               at: datetime | None = None) -> None:
    payload = {"transactionId": transaction_id, "meterStop": meter_stop,
               "timestamp": iso(at or datetime.now(UTC))}
    if reason:
        payload["reason"] = reason
    await charger.call("StopTransaction", payload)


async def station_status(platform: Platform, station_id: str, expected: str) -> dict:
    station = await poll(
        lambda: get_json(f"{platform.save_server_url}/charging-stations/{station_id}"),
        lambda s: s["status"] == expected)
    return station


async def the_charge(platform: Platform, station_id: str, expected_status: str) -> dict:
    charges = await poll(
        lambda: get_json(f"{platform.save_server_url}/charges", charging_station_id=station_id),
        lambda cs: len(cs) == 1 and cs[0]["status"] == expected_status)
    return charges[0]


def station_id(name: str) -> str:
    return f"E2E-{name}-{uuid.uuid4().hex[:6]}"


async def emergency_stop(platform: Platform) -> str:
    sid = station_id("estop")
    async with Charger(platform.station_url(sid)) as charger:
        await boot(charger)
        transaction_id = await start(charger, 100)
        await stop(charger, transaction_id, 1_600, "EmergencyStop")
        await status(charger, 1, "Available")
        charge = await the_charge(platform, sid, "error")
        assert charge["stop_reason"] == "EmergencyStop" and charge["energy_wh"] == 1_500
        station = await get_json(f"{platform.save_server_url}/charging-stations/{sid}")
        assert [c["status"] for c in station["connectors"]] == ["available"]
    return sid


async def dropped_then_stopped_online(platform: Platform) -> str:
    sid = station_id("drop")
    async with Charger(platform.station_url(sid)) as charger:
        await boot(charger)
        transaction_id = await start(charger, 0)
    await station_status(platform, sid, "disconnected")
    assert (await the_charge(platform, sid, "charging"))["ended_at"] is None
    async with Charger(platform.station_url(sid)) as charger:
        await station_status(platform, sid, "connected")
        ended = datetime.now(UTC).replace(microsecond=0)
        await stop(charger, transaction_id, 7_000, "Local", at=ended)
        charge = await the_charge(platform, sid, "finished")
        assert charge["energy_wh"] == 7_000
        assert datetime.fromisoformat(charge["ended_at"]) == ended
    return sid


async def stopped_while_offline(platform: Platform) -> str:
    sid = station_id("offline")
    async with Charger(platform.station_url(sid)) as charger:
        await boot(charger)
        transaction_id = await start(charger, 500)
    await station_status(platform, sid, "disconnected")
    offline_end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    await asyncio.sleep(0.5)
    async with Charger(platform.station_url(sid)) as charger:
        await stop(charger, transaction_id, 2_500, None, at=offline_end)
        charge = await the_charge(platform, sid, "finished")
        assert datetime.fromisoformat(charge["ended_at"]) == offline_end, "the real end time"
        assert charge["energy_wh"] == 2_000
    return sid


async def power_loss(platform: Platform) -> str:
    sid = station_id("power")
    async with Charger(platform.station_url(sid)) as charger:
        await boot(charger)
        transaction_id = await start(charger, 1_000)
    await station_status(platform, sid, "disconnected")
    async with Charger(platform.station_url(sid)) as charger:
        await boot(charger)
        await stop(charger, transaction_id, 4_000, "PowerLoss")
        charge = await the_charge(platform, sid, "error")
        assert charge["stop_reason"] == "PowerLoss" and charge["energy_wh"] == 3_000
        assert charge["ended_at"] is not None
    return sid


async def snapshot(platform: Platform) -> tuple[list, list]:
    stations = await get_json(f"{platform.save_server_url}/charging-stations")
    charges = await get_json(f"{platform.save_server_url}/charges", limit=1000)
    return (sorted(stations, key=lambda s: s["id"]),
            sorted(charges, key=lambda c: (c["charging_station_id"], c["transaction_id"])))


async def replay(platform: Platform, target: str) -> dict:
    async with httpx.AsyncClient(timeout=10, headers=api_headers()) as client:
        response = await client.post(f"{platform.event_store_url}/replays", json={"target": target})
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
    return await poll(lambda: get_json(f"{platform.event_store_url}/replays/{job_id}"),
                      lambda job: job["state"] in {"completed", "failed", "cancelled"})


async def test_failure_scenarios_then_rebuild_from_the_event_store(services: Platform) -> None:
    stations = [await emergency_stop(services), await dropped_then_stopped_online(services),
                await stopped_while_offline(services), await power_loss(services)]
    for sid in stations:
        await station_status(services, sid, "disconnected")
    # what an operator entered is an event too, and comes back with the rest
    async with httpx.AsyncClient(timeout=10, headers=api_headers()) as client:
        named = await client.post(f"{services.save_server_url}/charging-station/{stations[0]}"
                                  "/data", json={"name": "Garagem Norte", "latitude": -23.55})
        assert named.status_code == 200, named.text
    await poll(lambda: get_json(f"{services.event_store_url}/events",
                                type="stations.details-changed",
                                charging_station_id=stations[0]),
               lambda found: len(found) == 1)
    before = await snapshot(services)
    assert {s["id"] for s in before[0]} == set(stations)
    assert len(before[1]) == 4
    assert next(s for s in before[0] if s["id"] == stations[0])["name"] == "Garagem Norte"
    restart_save_server_on_empty_database(services)
    assert await get_json(f"{services.save_server_url}/charging-stations") == []
    # the restarted API made its first admin again (preset key): wait until that is stored
    await poll(lambda: get_json(f"{services.event_store_url}/events",
                                type="accounts.account-created"),
               lambda found: len(found) == 2)
    stored = await get_json(f"{services.event_store_url}/events", limit=1000)
    job = await replay(services, services.env["SAVE_SERVER_QUEUE"])
    assert job["state"] == "completed" and job["events_sent"] == len(stored), job
    after = await poll(lambda: snapshot(services), lambda snap: snap == before)
    assert after == before

    job = await replay(services, "all")
    assert job["state"] == "completed", job
    await asyncio.sleep(2)  # give both workers time to (not) change anything
    assert await snapshot(services) == before
    # nothing stored twice; only the two replays' own records (who started them) are new —
    # beside the local-list sync's own calls to the stations of the scenarios (live traffic:
    # one may end, by its timeout, after `stored` was read; replayed copies move nothing)
    kept = await get_json(f"{services.event_store_url}/events", limit=1000)
    sync = [e for e in kept if e not in stored and e["type"].startswith("ocpp-commands.")
            and (e.get("command") or {}).get("requested_by") == "local-list-sync"]
    assert [e["type"] for e in kept if e not in stored and e not in sync] == [
        "event-store.replay-started"] * 2
    assert len(kept) == len(stored) + 2 + len(sync)
