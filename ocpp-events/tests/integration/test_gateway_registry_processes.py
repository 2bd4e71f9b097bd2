"""Two `python -m ocpp_events serve` processes on the real RabbitMQ, no save-server: a registry
change reaches both within 5 s, a deregistered connected station is closed, and a restarted
gateway keeps admitting the stations it knew (from its file) while nobody answers its
snapshot request."""

from __future__ import annotations

import asyncio
import json
import os
import time

import aio_pika
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ..registry_events import deregistered, new_password, password_entry, registered
from ..unit.test_gateway_handshake_admission import basic, call, new_id

pytestmark = pytest.mark.integration
TIME_FACTOR = float(os.environ.get("TEST_TIME_FACTOR", "1"))


async def admitted(base_url: str, station_id: str, password: str) -> bool:
    try:
        async with connect(base_url + station_id, subprotocols=["ocpp2.0.1"],
                           additional_headers=basic(station_id, password)) as ws:
            return (await call(ws, "Heartbeat", {}))[0] == 3
    except InvalidStatus:
        return False


async def admitted_within(base_url: str, station_id: str, password: str,
                          seconds: float) -> float:
    started = time.monotonic()
    while not await admitted(base_url, station_id, password):
        assert time.monotonic() - started < seconds * TIME_FACTOR, f"not admitted by {base_url}"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_registry_changes_reach_two_gateways_and_close_a_deregistered_station(
        rabbit_queue, gateway_processes, tmp_path) -> None:
    url, exchange_name, everything = rabbit_queue
    gateways = [gateway_processes(url, exchange_name, tmp_path / f"gateway-{n}.log",
                                  GATEWAY_UNKNOWN_STATIONS="reject",
                                  DATA_DIR=str(tmp_path / f"data-{n}"))
                for n in (1, 2)]
    for gateway in gateways:
        await gateway.start()
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    exchange = await channel.get_exchange(f"{exchange_name}.registry")  # the default name
    snapshot_requests = await channel.declare_queue(exclusive=True)
    await snapshot_requests.bind(exchange, "station-registry.snapshot-requested")

    async def publish(event: dict) -> None:
        await exchange.publish(aio_pika.Message(json.dumps(event).encode()),
                               routing_key=event["type"])

    station_id, password = new_id(), new_password()
    for gateway in gateways:  # refused before the registration
        assert not await admitted(gateway.url, station_id, password)
    await publish(registered(station_id, 1, password_entry(password), ocpp_version="2.0.1"))
    for gateway in gateways:
        await admitted_within(gateway.url, station_id, password, 5)

    async with connect(gateways[0].url + station_id, subprotocols=["ocpp2.0.1"],
                       additional_headers=basic(station_id, password)) as ws:
        assert (await call(ws, "Heartbeat", {}))[0] == 3
        await publish(deregistered(station_id))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5 * TIME_FACTOR)
        assert ws.close_code == 1008
    for gateway in gateways:
        assert not await admitted(gateway.url, station_id, password)

    assert not [event for event in await drained(everything)
                if event["type"].startswith("station-registry.")]  # not on the events exchange

    # a station the gateways know; then gateway 2 restarts while nobody answers snapshots
    known_id, known_password = new_id(), new_password()
    await publish(registered(known_id, 1, password_entry(known_password)))
    await admitted_within(gateways[1].url, known_id, known_password, 5)
    await asyncio.sleep(0.5)  # the file is written within 0.2 s of a change
    assert await gateways[1].terminate() == 0
    await gateways[1].start()
    assert await admitted(gateways[1].url, known_id, known_password)
    requests = [event["payload"]["gateway_instance"]
                for event in await drained(snapshot_requests)]
    assert len(requests) == 1  # the restart asked (the first two asked before the binding)
    await connection.close()


async def drained(queue) -> list[dict]:
    events = []
    while (message := await queue.get(timeout=1, fail=False)) is not None:
        events.append(json.loads(message.body))
        await message.ack()
    return events
