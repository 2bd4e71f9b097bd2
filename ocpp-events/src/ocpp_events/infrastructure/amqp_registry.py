"""The station registry fed from RabbitMQ (aio-pika).

Each gateway binds a queue of its own (exclusive, auto-delete: no leftovers when it dies) to
`station-registry.#` (and each feed's prefix, e.g. `id-tag-registry.#`) on the registry
exchange, then publishes `station-registry.snapshot-requested` (and each feed's request);
save-server answers with a whole-registry snapshot. The snapshot is asked again
after every reconnection, because changes published while this gateway was cut off went to a
queue that no longer existed. Until an answer comes the copy from the file is used: a gateway
restarted while save-server is down keeps admitting the stations it knew.
"""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
from collections.abc import Sequence
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection

from ocpp_events.infrastructure.amqp_connection import connect_until_set_up
from ocpp_events.infrastructure.registry_fed import (
    OFF_LOOP_BYTES,
    FileBackedRegistry,
    RegistryFeed,
)

log = structlog.get_logger("ocpp_events.registry.amqp")


class AmqpStationRegistry(FileBackedRegistry):
    def __init__(self, url: str, exchange: str, instance_id: str,
                 path: pathlib.Path | None, reconnect_interval: float = 1.0,
                 feeds: Sequence[RegistryFeed] = ()) -> None:
        super().__init__(path, instance_id, feeds)
        self._url, self._exchange_name = url, exchange
        self._reconnect_interval = reconnect_interval
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._connecting = asyncio.create_task(self._connect())

    async def wait_ready(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)
        return self.is_ready()

    def is_ready(self) -> bool:
        return (self._ready.is_set() and self._channel is not None
                and not self._channel.is_closed)

    async def _connect(self) -> None:
        connection, channel = await connect_until_set_up(
            self._url, self._reconnect_interval, self._set_up,
            "registry broker unreachable, retrying")
        self._connection, self._channel = connection, channel
        connection.reconnect_callbacks.add(self._on_reconnect)
        log.info("receiving registry changes", exchange=self._exchange_name)
        self._ready.set()
        await self._request_snapshot()

    async def _set_up(self, connection: AbstractRobustConnection) -> AbstractChannel:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for binding in self.bindings():
            await queue.bind(exchange, binding)
        await queue.consume(self._on_message)
        return channel

    def _on_reconnect(self, *_: Any) -> None:
        asyncio.get_running_loop().create_task(self._request_snapshot())

    async def _request_snapshot(self) -> None:
        if self._channel is None:
            return
        try:
            exchange = await self._channel.get_exchange(self._exchange_name, ensure=False)
            for routing_key, body in self.snapshot_requests():
                await exchange.publish(
                    aio_pika.Message(body, content_type="application/json"),
                    routing_key=routing_key)
        except Exception as error:  # the file's copy stays in use; asked again on reconnect
            log.warning("registry snapshot not requested", error=repr(error))

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        routing_key = message.routing_key or ""
        decoded = None
        if len(message.body) >= OFF_LOOP_BYTES:  # a big snapshot: parsed in a worker thread
            decoded = await asyncio.to_thread(self.decode_off_loop, routing_key, message.body)
        self.deliver(routing_key, message.body, decoded)
        await message.ack()

    async def close(self) -> None:
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
        await self.flush()
