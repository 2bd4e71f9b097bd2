"""Id tag limits observed on simulated 1.6 and 2.0.1 stations, in both modes
(docs/architecture.md, "Id tags: how the gateways decide, and what save-server enforces after"):
a tag's concurrent-charge limit refuses a second start with `ConcurrentTx` (and a station that
charges anyway gets a remote stop), a monthly budget used up during a charge remote-stops it
(`ID_TAG_BUDGET_ACTION=stop`), a tag restricted to AC EVSEs is refused at the DC EVSE a
registration declares (2.0.1 NotAllowedTypeEVSE, 1.6 Invalid), and a tag blocked through the
API is refused within 5 s by every gateway."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.charger import poll
from tests.e2e.conftest import platform_of
from tests.e2e.id_tag_station import TagStation
from tests.e2e.platform import (
    TIME_FACTOR,
    Platform,
    start_extra_gateway,
)

pytestmark = pytest.mark.e2e
# unknown cards refused: an Accepted then proves the gateway holds the tag (until_known)
FAST_ENFORCEMENT = {"ID_TAG_ENFORCEMENT_INTERVAL": "0.3", "ID_TAG_BUDGET_ACTION": "stop",
                    "GATEWAY_UNKNOWN_ID_TAGS": "reject"}


@pytest.fixture(scope="module", params=["embedded", "services"])
def platform(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Platform]:
    """The conftest's platform, with the enforcement checking every 0.3 s."""
    with platform_of(request.param, tmp_path_factory.mktemp(f"limits-{request.param}"),
                     FAST_ENFORCEMENT) as running:
        yield running


async def create_tag(platform: Platform, **fields: Any) -> str:
    card = f"C{uuid.uuid4().hex[:10]}".upper()
    async with httpx.AsyncClient(timeout=10, headers=platform.headers) as client:
        created = await client.post(f"{platform.save_server_url}/id-tags",
                                    json={"id_tag": card, **fields})
    assert created.status_code == 201, created.text
    return card


async def until_known(station: TagStation, card: str) -> None:
    """The gateway's copy has the tag (fed by save-server's events; the platforms of these
    tests refuse unknown cards, so Accepted means known)."""
    await poll(lambda: station.authorize(card), lambda status: status == "Accepted")


def station(platform: Platform, version: str) -> TagStation:
    return TagStation(platform.station_url(f"E2E-LIM-{uuid.uuid4().hex[:8]}"), version)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_second_charge_over_the_limit_is_refused_and_stopped_if_it_charges_anyway(
        platform: Platform, version: str) -> None:
    card = await create_tag(platform, max_concurrent_charges=1)
    async with station(platform, version) as first, station(platform, version) as second:
        await first.boot()
        await second.boot()
        await until_known(first, card)
        assert await first.start(card, 0) == "Accepted"
        assert await second.authorize(card) == "ConcurrentTx"
        # a station that charges although refused (offline start, StopTransactionOnInvalidId
        # off) is recorded, and save-server stops the charge beyond the limit
        assert await second.start(card, 0) == "ConcurrentTx"
        await poll(lambda: _value(second.remote_stops()),
                   lambda stops: stops == [second.transaction_id])
        assert first.remote_stops() == []
        await second.stop(10, "Remote")
        await first.stop(1_000)
        await poll(lambda: second.authorize(card), lambda status: status == "Accepted")


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_budget_used_up_during_a_charge_remote_stops_it(
        platform: Platform, version: str) -> None:
    card = await create_tag(platform, monthly_budget_kwh=1)
    async with station(platform, version) as charging:
        await charging.boot()
        await until_known(charging, card)
        assert await charging.start(card, 10_000) == "Accepted"
        await charging.meter(10_600)  # 0.6 of 1 kWh
        await asyncio.sleep(1 * TIME_FACTOR)  # a few enforcement rounds: nothing to stop
        assert charging.remote_stops() == []
        await charging.meter(11_100)  # 1.1 kWh: used up
        await poll(lambda: _value(charging.remote_stops()),
                   lambda stops: stops == [charging.transaction_id], timeout=10)
        await charging.stop(11_150, "Remote")


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_an_ac_only_tag_is_refused_at_a_dc_evse(platform: Platform, version: str) -> None:
    station_id = f"E2E-EVSE-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(timeout=10, headers=platform.headers) as client:
        registered = await client.post(f"{platform.save_server_url}/charging-stations", json={
            "charging_station_id": station_id, "security_profile": 0,
            "evse_types": {"1": "DC", "2": "AC"}})
    assert registered.status_code == 201, registered.text
    card = await create_tag(platform, evse_types=["AC"], max_concurrent_charges=100)
    refused = "Invalid" if version == "1.6" else "NotAllowedTypeEVSE"
    async with TagStation(platform.station_url(station_id), version) as charging:
        await charging.boot()
        await until_known(charging, card)  # the station has an AC EVSE: Authorize accepts
        await poll(lambda: charging.start(card, 0, evse=1), lambda status: status == refused)
        assert await charging.start(card, 0, evse=2) == "Accepted"


async def test_a_blocked_tag_is_refused_within_5_s_by_every_gateway(platform: Platform) -> None:
    """Services mode runs a second gateway process (embedded has one gateway)."""
    urls = [platform.gateway_url]
    if platform.mode == "services":
        urls.append(start_extra_gateway(platform, f"gateway-{uuid.uuid4().hex[:4]}"))
    card = await create_tag(platform)
    gateways = [TagStation(f"{url}/ocpp/E2E-LIM-{uuid.uuid4().hex[:8]}", "1.6")
                for url in urls]
    for gateway in gateways:
        async with gateway:
            await until_known(gateway, card)
    async with httpx.AsyncClient(timeout=10, headers=platform.headers) as client:
        blocked = await client.patch(f"{platform.save_server_url}/id-tags/{card}",
                                     json={"status": "blocked"})
    assert blocked.status_code == 200, blocked.text
    started = time.monotonic()
    for gateway in gateways:
        async with gateway:
            while (status := await gateway.authorize(card)) != "Blocked":
                assert time.monotonic() - started < 5 * TIME_FACTOR, status
                await asyncio.sleep(0.1)


async def _value(value: Any) -> Any:
    return value
