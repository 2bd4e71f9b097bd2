"""Fault run (`make fault`, not part of `make test`): RabbitMQ is stopped for more than 10 s
while chargers keep sending calls.

Proves the gateway's promise: every call that got a CallResult is an event in the event-store
afterwards, calls during the outage get a CallError (the charger retries them), and no charger
is disconnected by the gateway. It stops and starts the machine's RabbitMQ application
(`rabbitmqctl stop_app` / `start_app`), so nothing else may use the broker meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import websockets

from tests.e2e.charger import get_json, now_iso, poll
from tests.e2e.conftest import _require_real_servers
from tests.e2e.platform import Platform, services_platform

pytestmark = pytest.mark.fault

OUTAGE_SECONDS = 12
STATIONS = 20
CALL_INTERVAL = 0.2


@dataclass
class Tally:
    answered: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    closed_by_gateway: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    _require_real_servers()
    with services_platform(tmp_path_factory.mktemp("fault")) as running:
        yield running


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, timeout=120)


async def charger(url: str, station_id: str, until: float, tally: Tally) -> None:
    async with websockets.connect(url, subprotocols=["ocpp1.6"]) as ws:
        counter = 0
        while time.monotonic() < until:
            counter += 1
            message_id = f"{station_id}-{counter}"
            payload = {"connectorId": 1, "meterValue": [{"timestamp": now_iso(), "sampledValue": [
                {"value": str(counter), "measurand": "Energy.Active.Import.Register"}]}]}
            try:
                await ws.send(json.dumps([2, message_id, "MeterValues", payload]))
                frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                while frame[0] == 2:  # a call from the CSMS (the local-list sync): not ours
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
            except websockets.ConnectionClosed:
                tally.closed_by_gateway.append(station_id)
                return
            (tally.answered if frame[0] == 3 else tally.refused).append(message_id)
            await asyncio.sleep(CALL_INTERVAL)


async def test_broker_outage_loses_no_answered_call_and_drops_no_charger(
        services: Platform) -> None:
    tally = Tally()
    run = uuid.uuid4().hex[:6]
    until = time.monotonic() + 3 + OUTAGE_SECONDS + 15
    chargers = [asyncio.create_task(charger(services.station_url(f"FAULT-{run}-{n}"),
                                            f"FAULT-{run}-{n}", until, tally))
                for n in range(STATIONS)]
    await asyncio.sleep(3)
    await asyncio.to_thread(rabbitmqctl, "stop_app")
    try:
        await asyncio.sleep(OUTAGE_SECONDS)
    finally:
        await asyncio.to_thread(rabbitmqctl, "start_app")
    await asyncio.gather(*chargers)

    assert tally.closed_by_gateway == [], "the gateway must not disconnect chargers"
    assert tally.refused, "calls during the outage are refused with a CallError"
    answered = set(tally.answered)

    async def stored_ids() -> set[str]:
        ids: set[str] = set()
        for n in range(STATIONS):
            url = f"{services.event_store_url}/events"
            events = await get_json(url, charging_station_id=f"FAULT-{run}-{n}", limit=1000,
                                    type="ocpp-events.meter-values")
            ids.update(e["message_id"] for e in events)
        return ids

    stored = await poll(stored_ids, lambda ids: answered <= ids, timeout=120)
    assert answered <= stored, f"lost: {sorted(answered - stored)[:10]}"
