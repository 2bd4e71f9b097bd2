"""The thesis's failure scenarios through the real gateway, RabbitMQ and PostgreSQL, then the
event-store's rebuild: wipe save-server's database, replay every event to save-server only, and
get exactly the same stations and charges, and what operators changed (sites, registrations,
accounts and API keys, report subscriptions, command history); replaying everything again to
all changes nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.e2e.charger import Charger, get_json, now_iso, poll
from tests.e2e.conftest import _require_real_servers
from tests.e2e.platform import (
    Platform,
    api_headers,
    base_env,
    embedded_platform,
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


PASSWORD = "a long operator password"


def with_password(platform: Platform, sid: str, password: str) -> str:
    """The station's URL with its HTTP Basic credentials (profile 1)."""
    return platform.station_url(sid).replace("ws://", f"ws://{sid}:{password}@", 1)


async def can_connect(url: str) -> bool:
    try:
        async with Charger(url) as charger:
            await charger.call("Heartbeat", {})
        return True
    except Exception:  # refused at the handshake (401/403) or closed
        return False


async def operators_changes(platform: Platform, disconnected: str) -> dict:
    """What operators change through the API, every kind a replay must rebuild: a site, a
    registered station (profile 1, password), an account with a password and its API key, a
    sign-in, a report subscription, an id tag group and a card, the site's electrical model
    and a building measurement, a command (recorded although the station is away)."""
    url = platform.save_server_url
    async with httpx.AsyncClient(timeout=10, headers=api_headers()) as client:
        async def post(path: str, body: dict, expected: int = 201) -> dict:
            response = await client.post(f"{url}{path}", json=body)
            assert response.status_code == expected, response.text
            return response.json()
        site = await post("/sites", {"name": "Garagem", "address": "Rua 1", "latitude": -23.5})
        sid = station_id("registered")
        registered = await post("/charging-stations", {
            "charging_station_id": sid, "security_profile": 1, "site_id": site["site_id"],
            "name": "Bay 1"})
        account = await post("/accounts", {"email": f"op-{sid.lower()}@test.example",
                                           "display_name": "Operator", "role": "operator",
                                           "password": PASSWORD})
        key = await post("/api-keys", {"name": "script", "account_id": account["account_id"]})
        await post("/report-subscriptions", {"recipients": ["ops@test.example"],
                                             "station_ids": [sid]})
        group = f"APT{sid[-6:]}"
        await post("/id-tag-groups", {"group_id": group, "label": "Apto 302",
                                      "monthly_budget_kwh": 120})
        await post("/id-tags", {"id_tag": f"CARD{sid[-8:]}", "group_id": group,
                                "holder": "Maria", "site_ids": [site["site_id"]],
                                "expires_at": "2030-01-01T00:00:00Z"})
        # a site of its own, without stations: load management sends no profiles (commands)
        # whose timing would race the comparison
        garage = await post("/sites", {"name": "Garagem B"})
        answer = await client.put(f"{url}/sites/{garage['site_id']}/electrical", json={
            "supply": "three-phase", "voltage_v": 220, "limit_a": 63,
            "building_metered": True, "measurement_max_age_s": 3600, "connectors": []})
        assert answer.status_code == 200, answer.text
        await post(f"/sites/{garage['site_id']}/measurements", {
            "per_phase_a": {"L1": 12.5, "L2": 10.0, "L3": 11.0},
            "measured_at": datetime.now(UTC).isoformat()})
        await post(f"/charging-stations/{disconnected}/commands/reset", {"type": "soft"}, 409)
    async with httpx.AsyncClient(timeout=10) as anonymous:
        login = await anonymous.post(f"{url}/auth/login", json={"email": account["email"],
                                                                  "password": PASSWORD})
        assert login.status_code == 200, login.text
    assert await poll(lambda: can_connect(with_password(platform, sid, registered["password"])),
                      bool)
    return {"station": sid, "password": registered["password"], "email": account["email"],
            "key": key["api_key"], "site": garage["site_id"]}


