"""Notifier for RabbitMQ (aio-pika) with publisher confirms on a durable topic exchange."""

from __future__ import annotations

import asyncio
import contextlib

import aio_pika
import aiormq
import structlog
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection

from ocpp_events.domain.events import Event
from ocpp_events.domain.ports import Notifier, PublishFailed
from ocpp_events.infrastructure.amqp_connection import connect_until_set_up
from ocpp_events.infrastructure.tasks import cancel_and_wait

log = structlog.get_logger("ocpp_events.amqp")
PERSISTENT = int(aio_pika.DeliveryMode.PERSISTENT)


class AmqpNotifier(Notifier):
    """Publishes persistent JSON messages, routing key = event type, and waits for the ack.

    Connects in the background and keeps reconnecting (aio-pika's robust connection); while
    the broker is unreachable `publish` raises PublishFailed at once. With `require_routed`
    the publish is mandatory: an event no queue is bound for comes back and is not confirmed.
    """

    def __init__(self, url: str, exchange: str, require_routed: bool = True,
                 reconnect_interval: float = 1.0) -> None:
        self._url = url
        self._exchange_name = exchange
        self._require_routed = require_routed
        self._reconnect_interval = reconnect_interval
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._connecting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._connecting = asyncio.create_task(self._connect())

    async def wait_connected(self, timeout: float) -> bool:
        if self._connecting is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._connecting), timeout)
        return self.is_ready()

    async def _connect(self) -> None:
        self._connection, (self._channel, self._exchange) = await connect_until_set_up(
            self._url, self._reconnect_interval, self._set_up, "broker unreachable, retrying")
        log.info("connected to the broker", exchange=self._exchange_name)

    async def _set_up(self, connection: AbstractRobustConnection
                      ) -> tuple[AbstractChannel, AbstractExchange]:
        channel = await connection.channel(
            publisher_confirms=True, on_return_raises=self._require_routed)
        exchange = await channel.declare_exchange(
            self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
        return channel, exchange

    async def publish(self, event: Event) -> None:
        if self._exchange is None or self._channel is None or not self.is_ready():
            raise PublishFailed("not connected to the broker")
        # The AMQP properties are built directly (no aio_pika.Message per event) and the
        # frame goes straight to aiormq's channel: same bytes on the wire, less CPU per call.
        properties = aiormq.spec.Basic.Properties(
            content_type="application/json", delivery_mode=PERSISTENT,
            message_id=event.event_id, timestamp=event.received_at,
            headers={"charging_station_id": event.charging_station_id})
        try:
            channel = await self._channel.get_underlay_channel()
            # wait=False: hand the frame to the connection's writer and release the channel
            # lock at once. With aiormq's default (wait=True) every publish holds the lock
            # until the writer task has flushed its frame, so concurrent calls queue behind
            # each other one event-loop turn at a time (a convoy under load). Ordering is
            # kept by the writer's queue; the broker's confirm is still awaited below.
            confirmation = await channel.basic_publish(
                event.to_json(), exchange=self._exchange_name, routing_key=event.type,
                properties=properties, mandatory=self._require_routed, wait=False)
        except Exception as error:
            raise PublishFailed(repr(error)) from error
        if not isinstance(confirmation, aiormq.spec.Basic.Ack):
            raise PublishFailed(f"broker did not ack: {confirmation!r}")

    def is_ready(self) -> bool:
        return (self._connection is not None and not self._connection.is_closed
                and self._channel is not None and not self._channel.is_closed)

    async def close(self) -> None:
        if self._connecting is not None and not self._connecting.done():
            await cancel_and_wait(self._connecting)
        if self._connection is not None:
            await self._connection.close()
