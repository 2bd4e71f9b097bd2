"""Opening the gateway's RabbitMQ connections (aio-pika's robust connection), retried until
the broker answers and each connection's channels and declarations are set up.

A robust connection runs a reconnection task of its own, and that task swallows a
cancellation unless its connection was closed. So an attempt that fails, or is cancelled
(the gateway stopping, or failing to start), closes its connection: otherwise the task
outlives its owner and keeps the event loop from ever ending (a gateway whose port was taken
hung silently instead of exiting).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aio_pika
import aiormq
import structlog
from aio_pika.abc import AbstractRobustConnection
from aio_pika.connection import make_url

log = structlog.get_logger("ocpp_events.amqp")
SetUp = TypeVar("SetUp")
UNREACHABLE = (OSError, aiormq.exceptions.AMQPError, ConnectionError)


async def connect_until_set_up(
        url: str, reconnect_interval: float,
        set_up: Callable[[AbstractRobustConnection], Awaitable[SetUp]],
        unreachable_message: str) -> tuple[AbstractRobustConnection, SetUp]:
    """A robust connection with `set_up` (channels, declarations) done on it, and what
    `set_up` returned; retried every `reconnect_interval` while the broker is unreachable."""
    while True:
        try:
            return await _connect_and_set_up(url, reconnect_interval, set_up)
        except UNREACHABLE as error:
            log.warning(unreachable_message, error=repr(error))
            await asyncio.sleep(reconnect_interval)


async def _connect_and_set_up(
        url: str, reconnect_interval: float,
        set_up: Callable[[AbstractRobustConnection], Awaitable[SetUp]],
) -> tuple[AbstractRobustConnection, SetUp]:
    connection = aio_pika.RobustConnection(make_url(url, reconnect_interval=reconnect_interval))
    try:
        await connection.connect()
        return connection, await set_up(connection)
    except BaseException:
        with contextlib.suppress(Exception):
            await connection.close()
        raise
