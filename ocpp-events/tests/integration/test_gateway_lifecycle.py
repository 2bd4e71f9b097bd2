"""Keepalive pings and graceful SIGTERM shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from ..conftest import free_port


async def test_station_that_stops_answering_pings_is_closed_and_reported(
        make_gateway, notifier, station_id, validate_event):
    gateway = await make_gateway(notifier, gateway_ping_interval=0.2, gateway_ping_timeout=0.3,
                                 gateway_close_timeout=0.3)
    ws = await connect(f"ws://127.0.0.1:{gateway.ocpp.port}/ocpp/{station_id}",
                       subprotocols=["ocpp1.6"], ping_interval=None)
    try:
        ws.transport.pause_reading()  # the station goes silent: no pongs any more
        for _ in range(150):
            if notifier.of_type("ocpp-events.disconnect"):
                break
            await asyncio.sleep(0.02)
        [disconnect] = notifier.of_type("ocpp-events.disconnect")
        assert disconnect.payload["close_code"] == 1011
        assert gateway.ocpp.registry.get(station_id) is None
        validate_event(json.loads(disconnect.to_json()))
    finally:
        ws.transport.abort()


@pytest.mark.integration
async def test_sigterm_closes_stations_with_1001_publishes_and_exits_0(
        rabbit_queue, gateway_processes, station_id, tmp_path):
    amqp_url, exchange, queue = rabbit_queue
    log_path = tmp_path / "gateway.log"
    gateway = await gateway_processes(amqp_url, exchange, log_path, LOG_FORMAT="json",
                                      LOG_LEVEL="INFO").start()
    async with connect(gateway.url + station_id, subprotocols=["ocpp1.6"]) as ws:
        await ws.send('[2,"1","Heartbeat",{}]')
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))[0] == 3
        exit_code = asyncio.create_task(gateway.terminate())
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd.code == 1001
        assert await exit_code == 0
    bodies = []
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        bodies.append(json.loads(message.body))
    assert [b["type"] for b in bodies] == [
        "ocpp-events.connect", "ocpp-events.heart-beat", "ocpp-events.disconnect"]
    assert bodies[2]["payload"]["close_code"] == 1001
    with pytest.raises(OSError):
        await connect(gateway.url + station_id, subprotocols=["ocpp1.6"], open_timeout=2)
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert all(isinstance(line, dict) for line in lines)  # LOG_FORMAT=json: only JSON lines
    connected = [line for line in lines if line["event"] == "station connected"]
    assert connected[0]["charging_station_id"] == station_id
    assert connected[0]["connection_id"] == bodies[0]["connection_id"]


@pytest.mark.integration
@pytest.mark.parametrize("taken", ["GATEWAY_PORT", "GATEWAY_HTTP_PORT"])
async def test_gateway_whose_port_is_taken_says_so_and_exits_1(rabbit_queue, taken, tmp_path):
    """It used to hang, silent, ignoring SIGTERM: its broker connections, still opening when
    the bind failed, kept the event loop alive."""
    amqp_url, exchange, _ = rabbit_queue
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        ports = {"GATEWAY_PORT": str(free_port()), "GATEWAY_HTTP_PORT": str(free_port()),
                 taken: str(holder.getsockname()[1])}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ocpp_events", "serve", stderr=asyncio.subprocess.PIPE,
            env=dict(os.environ, AMQP_URL=amqp_url, AMQP_EXCHANGE=exchange,
                     AMQP_COMMAND_EXCHANGE=f"{exchange}.commands", GATEWAY_HOST="127.0.0.1",
                     DATA_DIR=str(tmp_path), LOG_FORMAT="console", **ports))
        try:
            _, stderr = await asyncio.wait_for(process.communicate(), 20)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert process.returncode == 1
    assert b"gateway could not start" in stderr
    assert b"address already in use" in stderr
