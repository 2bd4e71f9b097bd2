"""Remote commands from RabbitMQ: one exclusive queue per gateway instance, bound per station.

The durable DIRECT exchange `AMQP_COMMAND_EXCHANGE` routes a command by station id to the
queue of the instance holding that station's websocket. The queue is exclusive and
auto-delete: when the instance dies its bindings vanish, so a command to one of its stations
is unroutable and the requester (publishing with `mandatory`) learns at once that the station
is not connected. Commands are consumed without acknowledgement (at most once: a reset is
never sent twice); replies go to the requester's `reply_to` queue with its `correlation_id`.
"""

from __future__ import annotations

import asyncio
import contextlib

import aio_pika
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from ocpp_events.domain.command_events import CommandRequest, InvalidCommandMessage
from ocpp_events.domain.ports import CommandHandler, CommandInbox
from ocpp_events.infrastructure.amqp_connection import connect_until_set_up

log = structlog.get_logger("ocpp_events.commands.amqp")


def queue_name(instance_id: str) -> str:
    return f"ocpp-commands.gateway.{instance_id}"


def parse_request(body: bytes) -> CommandRequest | None:
    """The command request a message carries, or None (logged) when it is not one."""
    try:
        return CommandRequest.from_json(body)
    except InvalidCommandMessage as error:
        log.warning("not a command request; dropped", error=str(error))
        return None


class AmqpCommandInbox(CommandInbox):
    def __init__(self, url: str, exchange: str, instance_id: str,
                 reconnect_interval: float = 1.0) -> None:
        self._url = url
        self._exchange_name = exchange
        self.queue_name = queue_name(instance_id)
        self._reconnect_interval = reconnect_interval
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._queue: AbstractQueue | None = None
        self._handle: CommandHandler | None = None
        self._wanted: set[str] = set()  # stations that should be bound
        self._bound: set[str] = set()
        self._changes: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._ready = asyncio.Event()

    async def start(self, handle: CommandHandler) -> None:
        self._handle = handle
        self._spawn(self._connect_and_bind())

    async def wait_ready(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)
        return self._ready.is_set()

    def is_ready(self) -> bool:
        return (self._ready.is_set() and self._channel is not None
                and not self._channel.is_closed)

    def station_connected(self, station_id: str) -> None:
        self._wanted.add(station_id)
        self._changes.put_nowait(station_id)

    def station_disconnected(self, station_id: str) -> None:
        self._wanted.discard(station_id)
        self._changes.put_nowait(station_id)

    async def _set_up(self, connection: AbstractRobustConnection) -> AbstractChannel:
        channel = await connection.channel()
        self._exchange = await channel.declare_exchange(
            self._exchange_name, aio_pika.ExchangeType.DIRECT, durable=True)
        self._queue = await channel.declare_queue(
            self.queue_name, exclusive=True, auto_delete=True)
        await self._queue.consume(self._on_message, no_ack=True)
        return channel

    async def _connect_and_bind(self) -> None:
        self._connection, self._channel = await connect_until_set_up(
            self._url, self._reconnect_interval, self._set_up,
            "command broker unreachable, retrying")
        log.info("receiving commands", exchange=self._exchange_name, queue=self.queue_name)
        for station_id in list(self._wanted):
            self._changes.put_nowait(station_id)
        self._ready.set()
        while True:  # apply binding changes one at a time, in order
            station_id = await self._changes.get()
            try:
                await self._apply(station_id)
            except Exception as error:  # the robust connection restores bindings it knows
                log.warning("binding change failed", charging_station_id=station_id,
                            error=repr(error))

    async def _apply(self, station_id: str) -> None:
        assert self._queue is not None and self._exchange is not None
        if station_id in self._wanted and station_id not in self._bound:
            await self._queue.bind(self._exchange, routing_key=station_id)
            self._bound.add(station_id)
        elif station_id not in self._wanted and station_id in self._bound:
            await self._queue.unbind(self._exchange, routing_key=station_id)
            self._bound.discard(station_id)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._spawn(self._run(message))

    async def _run(self, message: AbstractIncomingMessage) -> None:
        assert self._handle is not None
        if (request := parse_request(message.body)) is None:
            return
        try:
            reply = await self._handle(request)
        except Exception:  # a bug: logged here, the requester times out
            log.exception("command failed", command_id=request.command_id)
            return
        if reply is None:  # a binding left over (e.g. an unbind lost in a broker outage)
            log.info("command for a station not connected here; dropped",
                     charging_station_id=request.charging_station_id)
            self._changes.put_nowait(request.charging_station_id)  # re-check: unbind
            return
        if not message.reply_to or self._channel is None:
            return
        try:
            await self._channel.default_exchange.publish(
                aio_pika.Message(reply.to_json(), content_type="application/json",
                                 correlation_id=message.correlation_id),
                routing_key=message.reply_to)
        except Exception as error:
            log.warning("command reply not sent", command_id=request.command_id,
                        error=repr(error))

    def _spawn(self, work: object) -> None:
        task = asyncio.create_task(work)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