async def operator_state(platform: Platform, stations: list[str],
                         sites: list[str] | None = None) -> dict:
    """Every API answer about what operators changed, field by field; `last_used_at` of API
    keys is left out: the API writes it from use, not from an event (docs/architecture.md)."""
    url = platform.save_server_url
    keys = await get_json(f"{url}/api-keys")
    # the building's measured load shows only through an allocation, which the allocator
    # recomputes on its own time: the model is compared, the measurement only replayed
    loads = {site: await get_json(f"{url}/sites/{site}/electrical") for site in sites or []}
    return {
        "id_tags": await get_json(f"{url}/id-tags"),
        "id_tag_groups": await get_json(f"{url}/id-tag-groups"),
        "load": loads,
        "accounts": await get_json(f"{url}/accounts"),
        "api_keys": [{k: v for k, v in key.items() if k != "last_used_at"} for key in keys],
        "subscriptions": await get_json(f"{url}/report-subscriptions"),
        "sites": await get_json(f"{url}/sites"),
        "registrations": await get_json(f"{url}/charging-stations/registrations"),
        "commands": {sid: await get_json(f"{url}/charging-stations/{sid}/commands")
                     for sid in stations},
    }


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
    changes = await operators_changes(services, stations[0])
    stations.append(changes["station"])
    await station_status(services, changes["station"], "disconnected")
    await wait_until_stored(services)
    before = await snapshot(services)
    assert {s["id"] for s in before[0]} == set(stations)
    assert len(before[1]) == 4
    state = await operator_state(services, stations, [changes["site"]])
    assert len(state["commands"][stations[0]]) == 1 and state["registrations"]
    assert next(s for s in before[0] if s["id"] == stations[0])["name"] == "Garagem Norte"
    restart_save_server_on_empty_database(services)
    assert await get_json(f"{services.save_server_url}/charging-stations") == []
    # the restarted API made its first admin again (preset key): wait until that is stored
    for made in ("accounts.account-created", "accounts.api-key-created"):
        await poll(lambda made=made: get_json(f"{services.event_store_url}/events", type=made),
                   lambda found: len(found) == 3)
    stored = await get_json(f"{services.event_store_url}/events", limit=1000)
    job = await replay(services, services.env["SAVE_SERVER_QUEUE"])
    assert job["state"] == "completed", job
    # the replay sends every event stored before it started (`stored`), and may send the
    # local-list sync's calls to the scenarios' stations that end (by their 10 s timeout)
    # meanwhile: one dated before the replay's start can reach the store just after it read
    covered = await get_json(f"{services.event_store_url}/events", limit=1000,
                             end_date=job["created_at"])
    assert all(e in covered for e in stored)
    assert [e for e in covered if e not in stored and not local_list_sync(e)] == []
    assert len(stored) <= job["events_sent"] <= len(covered), job
    after = await poll(lambda: snapshot(services), lambda snap: snap == before)
    assert after == before
    assert await poll(lambda: operator_state(services, stations, [changes["site"]]),
                      lambda now: now == state) == state

    job = await replay(services, "all")
    assert job["state"] == "completed", job
    await asyncio.sleep(2)  # give both workers time to (not) change anything
    assert await snapshot(services) == before
    # nothing stored twice; only the two replays' own records (who started them) are new —
    # beside the local-list sync's own calls to the stations of the scenarios (live traffic:
    # one may end, by its timeout, after `stored` was read; replayed copies move nothing)
    kept = await get_json(f"{services.event_store_url}/events", limit=1000)
    sync = [e for e in kept if e not in stored and local_list_sync(e)]
    assert [e["type"] for e in kept if e not in stored and e not in sync] == [
        "event-store.replay-started"] * 2
    assert len(kept) == len(stored) + 2 + len(sync)
    assert await operator_state(services, stations, [changes["site"]]) == state
    await still_works_after_the_rebuild(services, changes)


async def still_works_after_the_rebuild(platform: Platform, changes: dict) -> None:
    """The rebuilt rows are the real thing: the same password signs in, the same API key is
    accepted, and the registry goes on from the revision the gateways hold — a change made
    now reaches the gateway (disabling refuses the station, enabling admits it again with the
    password hash that came back)."""
    url, sid = platform.save_server_url, changes["station"]
    async with httpx.AsyncClient(timeout=10) as client:
        login = await client.post(f"{url}/auth/login", json={"email": changes["email"],
                                                               "password": PASSWORD})
        assert login.status_code == 200, login.text
        mine = await client.get(f"{url}/charging-stations",
                                headers={"Authorization": f"Bearer {changes['key']}"})
        assert mine.status_code == 200, mine.text
    station_url = with_password(platform, sid, changes["password"])
    async with httpx.AsyncClient(timeout=10, headers=api_headers()) as client:
        for enabled in (False, True):
            changed = await client.patch(f"{url}/charging-stations/{sid}/registration",
                                         json={"enabled": enabled})
            assert changed.status_code == 200, changed.text
            assert await poll(lambda: can_connect(station_url),
                              lambda connected, enabled=enabled: connected is enabled) is enabled


def local_list_sync(event: dict) -> bool:
    """The gateway's record of a call the local-list sync made to a station (these tests'
    chargers never answer one: it ends by its timeout, 10 s after the station booted)."""
    return (event["type"].startswith("ocpp-commands.")
            and (event.get("command") or {}).get("requested_by") == "local-list-sync")


async def wait_until_stored(platform: Platform) -> None:
    """The relay published the operators' last changes and the event store keeps them."""
    for last in ("commands.command-recorded", "accounts.signed-in"):
        await poll(lambda last=last: get_json(f"{platform.event_store_url}/events", type=last),
                   lambda found: len(found) == 1)


async def test_the_embedded_platform_rebuilds_save_server_from_its_event_store(
        tmp_path: Path) -> None:
    """`make run` mode: stop, delete save-server's database, start again, replay: the same
    stations, charges and operators' changes; the same password, key and station password."""
    env = base_env(tmp_path)
    with embedded_platform(tmp_path, env, "live") as live:
        stations = [await emergency_stop(live)]
        await station_status(live, stations[0], "disconnected")
        changes = await operators_changes(live, stations[0])
        stations.append(changes["station"])
        await station_status(live, changes["station"], "disconnected")
        await wait_until_stored(live)
        before = await snapshot(live)
        state = await operator_state(live, stations, [changes["site"]])
        assert len(before[1]) == 1 and state["commands"][stations[0]]
    for database in Path(env["DATA_DIR"]).glob("save-server.sqlite3*"):
        database.unlink()
    with embedded_platform(tmp_path, env, "rebuilt") as rebuilt:
        assert await get_json(f"{rebuilt.save_server_url}/charging-stations") == []
        job = await replay(rebuilt, "save-server")
        assert job["state"] == "completed", job
        assert await poll(lambda: snapshot(rebuilt), lambda snap: snap == before) == before
        assert await poll(lambda: operator_state(rebuilt, stations, [changes["site"]]),
                          lambda now: now == state) == state
        job = await replay(rebuilt, "all")
        assert job["state"] == "completed", job
        await asyncio.sleep(2)  # give the worker time to (not) change anything
        assert await snapshot(rebuilt) == before
        assert await operator_state(rebuilt, stations, [changes["site"]]) == state
        await still_works_after_the_rebuild(rebuilt, changes)
