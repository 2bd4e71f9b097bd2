"""Remote commands end to end: API → broker → the gateway holding the station → charger →
back (docs/commands.md), in embedded mode and against the real RabbitMQ and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.charger import get_json, now_iso, poll
from tests.e2e.command_charger import CallErrorReply, CommandCharger
from tests.e2e.platform import ADMIN_AUDIT_NAME, Platform, api_headers, start_extra_gateway

pytestmark = pytest.mark.e2e

SUBPROTOCOLS = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}


def new_station_id(tag: str = "CMD") -> str:
    return f"E2E-{tag}-{uuid.uuid4().hex[:8]}"


async def send(platform: Platform, station_id: str, command: str, body: Any = None,
               timeout: float | None = None, who: str | None = None) -> httpx.Response:
    params = {"timeout": timeout} if timeout else {}
    headers = {**api_headers(), **({"X-Requested-By": who} if who else {})}
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(
            f"{platform.save_server_url}/charging-stations/{station_id}/commands/{command}",
            json=body, params=params, headers=headers)


async def wait_known_and_routable(platform: Platform, station_id: str) -> None:
    """The station is in save-server (its events were consumed) and a gateway holds it."""
    await poll(lambda: send(platform, station_id, "clear-cache", timeout=5),
               lambda response: response.status_code == 200)


def by_outcome(action: str, payload: dict[str, Any]) -> Any:
    """The charger's answers: Accepted / Rejected / CallError / silence, by the command."""
    if action == "ClearCache":
        return {"status": "Accepted"}
    if action == "Reset":
        return {"status": "Accepted"} if payload["type"] in ("Hard", "Immediate") \
            else {"status": "Rejected"}
    if action == "UnlockConnector":
        return CallErrorReply("InternalError", "lock motor jammed")
    if action == "TriggerMessage":
        return None  # silence
    return {"status": "Accepted"}


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_answers_map_to_200_200_502_504_and_the_charger_gets_its_version(
        platform: Platform, version: str) -> None:
    station_id = new_station_id()
    async with CommandCharger(platform.station_url(station_id), SUBPROTOCOLS[version],
                              by_outcome) as charger:
        await charger.boot()
        await wait_known_and_routable(platform, station_id)

        accepted = await send(platform, station_id, "reset", {"type": "hard"}, who="alice")
        assert accepted.status_code == 200, accepted.text
        assert (accepted.json()["outcome"], accepted.json()["status"]) == ("accepted",
                                                                           "Accepted")
        expected_type = "Hard" if version == "1.6" else "Immediate"
        assert ("Reset", {"type": expected_type}) in charger.received

        rejected = await send(platform, station_id, "reset", {"type": "soft"})
        assert rejected.status_code == 200
        assert (rejected.json()["outcome"], rejected.json()["status"]) == ("rejected",
                                                                           "Rejected")

        failed = await send(platform, station_id, "unlock-connector", {"connector_id": 1})
        assert failed.status_code == 502, failed.text
        assert (failed.json()["error_code"], failed.json()["error_description"]) == (
            "InternalError", "lock motor jammed")

        silent = await send(platform, station_id, "trigger-message",
                            {"message": "Heartbeat"}, timeout=1)
        assert silent.status_code == 504, silent.text

        after_silence = await send(platform, station_id, "clear-cache")
        assert after_silence.status_code == 200  # a late/missing answer blocks nothing

        history = await get_json(
            f"{platform.save_server_url}/charging-stations/{station_id}/commands")
        outcomes = [(c["command"], c["outcome"]) for c in history[:5]]
        assert outcomes == [("clear-cache", "accepted"), ("trigger-message", "timeout"),
                            ("unlock-connector", "call_error"), ("reset", "rejected"),
                            ("reset", "accepted")]
        assert history[4]["requested_by"] == ADMIN_AUDIT_NAME  # the caller, not the header
        assert all(c["ocpp_version"] == version for c in history[:5]
                   if c["outcome"] != "timeout")

    events = await poll(
        lambda: get_json(f"{platform.event_store_url}/events", charging_station_id=station_id,
                         type="ocpp-commands.reset", limit=100),
        lambda found: len(found) >= 2)
    assert {e["command"]["outcome"] for e in events} == {"accepted", "rejected"}


