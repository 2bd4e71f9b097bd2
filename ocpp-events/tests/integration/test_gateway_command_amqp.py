"""Remote commands through the real RabbitMQ into an in-process gateway: the station's
binding appears on connect and goes on close; replies reach `reply_to`."""

from __future__ import annotations

import asyncio
import json
import os
import uuid

import pytest
from websockets.asyncio.client import connect

from ocpp_events.bootstrap import build_gateway
from ocpp_events.infrastructure.amqp_commands import AmqpCommandInbox

from ..conftest import AMQP_URL, RecordingNotifier, connect_rabbitmq, gateway_settings

pytestmark = pytest.mark.integration


async def test_commands_follow_the_station_binding_on_rabbitmq(station_id: str) -> None:
    import aio_pika
    import aiormq

    url = os.environ.get("AMQP_URL", AMQP_URL)
    connection = await connect_rabbitmq(url)
    exchange_name = f"test-ocpp-commands-{uuid.uuid4().hex[:10]}"
    inbox = AmqpCommandInbox(url, exchange_name, f"test-{uuid.uuid4().hex[:8]}")
    gateway = build_gateway(gateway_settings(), RecordingNotifier(), command_inbox=inbox)
    await gateway.start()
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    try:
        assert await inbox.wait_ready(10)
        exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.DIRECT,
                                                  durable=True)
        replies = await channel.declare_queue(exclusive=True, auto_delete=True)

        async def command() -> str:
            command_id = str(uuid.uuid4())
            body = {"command_id": command_id, "charging_station_id": station_id,
                    "command": "reset", "parameters": {"type": "soft"}, "timeout": 3}
            await exchange.publish(aio_pika.Message(
                json.dumps(body).encode(), correlation_id=command_id, reply_to=replies.name),
                routing_key=station_id, mandatory=True)
            return command_id

        with pytest.raises(aiormq.exceptions.PublishError):
            await command()  # not connected yet: returned as unroutable
        ws = await connect(f"ws://127.0.0.1:{gateway.ocpp.port}/ocpp/{station_id}",
                           subprotocols=["ocpp1.6"])
        for _ in range(100):  # the binding is made right after the handshake
            try:
                command_id = await command()
                break
            except aiormq.exceptions.PublishError:
                await asyncio.sleep(0.05)
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert frame[2:] == ["Reset", {"type": "Soft"}]
        await ws.send(json.dumps([3, frame[1], {"status": "Rejected"}]))
        reply = await replies.get(timeout=5, fail=False)
        for _ in range(50):
            if reply is not None:
                break
            await asyncio.sleep(0.05)
            reply = await replies.get(timeout=5, fail=False)
        assert reply is not None and reply.correlation_id == command_id
        assert json.loads(reply.body)["outcome"] == "rejected"

        await ws.close()
        for _ in range(100):
            try:
                await command()
                await asyncio.sleep(0.05)
            except aiormq.exceptions.PublishError:
                break  # unbound after the close
        else:
            pytest.fail("the station's binding outlived its connection")
    finally:
        await gateway.stop()
        await channel.exchange_delete(exchange_name)
        await connection.close()
