"""Both CommandBus adapters against a stand-in gateway: the reply is matched by correlation
id, an unroutable command is NOT_CONNECTED at once, silence is a TIMEOUT."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from save_server.domain.station_commands import CommandOutcome, CommandRequest
from save_server.infrastructure.commands.embedded import EmbeddedCommandBus

from .conftest import AMQP_URL, missing

pytestmark = pytest.mark.integration


def request(station_id: str, timeout: float = 2.0) -> CommandRequest:
    return CommandRequest(str(uuid.uuid4()), station_id, "reset", {"type": "soft"}, timeout,
                          "test")


def reply_for(body: bytes) -> bytes:
    command = json.loads(body)
    if command["parameters"].get("silent"):
        return b""
    return json.dumps({"command_id": command["command_id"], "outcome": "accepted",
                       "payload": {"status": "Accepted"}, "ocpp_version": "1.6",
                       "action": "Reset"}).encode()


async def test_embedded_bus_round_trip_not_connected_and_timeout() -> None:
    from csms_embedded.broker import InProcessBroker

    broker = InProcessBroker()
    bus = EmbeddedCommandBus(broker, "commands", poll_seconds=0.05)
    broker.declare_exchange("commands", "direct")
    broker.declare_queue("gateway", [("commands", "CP-1")])
    stop = threading.Event()

    def gateway() -> None:
        while not stop.is_set():
            message = broker.get("gateway", timeout=0.05)
            if message is None:
                continue
            broker.ack("gateway", message)
            answer = reply_for(message.body)
            if answer:
                broker.publish_to_queue(message.properties["reply_to"], "", answer,
                                        properties={"correlation_id":
                                                    message.properties["correlation_id"]})

    thread = threading.Thread(target=gateway, daemon=True)
    thread.start()
    try:
        answer = await bus.send(request("CP-1"))
        assert (answer.outcome, answer.payload, answer.action) == (
            CommandOutcome.ACCEPTED, {"status": "Accepted"}, "Reset")
        started = time.monotonic()
        assert (await bus.send(request("CP-2"))).outcome == CommandOutcome.NOT_CONNECTED
        assert time.monotonic() - started < 0.5
        silent = CommandRequest(str(uuid.uuid4()), "CP-1", "reset", {"silent": True}, 0.2, "t")
        assert (await bus.send(silent)).outcome == CommandOutcome.TIMEOUT
    finally:
        stop.set()
        thread.join(2)
        await bus.close()
    assert not broker.has_queue(bus.reply_queue)


@pytest.fixture
async def rabbit_gateway() -> AsyncIterator[tuple[str, Any]]:
    """A unique direct exchange and a stand-in gateway queue bound to station CP-1."""
    import aio_pika

    try:
        connection = await aio_pika.connect(AMQP_URL, timeout=3)
    except Exception as error:
        missing(f"RabbitMQ is not reachable at {AMQP_URL}: {error}")
    exchange_name = f"test-ocpp-commands-{uuid.uuid4().hex[:10]}"
    channel = await connection.channel()
    exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.DIRECT,
                                              durable=True)
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, "CP-1")

    async def answer(message: Any) -> None:
        body = reply_for(message.body)
        if body:
            await channel.default_exchange.publish(
                aio_pika.Message(body, correlation_id=message.correlation_id),
                routing_key=message.reply_to)

    await queue.consume(answer, no_ack=True)
    yield exchange_name, exchange
    await channel.exchange_delete(exchange_name)
    await connection.close()


async def test_rabbit_bus_round_trip_not_connected_and_timeout(
        rabbit_gateway: tuple[str, Any]) -> None:
    from save_server.infrastructure.commands.rabbitmq import RabbitCommandBus

    bus = RabbitCommandBus(AMQP_URL, rabbit_gateway[0])
    try:
        answer = await bus.send(request("CP-1"))
        assert (answer.outcome, answer.payload) == (CommandOutcome.ACCEPTED,
                                                    {"status": "Accepted"})
        started = time.monotonic()
        assert (await bus.send(request("CP-2"))).outcome == CommandOutcome.NOT_CONNECTED
        assert time.monotonic() - started < 1.0
        silent = CommandRequest(str(uuid.uuid4()), "CP-1", "reset", {"silent": True}, 0.3, "t")
        assert (await bus.send(silent)).outcome == CommandOutcome.TIMEOUT
        concurrent = await asyncio.gather(*(bus.send(request("CP-1")) for _ in range(20)))
        assert {a.outcome for a in concurrent} == {CommandOutcome.ACCEPTED}
    finally:
        await bus.close()


async def test_rabbit_bus_unreachable_broker_raises_unavailable() -> None:
    from save_server.domain.station_commands import CommandBusUnavailable
    from save_server.infrastructure.commands.rabbitmq import RabbitCommandBus

    bus = RabbitCommandBus("amqp://guest:guest@127.0.0.1:1/", "x", connect_timeout=1)
    with pytest.raises(CommandBusUnavailable):
        await bus.send(request("CP-1"))
