"""Business-event publishers: RabbitMQ (pika, publisher confirms) and the in-process broker."""

from __future__ import annotations

from typing import Any, Protocol

import pika

from save_server.domain.ports import EventPublisher

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

    def publish(self, routing_key: str, body: bytes, event_id: str,
                charging_station_id: str | None = None) -> None:
        self._channel.basic_publish(
            exchange_for(routing_key, self._exchange, self._registry), routing_key, body,
            pika.BasicProperties(content_type="application/json", delivery_mode=PERSISTENT,
                                 message_id=event_id,
                                 headers={"charging_station_id": charging_station_id or ""}))

    def close(self) -> None:
        if self._connection.is_open:
            self._connection.close()


class Broker(Protocol):
    def publish(self, exchange: str, routing_key: str, body: bytes,
                headers: dict | None = None, properties: dict | None = None) -> Any: ...


class EmbeddedEventPublisher(EventPublisher):
    def __init__(self, broker: Broker, exchange: str, registry_exchange: str | None = None
                 ) -> None:
        self._broker, self._exchange, self._registry = broker, exchange, registry_exchange

    def publish(self, routing_key: str, body: bytes, event_id: str,
                charging_station_id: str | None = None) -> None:
        self._broker.publish(exchange_for(routing_key, self._exchange, self._registry),
                             routing_key, body,
                             headers={"charging_station_id": charging_station_id or ""},
                             properties={"message_id": event_id,
                                         "content_type": "application/json"})

    def close(self) -> None:
        pass
