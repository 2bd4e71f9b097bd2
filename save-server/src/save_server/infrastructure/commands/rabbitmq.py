"""CommandBus over RabbitMQ: request/reply through the gateways' direct exchange.

A command is published to the durable DIRECT exchange `AMQP_COMMAND_EXCHANGE` with routing
key = station id, `mandatory` (no gateway bound for the station → returned → NOT_CONNECTED at
once), `reply_to` = this process's exclusive reply queue, `correlation_id` = command id and
`expiration` = the timeout (a command nobody took in time is dropped by the broker). The
connection is opened on first use, inside the API's event loop; the reply queue
`save-server.command-replies.<random>` is exclusive and auto-delete.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid

import aio_pika
import aiormq
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from save_server.domain.station_commands import (
    CommandAnswer,
    CommandBus,
    CommandBusUnavailable,
    CommandOutcome,
    CommandRequest,
)
from save_server.infrastructure.commands.replies import PendingReplies, request_body

log = structlog.get_logger("save_server.commands")


class RabbitCommandBus(CommandBus):
    def __init__(self, url: str, exchange: str, connect_timeout: float = 5.0) -> None:
        self._url = url
        self._exchange_name = exchange
        self._connect_timeout = connect_timeout
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._replies: AbstractQueue | None = None
        self._pending = PendingReplies()
        self._lock = asyncio.Lock()
        self.reply_queue = f"save-server.command-replies.{uuid.uuid4().hex[:12]}"

    async def _connect(self) -> None:
        async with self._lock:
            if self._exchange is not None and self._channel is not None \
                    and not self._channel.is_closed:
                return
            try:
                connection = await aio_pika.connect_robust(self._url,
                                                           timeout=self._connect_timeout)
                channel = await connection.channel(publisher_confirms=True,
                                                   on_return_raises=True)
                exchange = await channel.declare_exchange(
                    self._exchange_name, aio_pika.ExchangeType.DIRECT, durable=True)
                # named, so that the robust connection re-declares the same queue after a
                # broker reconnect (a server-named one would change name)
                replies = await channel.declare_queue(self.reply_queue, exclusive=True,
                                                      auto_delete=True)
                await replies.consume(self._on_reply, no_ack=True)
            except (OSError, aiormq.exceptions.AMQPError, ConnectionError,
                    TimeoutError) as error:
                raise CommandBusUnavailable(f"broker unreachable: {error!r}") from error
            self._connection, self._channel = connection, channel
            self._exchange, self._replies = exchange, replies
            log.info("command bus connected", exchange=self._exchange_name,
                     reply_queue=replies.name)

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        if message.correlation_id:
            self._pending.resolve(message.correlation_id, message.body)

    async def send(self, request: CommandRequest) -> CommandAnswer:
        await self._connect()
        assert self._exchange is not None and self._replies is not None
        waiting = self._pending.expect(request.command_id)
        try:
            message = aio_pika.Message(
                json.dumps(request_body(request)).encode(), content_type="application/json",
                correlation_id=request.command_id, reply_to=self._replies.name,
                expiration=request.timeout, message_id=request.command_id)
            try:
                await self._exchange.publish(message, routing_key=request.station_id,
                                             mandatory=True, timeout=request.timeout)
            except aiormq.exceptions.PublishError:  # returned: no gateway bound for the station
                return CommandAnswer(CommandOutcome.NOT_CONNECTED,
                                     error_description="not connected to any gateway")
            except (aiormq.exceptions.AMQPError, ConnectionError, TimeoutError) as error:
                raise CommandBusUnavailable(f"command not published: {error!r}") from error
            return await self._pending.wait(waiting, request.timeout)
        finally:
            self._pending.forget(request.command_id)

    async def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
