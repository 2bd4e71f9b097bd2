"""Command routing on the in-process broker through a real gateway: a binding per connected
station, only the current connection's close unbinds, the reply reaches `reply_to`."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from websockets.asyncio.client import connect

from csms_embedded.broker import InProcessBroker
from ocpp_events.bootstrap import build_gateway
from ocpp_events.infrastructure.inprocess_commands import InProcessCommandInbox
from ocpp_events.infrastructure.inprocess_notifier import InProcessNotifier

from ..conftest import gateway_settings

COMMANDS = "test-commands"


async def _until(check: Any, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def _command(broker: InProcessBroker, station_id: str, command: str = "clear-cache",
             parameters: dict | None = None) -> tuple[int, str]:
    command_id = str(uuid.uuid4())
    body = json.dumps({"command_id": command_id, "charging_station_id": station_id,
                       "command": command, "parameters": parameters or {}, "timeout": 2})
    routed = broker.publish(COMMANDS, station_id, body.encode(),
                            properties={"reply_to": "replies", "correlation_id": command_id})
    return routed, command_id


async def _answer_one(ws: Any) -> list:
    frame = json.loads(await asyncio.wait_for(ws.recv(), 3))
    await ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
    return frame


async def test_binding_follows_the_current_connection_and_replies_reach_the_requester(
        station_id: str) -> None:
    broker = InProcessBroker()
    exchange = f"test-events-{uuid.uuid4().hex[:8]}"
    broker.declare_queue("events", [(exchange, "#")])
    broker.declare_queue("replies")
    settings = gateway_settings(amqp_exchange=exchange)
    inbox = InProcessCommandInbox(broker, COMMANDS, "gw-a", poll_seconds=0.05)
    gateway = build_gateway(settings, InProcessNotifier(broker, exchange), command_inbox=inbox)
    await gateway.start()
    url = f"ws://127.0.0.1:{gateway.ocpp.port}/ocpp/{station_id}"
    try:
        assert broker.publish(COMMANDS, station_id, b"{}") == 0  # nobody holds it yet
        first = await connect(url, subprotocols=["ocpp1.6"])
        await _until(lambda: gateway.ocpp.registry.get(station_id) is not None)
        routed, command_id = _command(broker, station_id, "reset", {"type": "hard"})
        assert routed == 1
        frame = await _answer_one(first)
        assert frame[2:] == ["Reset", {"type": "Hard"}]
        reply = await asyncio.to_thread(broker.get, "replies", 3)
        assert reply.properties["correlation_id"] == command_id
        assert json.loads(reply.body)["outcome"] == "accepted"

        second = await connect(url, subprotocols=["ocpp1.6"])  # replaces the first
        await asyncio.wait_for(first.wait_closed(), 3)
        await asyncio.sleep(0.1)  # the replaced connection's close has been handled
        routed, _ = _command(broker, station_id)
        assert routed == 1, "the replaced connection's close must not unbind the station"
        assert (await _answer_one(second))[2] == "ClearCache"

        await second.close()
        await _until(lambda: gateway.ocpp.registry.get(station_id) is None)
        assert _command(broker, station_id)[0] == 0  # unroutable: not connected
        events = []
        while (message := broker.get("events", 0)) is not None:
            events.append(message.routing_key)
        assert events.count("ocpp-commands.reset") == 1
        assert events.count("ocpp-commands.clear-cache") == 1
    finally:
        await gateway.stop()
    assert not broker.has_queue(inbox.queue_name)


async def test_command_for_a_station_not_held_here_gets_no_reply(station_id: str) -> None:
    broker = InProcessBroker()
    broker.declare_queue("replies")
    inbox = InProcessCommandInbox(broker, COMMANDS, "gw-b", poll_seconds=0.05)
    gateway = build_gateway(gateway_settings(), InProcessNotifier(broker, "x", False),
                            command_inbox=inbox)
    await gateway.start()
    try:
        inbox.station_connected(station_id)  # a stale binding: no live connection here
        assert _command(broker, station_id)[0] == 1
        assert await asyncio.to_thread(broker.get, "replies", 0.3) is None
    finally:
        await gateway.stop()
