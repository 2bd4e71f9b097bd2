"""The station registry end to end: an operator registers a station in save-server, the
gateways learn it from the registry events (no call to save-server), the station proves its
password at the handshake, and a password rotation is pushed to it (1.6 and 2.0.1)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest
import websockets

from tests.e2e.command_charger import CommandCharger
from tests.e2e.platform import TIME_FACTOR, Platform

PROPAGATION = 5.0  # seconds: a registry change reaches every gateway within this


def station_url(platform: Platform, station_id: str, password: str | None) -> str:
    host = platform.gateway_url.removeprefix("ws://")
    credentials = f"{station_id}:{password}@" if password else ""
    return f"ws://{credentials}{host}/ocpp/{station_id}"


async def handshake_status(platform: Platform, station_id: str, password: str | None,
                           subprotocol: str = "ocpp1.6") -> int:
    """101 when admitted, else the HTTP status of the refusal."""
    try:
        async with websockets.connect(station_url(platform, station_id, password),
                                      subprotocols=[subprotocol],
                                      open_timeout=10 * TIME_FACTOR):
            return 101
    except websockets.InvalidStatus as refused:
        return refused.response.status_code


async def admitted_within(platform: Platform, station_id: str, password: str | None,
                          expected: int = 101, subprotocol: str = "ocpp1.6") -> float:
    started = time.monotonic()
    while time.monotonic() - started < PROPAGATION * TIME_FACTOR:
        if await handshake_status(platform, station_id, password, subprotocol) == expected:
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise AssertionError(f"{station_id}: not {expected} within {PROPAGATION} s")


def api(platform: Platform) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=platform.save_server_url, headers=platform.headers,
                             timeout=30)


async def test_a_registered_station_proves_its_password_and_wrong_ones_are_refused(
        platform: Platform) -> None:
    station_id = f"E2E-REG-{uuid.uuid4().hex[:8]}"
    async with api(platform) as client:
        made = await client.post("/charging-stations", json={
            "charging_station_id": station_id, "security_profile": 1})
        assert made.status_code == 201, made.text
        password = made.json()["password"]
        # until the registry event reaches the gateway the id is unknown, which these
        # harnesses' auto-register policy would admit: wait until a wrong password is refused
        await admitted_within(platform, station_id, "a wrong password 1234", expected=401)
        assert await handshake_status(platform, station_id, password) == 101
        assert await handshake_status(platform, station_id, None) == 401
        assert await handshake_status(platform, station_id, password, "ocpp2.0.1") == 101
        listed = await client.get("/charging-stations/registrations")
        assert station_id in {r["charging_station_id"] for r in listed.json()}
        assert (await client.delete(f"/charging-stations/{station_id}")).status_code == 204


@pytest.mark.parametrize(("subprotocol", "expected_action"), [
    ("ocpp1.6", "ChangeConfiguration"), ("ocpp2.0.1", "SetVariables")])
async def test_a_rotation_is_pushed_to_the_connected_station_and_both_passwords_work(
        platform: Platform, subprotocol: str, expected_action: str) -> None:
    station_id = f"E2E-ROT-{uuid.uuid4().hex[:8]}"

    def respond(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "SetVariables":
            return {"setVariableResult": [{**v, "attributeStatus": "Accepted"}
                                          for v in payload["setVariableData"]]}
        return {"status": "Accepted"}

    async with api(platform) as client:
        made = await client.post("/charging-stations", json={
            "charging_station_id": station_id, "security_profile": 1})
        first = made.json()["password"]
        await admitted_within(platform, station_id, "not the password 1234", expected=401,
                              subprotocol=subprotocol)  # the gateway knows the station
        assert await handshake_status(platform, station_id, first, subprotocol) == 101
        charger = CommandCharger(station_url(platform, station_id, first), subprotocol,
                                 respond)
        async with charger:
            boot = ({"chargePointVendor": "E2E", "chargePointModel": "Rot"}
                    if subprotocol == "ocpp1.6" else
                    {"reason": "PowerUp", "chargingStation": {"vendorName": "E2E",
                                                              "model": "Rot"}})
            await charger.call("BootNotification", boot)
            rotated = None
            deadline = time.monotonic() + 20 * TIME_FACTOR
            while rotated is None or rotated.status_code == 409:  # until save-server knows it
                assert time.monotonic() < deadline, rotated.text if rotated else "no answer"
                await asyncio.sleep(0.3)
                rotated = await client.post(f"/charging-stations/{station_id}/password")
            assert rotated.status_code == 200, rotated.text
            new = rotated.json()["password"]
            actions = [action for action, _ in charger.received]
            assert actions[-1] == expected_action
            _, payload = charger.received[-1]
            if subprotocol == "ocpp1.6":
                assert payload == {"key": "AuthorizationKey", "value": new.encode().hex()}
            else:
                assert payload["setVariableData"][0]["attributeValue"] == new
        # grace: the old password works until the station proves the new one (a connection
        # on the old one, even one the gateway still takes for current, proves nothing) ...
        assert await handshake_status(platform, station_id, first, subprotocol) == 101
        await admitted_within(platform, station_id, new, subprotocol=subprotocol)
        # ... and once it has, save-server drops the old one and the gateways refuse it
        await admitted_within(platform, station_id, first, expected=401,
                              subprotocol=subprotocol)
        await client.delete(f"/charging-stations/{station_id}")
