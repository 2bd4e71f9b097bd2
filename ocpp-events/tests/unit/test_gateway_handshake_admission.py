"""Admission over a real websocket (plain ws): one test per refusal of the issue's bad-input
list, the unknown-station policies, 1.6 and 2.0.1 stations with Basic Auth, and registry
changes that close live connections."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidMessage, InvalidStatus

from ocpp_events.infrastructure.registry_memory import InMemoryStationRegistry

from ..registry_events import deregistered, new_password, password_entry, registered

BOOT_16 = {"chargePointVendor": "VendorX", "chargePointModel": "ModelY"}
BOOT_201 = {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}


def url(gateway, station_id: str, scheme: str = "ws") -> str:
    return f"{scheme}://127.0.0.1:{gateway.ocpp.port}/ocpp/{station_id}"


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def call(ws, action: str, payload: dict) -> list:
    await ws.send(json.dumps([2, str(uuid.uuid4()), action, payload]))
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def refusal(address: str, headers: dict | None = None,
                  subprotocols: tuple[str, ...] = ("ocpp1.6",), **options) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(address, subprotocols=list(subprotocols),
                           additional_headers=headers or {}, **options):
            pass
    return refused.value


def new_id() -> str:
    return f"CP-{uuid.uuid4().hex[:8]}"


async def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def refused_events(notifier) -> list:
    return notifier.of_type("ocpp-events.security.handshake-refused")


@pytest.fixture
def registry() -> InMemoryStationRegistry:
    return InMemoryStationRegistry()


@pytest.fixture
async def gateway(make_gateway, notifier, registry):
    return await make_gateway(notifier, station_registry=registry,
                              gateway_unknown_stations="reject")


@pytest.fixture
def profile_1(registry) -> tuple[str, str]:
    station_id, password = new_id(), new_password()
    registry.apply(registered(station_id, 1, password_entry(password)))
    return station_id, password


async def assert_refused(gateway, notifier, validate_event, station_id: str, status: int,
                         reason: str, headers: dict | None = None,
                         secret: str | None = None) -> InvalidStatus:
    refused = await refusal(url(gateway, station_id), headers)
    assert refused.response.status_code == status
    await wait_for(lambda: any(e.charging_station_id == station_id
                               for e in refused_events(notifier)))
    event = next(e for e in refused_events(notifier) if e.charging_station_id == station_id)
    validate_event(event.to_dict())
    assert event.payload["reason"] == reason
    assert event.payload["http_status"] == status
    if secret is not None:
        assert secret not in event.to_json().decode()
    assert f'reason="{reason}"' in gateway.services.metrics.render().decode()
    return refused


async def test_wrong_password_is_401_with_a_basic_challenge(
        gateway, notifier, validate_event, profile_1) -> None:
    station_id, _ = profile_1
    wrong = new_password()
    refused = await assert_refused(gateway, notifier, validate_event, station_id, 401,
                                   "wrong-password", basic(station_id, wrong), secret=wrong)
    assert refused.response.headers["WWW-Authenticate"].startswith("Basic ")


async def test_missing_authorization_is_401(gateway, notifier, validate_event,
                                            profile_1) -> None:
    await assert_refused(gateway, notifier, validate_event, profile_1[0], 401,
                         "missing-credentials")


async def test_username_other_than_the_station_id_is_401(
        gateway, notifier, validate_event, profile_1) -> None:
    station_id, password = profile_1
    await assert_refused(gateway, notifier, validate_event, station_id, 401, "wrong-username",
                         basic("someone-else", password), secret=password)


async def test_malformed_basic_header_is_401(gateway, notifier, validate_event,
                                             profile_1) -> None:
    await assert_refused(gateway, notifier, validate_event, profile_1[0], 401,
                         "malformed-credentials", {"Authorization": "Basic not*base64"})


async def test_over_long_authorization_header_is_401(gateway, notifier, validate_event,
                                                     profile_1) -> None:
    station_id, password = profile_1
    long_password = password + "x" * 4000
    await assert_refused(gateway, notifier, validate_event, station_id, 401,
                         "malformed-credentials", basic(station_id, long_password))


async def test_valid_password_of_another_station_is_401(
        gateway, notifier, validate_event, registry, profile_1) -> None:
    other_id, other_password = new_id(), new_password()
    registry.apply(registered(other_id, 1, password_entry(other_password)))
    station_id, _ = profile_1
    await assert_refused(gateway, notifier, validate_event, station_id, 401, "wrong-password",
                         basic(station_id, other_password), secret=other_password)


async def test_profile_2_station_on_plain_ws_is_403(gateway, notifier, validate_event,
                                                    registry) -> None:
    station_id, password = new_id(), new_password()
    registry.apply(registered(station_id, 2, password_entry(password)))
    await assert_refused(gateway, notifier, validate_event, station_id, 403, "tls-required",
                         basic(station_id, password))


async def test_disabled_station_is_403(gateway, notifier, validate_event, registry) -> None:
    station_id = new_id()
    registry.apply(registered(station_id, 0, enabled=False))
    await assert_refused(gateway, notifier, validate_event, station_id, 403, "station-disabled")


async def test_unknown_station_under_reject_is_404(gateway, notifier, validate_event) -> None:
    await assert_refused(gateway, notifier, validate_event, new_id(), 404, "unknown-station")


async def test_unknown_station_under_auto_register_is_accepted_as_profile_0(
        make_gateway, notifier, registry) -> None:
    gateway = await make_gateway(notifier, station_registry=registry,
                                 gateway_unknown_stations="auto-register")
    station_id = new_id()
    async with connect(url(gateway, station_id), subprotocols=["ocpp1.6"]) as ws:
        assert (await call(ws, "BootNotification", BOOT_16))[2]["status"] == "Accepted"
    connect_event = notifier.of_type("ocpp-events.connect")[0]
    assert connect_event.payload["registered"] is False
    assert connect_event.payload["security_profile"] == 0


@pytest.mark.parametrize(("subprotocol", "boot"), [("ocpp1.6", BOOT_16),
                                                   ("ocpp2.0.1", BOOT_201)])
async def test_unknown_station_under_pending_boots_pending_until_registered(
        make_gateway, notifier, registry, validate_event, subprotocol, boot) -> None:
    gateway = await make_gateway(notifier, station_registry=registry,
                                 gateway_unknown_stations="pending")
    station_id = new_id()
    async with connect(url(gateway, station_id), subprotocols=[subprotocol]) as ws:
        first = await call(ws, "BootNotification", boot)
        assert first[2]["status"] == "Pending"
        assert first[2]["interval"] <= 60
        registry.apply(registered(station_id, 0))  # an operator adopts it
        assert (await call(ws, "BootNotification", boot))[2]["status"] == "Accepted"
    for event in notifier.of_type("ocpp-events.boot-notification"):
        validate_event(event.to_dict())


@pytest.mark.parametrize(("subprotocol", "boot"), [("ocpp1.6", BOOT_16),
                                                   ("ocpp2.0.1", BOOT_201)])
async def test_profile_1_station_with_its_password_connects(
        gateway, notifier, validate_event, registry, profile_1, subprotocol, boot) -> None:
    station_id, password = profile_1
    async with connect(url(gateway, station_id), subprotocols=[subprotocol],
                       additional_headers=basic(station_id, password)) as ws:
        assert (await call(ws, "BootNotification", boot))[2]["status"] == "Accepted"
    event = notifier.of_type("ocpp-events.connect")[0]
    validate_event(event.to_dict())
    assert (event.payload["security_profile"], event.payload["credential"]) == (1, "password")
    # which of its passwords: save-server drops a rotated-out one only for the new one's salt
    [only] = registry.get(station_id).passwords
    assert event.payload["password_salt"] == only.salt.hex()
    assert not refused_events(notifier)


async def test_a_refused_attempt_never_replaces_the_live_connection(
        gateway, notifier, profile_1) -> None:
    station_id, password = profile_1
    async with connect(url(gateway, station_id), subprotocols=["ocpp1.6"],
                       additional_headers=basic(station_id, password)) as ws:
        for headers in ({}, basic(station_id, new_password())):
            await refusal(url(gateway, station_id), headers)
        assert (await call(ws, "Heartbeat", {}))[0] == 3
        assert gateway.ocpp.registry.get(station_id).websocket.state.name == "OPEN"
    assert len(notifier.of_type("ocpp-events.connect")) == 1


async def test_registered_ocpp_version_is_enforced(gateway, registry, notifier,
                                                   validate_event) -> None:
    station_id = new_id()
    registry.apply(registered(station_id, 0, ocpp_version="2.0.1"))
    refused = await refusal(url(gateway, station_id))
    assert refused.response.status_code == 403
    async with connect(url(gateway, station_id),
                       subprotocols=["ocpp1.6", "ocpp2.0.1"]) as ws:
        assert ws.subprotocol == "ocpp2.0.1"


async def test_deregistering_a_connected_station_closes_it(gateway, registry,
                                                           profile_1) -> None:
    station_id, password = profile_1
    async with connect(url(gateway, station_id), subprotocols=["ocpp1.6"],
                       additional_headers=basic(station_id, password)) as ws:
        registry.apply(deregistered(station_id))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1008
    assert gateway.services.metrics.registry_disconnects._value.get() == 1


async def test_a_rotated_password_keeps_the_station_during_the_grace_period_only(
        gateway, registry, profile_1) -> None:
    station_id, old = profile_1
    old_hash = registry.state.stations[station_id]  # save-server keeps the stored hash as is
    in_grace = {**password_entry(old), "valid_until": (datetime.now(UTC) + timedelta(
        hours=24)).isoformat()}
    in_grace.update(salt=old_hash.passwords[0].salt.hex(),
                    hash=old_hash.passwords[0].digest.hex())
    new = new_password()
    async with connect(url(gateway, station_id), subprotocols=["ocpp1.6"],
                       additional_headers=basic(station_id, old)) as ws:
        registry.apply(registered(station_id, 1, password_entry(new), in_grace,
                                  kind="password-changed"))
        assert (await call(ws, "Heartbeat", {}))[0] == 3  # still connected
        registry.apply(registered(station_id, 1, password_entry(new), kind="password-changed"))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1008
    async with connect(url(gateway, station_id), subprotocols=["ocpp1.6"],
                       additional_headers=basic(station_id, new)) as ws:
        assert (await call(ws, "Heartbeat", {}))[0] == 3


async def test_a_station_on_its_previous_password_is_closed_when_the_grace_period_ends(
        gateway, registry) -> None:
    station_id, old, new = new_id(), new_password(), new_password()
    ends = datetime.now(UTC) + timedelta(seconds=1)
    registry.apply(registered(station_id, 1, password_entry(new), password_entry(old, ends),
                              kind="password-changed"))
    async with connect(url(gateway, station_id), subprotocols=["ocpp1.6"],
                       additional_headers=basic(station_id, old)) as ws:
        gateway.ocpp.recheck_passwords_in_grace()  # what the gateway does every 30 s
        assert (await call(ws, "Heartbeat", {}))[0] == 3
        await asyncio.sleep((ends - datetime.now(UTC)).total_seconds() + 0.05)
        gateway.ocpp.recheck_passwords_in_grace()
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1008


async def test_an_address_over_its_failed_handshakes_is_cut_off_at_accept(
        make_gateway, notifier, registry, profile_1) -> None:
    gateway = await make_gateway(notifier, station_registry=registry,
                                 gateway_unknown_stations="reject",
                                 gateway_handshake_failures_per_address=3)
    station_id, password = profile_1
    for _ in range(3):
        assert (await refusal(url(gateway, new_id()))).response.status_code == 404
    for _ in range(2):  # even with good credentials: no HTTP answer at all, the TCP is dropped
        with pytest.raises((InvalidMessage, OSError)):
            async with connect(url(gateway, station_id), subprotocols=["ocpp1.6"],
                               additional_headers=basic(station_id, password)):
                pass
    metrics = gateway.services.metrics.render().decode()
    assert 'ocpp_gateway_handshakes_refused_total{reason="rate-limited"} 2.0' in metrics
    assert gateway.ocpp.registry.get(station_id) is None
    # another address is not affected
    async with connect(url(gateway, station_id), subprotocols=["ocpp1.6"],
                       additional_headers=basic(station_id, password),
                       local_addr=("127.0.0.2", 0)) as ws:
        assert (await call(ws, "Heartbeat", {}))[0] == 3
    assert len(refused_events(notifier)) == 3  # the flood after the block is only counted


async def test_failed_handshakes_for_one_station_id_never_lock_out_its_password(
        make_gateway, notifier, registry, profile_1) -> None:
    gateway = await make_gateway(notifier, station_registry=registry,
                                 gateway_unknown_stations="reject",
                                 gateway_handshake_failures_per_address=0,
                                 gateway_handshake_failures_per_station=3)
    station_id, password = profile_1
    for attempt in range(5):
        refused = await refusal(url(gateway, station_id), basic(station_id, new_password()),
                                local_addr=(f"127.0.0.{10 + attempt}", 0))
        assert refused.response.status_code == (401 if attempt < 3 else 429)
    async with connect(url(gateway, station_id), subprotocols=["ocpp1.6"],
                       additional_headers=basic(station_id, password)) as ws:
        assert (await call(ws, "Heartbeat", {}))[0] == 3
