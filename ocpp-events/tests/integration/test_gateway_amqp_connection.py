"""Opening a robust connection against the real RabbitMQ: a failed or cancelled set-up closes
its connection, so no aio-pika reconnection task outlives it."""

from __future__ import annotations

import asyncio
import contextlib
import os

import aiormq
import pytest

from ocpp_events.infrastructure.amqp_connection import connect_until_set_up

from ..conftest import connect_rabbitmq

pytestmark = pytest.mark.integration
AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


@pytest.fixture
async def broker() -> str:
    probe = await connect_rabbitmq(AMQP_URL)  # fails under CI=true when RabbitMQ is down
    await probe.close()
    return AMQP_URL


def other_tasks() -> list[asyncio.Task]:
    return [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]


async def test_a_set_up_cancelled_midway_leaves_no_task_behind(broker):
    opened = []
    waiting = asyncio.Event()

    async def set_up(connection):
        opened.append(connection)
        waiting.set()
        await asyncio.Event().wait()  # e.g. a declaration the broker never answers

    attempt = asyncio.create_task(connect_until_set_up(broker, 0.1, set_up, "unreachable"))
    await asyncio.wait_for(waiting.wait(), 10)
    attempt.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await attempt
    await asyncio.sleep(0.3)  # longer than the reconnect interval
    assert opened[0].is_closed
    assert other_tasks() == []


async def test_a_failed_set_up_closes_its_connection_and_is_retried(broker):
    opened = []

    async def set_up(connection):
        opened.append(connection)
        if len(opened) == 1:
            raise aiormq.exceptions.AMQPError("a declaration refused")
        return "set up"

    connection, result = await asyncio.wait_for(
        connect_until_set_up(broker, 0.05, set_up, "unreachable"), 10)
    try:
        assert result == "set up"
        assert opened == [opened[0], connection]
        assert opened[0].is_closed and not connection.is_closed
    finally:
        await connection.close()
    await asyncio.sleep(0.1)
    assert other_tasks() == []
