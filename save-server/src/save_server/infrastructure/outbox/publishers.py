"""Business-event publishers: RabbitMQ (pika, publisher confirms) and the in-process broker."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any, Protocol

import pika
from pika.adapters.blocking_connection import BlockingChannel

from save_server.domain.ports import EventPublisher, OutgoingEvent

PERSISTENT = 2


REGISTRY_PREFIX = "station-registry."
REGISTRY_PREFIXES = (REGISTRY_PREFIX, "id-tag-registry.")  # the gateways' copies


def exchange_for(routing_key: str, events: str, registry: str | None) -> str:
    """Registry events (stations, id tags) go to the gateways' registry exchange
    (docs/events.md), the rest to the events exchange."""
    return registry if registry and routing_key.startswith(REGISTRY_PREFIXES) else events


class RabbitEventPublisher(EventPublisher):
    """One blocking connection with confirms; `publish` returns after the broker's ack."""

    def __init__(self, url: str, exchange: str, registry_exchange: str | None = None) -> None:
        self._exchange, self._registry = exchange, registry_exchange
        self._connection = pika.BlockingConnection(pika.URLParameters(url))
        self._channel = self._connection.channel()
        for name in filter(None, (exchange, registry_exchange)):
            self._channel.exchange_declare(name, "topic", durable=True)
        self._channel.confirm_delivery()
        self._batches: BlockingChannel | None = None  # transactional: see publish_many

    def publish(self, routing_key: str, body: bytes, event_id: str,
                charging_station_id: str | None = None) -> None:
        self._put(self._channel, OutgoingEvent(routing_key, body, event_id,
                                               charging_station_id))

    def publish_many(self, events: Sequence[OutgoingEvent]) -> None:
        """On a transactional channel of its own (a channel is either confirming or
        transactional): RabbitMQ takes responsibility for, and persists, every message
        published in the transaction when it answers the commit — one round trip for the
        batch instead of one confirm each."""
        if self._batches is None or not self._batches.is_open:
            self._batches = self._connection.channel()
            self._batches.tx_select()
        for event in events:
            self._put(self._batches, event)
        self._batches.tx_commit()

    def _put(self, channel: BlockingChannel, event: OutgoingEvent) -> None:
        channel.basic_publish(
            exchange_for(event.routing_key, self._exchange, self._registry), event.routing_key,
            event.body,
            pika.BasicProperties(content_type="application/json", delivery_mode=PERSISTENT,
                                 message_id=event.event_id, headers={
                                     "charging_station_id": event.charging_station_id or ""}))

    def close(self) -> None:
        if self._connection.is_open:
            self._connection.close()


class Broker(Protocol):
    def publish(self, exchange: str, routing_key: str, body: bytes,
                headers: dict | None = None, properties: dict | None = None) -> Any: ...

    def publish_future(self, exchange: str, routing_key: str, body: bytes,
                       headers: dict | None = None, properties: dict | None = None
                       ) -> Future[int]: ...


class EmbeddedEventPublisher(EventPublisher):
    def __init__(self, broker: Broker, exchange: str, registry_exchange: str | None = None
                 ) -> None:
        self._broker, self._exchange, self._registry = broker, exchange, registry_exchange

    def publish(self, routing_key: str, body: bytes, event_id: str,
                charging_station_id: str | None = None) -> None:
        self._put(OutgoingEvent(routing_key, body, event_id, charging_station_id)).result()

    def publish_many(self, events: Sequence[OutgoingEvent]) -> None:
        """All handed to the journal before waiting: it commits them together."""
        for confirmed in [self._put(event) for event in events]:
            confirmed.result()

    def _put(self, event: OutgoingEvent) -> Future[int]:
        return self._broker.publish_future(
            exchange_for(event.routing_key, self._exchange, self._registry),
            event.routing_key, event.body,
            headers={"charging_station_id": event.charging_station_id or ""},
            properties={"message_id": event.event_id, "content_type": "application/json"})

    def close(self) -> None:
        pass