@pytest.mark.parametrize(("version", "command", "body"), [
    ("2.0.1", "get-configuration", {}),
    ("1.6", "get-variables", {"variables": [{"component": "C", "variable": "V"}]}),
])
async def test_422_for_bad_parameters_and_commands_of_the_other_version(
        platform: Platform, version: str, command: str, body: dict) -> None:
    station_id = new_station_id()
    async with CommandCharger(platform.station_url(station_id),
                              SUBPROTOCOLS[version]) as charger:
        await charger.boot()
        await wait_known_and_routable(platform, station_id)
        bad = await send(platform, station_id, "reset", {"type": "sideways"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "type"]
        other_version = await send(platform, station_id, command, body)
        assert other_version.status_code == 422, other_version.text
        assert other_version.json()["detail"][0]["loc"] == ["path", "command"]
        assert [a for a, _ in charger.received] == ["ClearCache"]  # nothing else was sent


async def test_404_unknown_station_and_409_at_once_for_a_disconnected_one(
        platform: Platform) -> None:
    assert (await send(platform, new_station_id("NOBODY"), "clear-cache")).status_code == 404
    station_id = new_station_id()
    async with CommandCharger(platform.station_url(station_id)) as charger:
        await charger.boot()
        await wait_known_and_routable(platform, station_id)
    response = await poll(lambda: send(platform, station_id, "clear-cache", timeout=20),
                          lambda answer: answer.status_code == 409, timeout=10)
    assert response.elapsed.total_seconds() < 2  # at once, not after the 20 s timeout
    assert response.json()["outcome"] == "not_connected"


async def test_remote_start_then_start_transaction_makes_a_normal_charge(
        platform: Platform) -> None:
    station_id = new_station_id()
    async with CommandCharger(platform.station_url(station_id)) as charger:
        await charger.boot()
        await wait_known_and_routable(platform, station_id)
        started = await send(platform, station_id, "remote-start",
                             {"connector_id": 1, "id_tag": "PHONE-1", "max_current_a": 16})
        assert started.status_code == 200, started.text
        action, payload = charger.received[-1]
        assert action == "RemoteStartTransaction" and payload["idTag"] == "PHONE-1"
        assert payload["chargingProfile"]["chargingSchedule"]["chargingSchedulePeriod"] == [
            {"startPeriod": 0, "limit": 16.0}]
        answer = await charger.call("StartTransaction", {
            "connectorId": 1, "idTag": "PHONE-1", "meterStart": 1000, "timestamp": now_iso()})
        transaction_id = answer["transactionId"]
        await charger.call("StatusNotification", charger.status_payload(1, "Charging"))
        charges = await poll(
            lambda: get_json(f"{platform.save_server_url}/charges",
                             charging_station_id=station_id),
            lambda found: len(found) == 1)
        assert (charges[0]["id_tag"], charges[0]["status"]) == ("PHONE-1", "charging")

        stopped = await send(platform, station_id, "remote-stop",
                             {"charge_id": charges[0]["id"]})
        assert stopped.status_code == 200, stopped.text
        assert charger.received[-1] == ("RemoteStopTransaction",
                                        {"transactionId": transaction_id})
        await charger.call("StopTransaction", {
            "transactionId": transaction_id, "meterStop": 4000, "timestamp": now_iso(),
            "reason": "Remote"})
        charge = await poll(
            lambda: get_json(f"{platform.save_server_url}/charges/{charges[0]['id']}"),
            lambda found: found["status"] == "finished")
        assert charge["energy_wh"] == 3000


async def test_two_gateways_commands_reach_the_right_station_follow_a_move_and_a_crash(
        platform: Platform) -> None:
    if platform.mode != "services":
        pytest.skip("one gateway process in embedded mode")
    second_name = f"gateway-{uuid.uuid4().hex[:4]}"
    second = start_extra_gateway(platform, second_name)
    urls = [platform.gateway_url, second]
    ids = [new_station_id(f"G{i}") for i in range(4)]
    chargers = [CommandCharger(f"{urls[i % 2]}/ocpp/{sid}") for i, sid in enumerate(ids)]
    for charger in chargers:
        await charger.__aenter__()
    try:
        for charger in chargers:
            await charger.boot()
        for station_id in ids:
            await wait_known_and_routable(platform, station_id)
        for station_id, charger in zip(ids, chargers, strict=True):
            response = await send(platform, station_id, "unlock-connector",
                                  {"connector_id": 1})
            assert response.status_code == 200, response.text
            assert charger.received[-1] == ("UnlockConnector", {"connectorId": 1})
        unlocks = [sum(a == "UnlockConnector" for a, _ in c.received) for c in chargers]
        assert unlocks == [1, 1, 1, 1]  # each command reached its own station only

        moved = ids[0]  # from the first gateway to the second
        await chargers[0].close()
        chargers[0] = CommandCharger(f"{second}/ocpp/{moved}")
        await chargers[0].__aenter__()
        response = await poll(lambda: send(platform, moved, "reset", {"type": "soft"}),
                              lambda answer: answer.status_code == 200)
        assert response.json()["outcome"] == "accepted"
        assert chargers[0].received[-1] == ("Reset", {"type": "Soft"})

        # the second gateway dies: its queue and bindings vanish, its stations answer 409
        [(_, process, _)] = [p for p in platform.processes if p[0] == second_name]
        process.kill()
        process.wait(10)
        response = await poll(lambda: send(platform, moved, "clear-cache", timeout=20),
                              lambda answer: answer.status_code == 409, timeout=10)
        assert response.elapsed.total_seconds() < 2
        still_there = await send(platform, ids[2], "clear-cache")  # on the first gateway
        assert still_there.status_code == 200
    finally:
        for charger in chargers:
            await charger.close()
