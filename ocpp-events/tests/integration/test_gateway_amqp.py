"""AmqpNotifier against the real RabbitMQ: confirmed before the answer; broker down -> retry."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import uuid
from datetime import UTC, datetime

import aio_pika
import pytest
from websockets.asyncio.client import connect

from ocpp_events.domain.events import Event
from ocpp_events.infrastructure.amqp_notifier import AmqpNotifier

from ..conftest import connect_rabbitmq

pytestmark = pytest.mark.integration
AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


@pytest.fixture
async def rabbit():
    connection = await connect_rabbitmq(AMQP_URL)
    channel = await connection.channel()
    exchange_name = f"test-ocpp-events-{uuid.uuid4().hex[:12]}"
    yield channel, exchange_name
    await channel.exchange_delete(exchange_name)
    await connection.close()


async def bound_queue(channel, exchange_name: str):
    exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC,
                                              durable=True)
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, "#")
    return queue


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_event_is_on_the_broker_before_the_station_gets_its_answer(
        rabbit, make_gateway, station_id):
    channel, exchange_name = rabbit
    queue = await bound_queue(channel, exchange_name)
    notifier = AmqpNotifier(AMQP_URL, exchange_name)
    gateway = await make_gateway(notifier)
    assert await notifier.wait_connected(5)
    async with connect(f"ws://127.0.0.1:{gateway.ocpp.port}/ocpp/{station_id}",
                       subprotocols=["ocpp1.6"]) as ws:
        await ws.send(json.dumps([2, "boot-1", "BootNotification",
                                  {"chargePointVendor": "V", "chargePointModel": "M"}]))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        # The answer is in our hands: the event must already be in the queue (after the
        # connection's own `connect` event).
        message = await queue.get(no_ack=True, fail=False)
        if message is not None and json.loads(message.body)["type"] == "ocpp-events.connect":
            message = await queue.get(no_ack=True, fail=False)
    assert reply[0] == 3
    assert message is not None, "answer arrived before the event was on the broker"
    body = json.loads(message.body)
    assert body["message_id"] == "boot-1"
    assert body["response"] == reply[2]
    assert message.routing_key == "ocpp-events.boot-notification"
    assert message.content_type == "application/json"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.message_id == body["event_id"]
    assert message.headers["charging_station_id"] == station_id


async def test_concurrent_publishes_reach_the_writer_together_and_are_all_confirmed(rabbit):
    """No convoy: a publish does not hold the channel for the writer's flush of its frame.
    (aiormq's default holds the channel lock until each frame is flushed, so every call waits
    about three event-loop turns for each call published before it.)"""
    channel, exchange_name = rabbit
    queue = await bound_queue(channel, exchange_name)
    notifier = AmqpNotifier(AMQP_URL, exchange_name)
    await notifier.start()
    assert await notifier.wait_connected(5)
    underlay = await notifier._channel.get_underlay_channel()
    tags_before = underlay.delivery_tag
    events = [Event.for_call(
        station_id=f"CP-{n}", ocpp_version="ocpp1.6", connection_id="c", message_id=str(n),
        action="Heartbeat", received_at=datetime.now(UTC), payload={}, response={})
        for n in range(200)]
    publishes = [asyncio.create_task(notifier.publish(event)) for event in events]
    loop_turns = 0
    while underlay.delivery_tag - tags_before < len(events) and loop_turns < 1000:
        await asyncio.sleep(0)
        loop_turns += 1
    await asyncio.wait_for(asyncio.gather(*publishes), 10)
    await notifier.close()
    # Holding the lock until each flush costs about 3 loop turns per publish; handing frames
    # over costs at most one (aiormq's 10-frame write buffer then paces it).
    assert loop_turns <= len(events) * 3 // 2
    received = []
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        received.append(json.loads(message.body)["event_id"])
    assert received == [event.event_id for event in events]  # in publish order


async def test_unroutable_event_is_not_confirmed(rabbit, make_gateway, station_id):
    channel, exchange_name = rabbit
    await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
    notifier = AmqpNotifier(AMQP_URL, exchange_name)  # exchange with no queue bound
    gateway = await make_gateway(notifier)
    assert await notifier.wait_connected(5)
    async with connect(f"ws://127.0.0.1:{gateway.ocpp.port}/ocpp/{station_id}",
                       subprotocols=["ocpp1.6"]) as ws:
        await ws.send('[2,"1","Heartbeat",{}]')
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert reply[:3] == [4, "1", "InternalError"]


async def test_broker_unreachable_answers_internal_error_and_keeps_station_connected(
        make_gateway, station_id):
    notifier = AmqpNotifier(f"amqp://guest:guest@127.0.0.1:{closed_port()}/", "unused")
    gateway = await make_gateway(notifier)
    async with connect(f"ws://127.0.0.1:{gateway.ocpp.port}/ocpp/{station_id}",
                       subprotocols=["ocpp1.6"]) as ws:
        for unique_id in ("1", "2"):
            await ws.send(json.dumps([2, unique_id, "Heartbeat", {}]))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert reply[:3] == [4, unique_id, "InternalError"]
        assert len(gateway.ocpp.registry) == 1
    assert not notifier.is_ready()
