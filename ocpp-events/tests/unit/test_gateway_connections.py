"""Same station twice (the newest wins), registry bookkeeping, health and metrics endpoints."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


async def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_second_connection_replaces_the_first_with_4000(make_gateway, notifier,
                                                              station_id, validate_event):
    gateway = await make_gateway(notifier)
    url = f"ws://127.0.0.1:{gateway.ocpp.port}/ocpp/{station_id}"
    old = await connect(url, subprotocols=["ocpp1.6"])
    await old.send('[2,"o1","Heartbeat",{}]')
    await old.recv()
    async with connect(url, subprotocols=["ocpp1.6"]) as new:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(old.recv(), 5)
        assert closed.value.rcvd.code == 4000
        assert closed.value.rcvd.reason == "replaced by a new connection"
        await wait_for(lambda: bool(notifier.of_type("ocpp-events.disconnect")))
        await new.send('[2,"n1","Heartbeat",{}]')
        assert json.loads(await new.recv())[0] == 3
        current = gateway.ocpp.registry.get(station_id)
        assert current is not None
        [old_disconnect] = notifier.of_type("ocpp-events.disconnect")
        heartbeats = notifier.of_type("ocpp-events.heart-beat")
        assert old_disconnect.connection_id == heartbeats[0].connection_id
        assert heartbeats[1].connection_id == current.connection_id != old_disconnect.connection_id
        assert old_disconnect.payload == {"close_code": 4000,
                                          "reason": "replaced by a new connection"}
        validate_event(json.loads(old_disconnect.to_json()))
    await wait_for(lambda: len(notifier.of_type("ocpp-events.disconnect")) == 2)
    assert gateway.ocpp.registry.get(station_id) is None


async def test_health_ready_and_metrics(make_gateway, notifier, station_id):
    gateway = await make_gateway(notifier)
    base = f"http://127.0.0.1:{gateway.health.port}"
    async with connect(f"ws://127.0.0.1:{gateway.ocpp.port}/ocpp/{station_id}",
                       subprotocols=["ocpp1.6"]) as ws:
        await ws.send('[2,"1","Heartbeat",{}]')
        await ws.recv()
        await ws.send('[2,"2","Nope",{}]')
        await ws.recv()
        async with httpx.AsyncClient(base_url=base) as http:
            assert (await http.get("/health")).status_code == 200
            assert (await http.get("/ready")).status_code == 200
            metrics = await http.get("/metrics")
            assert metrics.headers["content-type"].startswith("text/plain; version=")
            text = metrics.text
            assert "ocpp_gateway_connected_stations 1.0" in text
            assert 'ocpp_gateway_calls_total{action="Heartbeat",result="accepted"} 1.0' in text
            assert 'ocpp_gateway_calls_total{action="unknown",result="rejected"} 1.0' in text
            assert 'ocpp_gateway_publish_seconds_count{confirmed="true"} 2.0' in text
            notifier.failing = True
            assert (await http.get("/ready")).status_code == 503
            assert (await http.get("/nothing")).status_code == 404
