"""What the gateways report about admissions, applied to the registry: an unregistered id that
tried to connect is listed for adoption (`ocpp-events.security.handshake-refused`, reason
`unknown-station`), and a station that connected with its new password no longer needs the
previous one (`ocpp-events.connect`, credential `password`). A queue of its own on the events
exchange; each message is acknowledged after its change committed."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any, Protocol

import pika
import structlog

from save_server.domain.registry import SecurityEvent
from save_server.service.registry import RegistryService

log = structlog.get_logger(__name__)

REFUSED = "ocpp-events.security.handshake-refused"
CONNECTED = "ocpp-events.connect"
REPORTED = "ocpp-events.security-event-notification"  # the station's own security events
BINDINGS = (REFUSED, CONNECTED, REPORTED)


def apply(registry: RegistryService, body: bytes) -> None:
    """One gateway event; malformed ones are ignored (they change nothing here)."""
    try:
        event = json.loads(body)
        payload = event.get("payload") or {}
        station_id = event["charging_station_id"]
        kind = event["type"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return
    if kind == REFUSED and payload.get("reason") == "unknown-station" and station_id:
        at = _time(event.get("received_at"))
        registry.record_unknown(str(event.get("event_id")), station_id, at,
                                payload.get("remote_address"),
                                tuple(payload.get("offered_subprotocols") or ()))
    elif kind == CONNECTED and payload.get("credential") == "password" and station_id:
        registry.drop_previous_password(station_id, "gateway")
    elif kind == REPORTED and station_id and isinstance(payload.get("type"), str):
        tech_info = payload.get("techInfo")
        registry.add_security_event(SecurityEvent(
            str(event.get("event_id")), station_id, payload["type"][:50],
            _time(payload.get("timestamp")), str(tech_info)[:255] if tech_info else None,
            _time(event.get("received_at"))))


def _time(text: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return datetime.now(UTC)


def serve_rabbitmq(url: str, exchange: str, queue: str, registry: RegistryService,
                   stop: threading.Event) -> threading.Thread:
    def run() -> None:
        while not stop.is_set():
            try:
                _consume(url, exchange, queue, registry, stop)
            except Exception as error:  # broker or database away: retry, nothing is acked
                log.warning("registry admissions: retrying", error=str(error))
                stop.wait(2.0)

    thread = threading.Thread(target=run, name="save-server-registry-admissions", daemon=True)
    thread.start()
    return thread


def _consume(url: str, exchange: str, queue: str, registry: RegistryService,
             stop: threading.Event) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.exchange_declare(exchange, "topic", durable=True)
        channel.queue_declare(queue, durable=True)
        for binding in BINDINGS:
            channel.queue_bind(queue, exchange, routing_key=binding)
        while not stop.is_set():
            method, _, body = channel.basic_get(queue)
            if method is None:
                connection.sleep(0.5)
                continue
            apply(registry, body)
            channel.basic_ack(method.delivery_tag)
    finally:
        if connection.is_open:
            connection.close()


class Broker(Protocol):
    def declare_queue(self, name: str, bindings: Any = (),
                      dead_letter_queue: str | None = None, durable: bool = False) -> None: ...

    def get(self, queue: str, timeout: float | None = None) -> Any: ...

    def ack(self, queue: str, message: Any) -> None: ...

    def nack(self, queue: str, message: Any, requeue: bool = True) -> None: ...


def serve_embedded(broker: Broker, exchange: str, queue: str, registry: RegistryService,
                   stop: threading.Event) -> threading.Thread:
    broker.declare_queue(queue, [(exchange, binding) for binding in BINDINGS], durable=True)

    def run() -> None:
        while not stop.is_set():
            message = broker.get(queue, timeout=0.5)
            if message is None:
                continue
            try:
                apply(registry, message.body)
            except Exception as error:
                log.warning("registry admissions: retrying", error=str(error))
                broker.nack(queue, message, requeue=True)
                stop.wait(1.0)
                continue
            broker.ack(queue, message)

    thread = threading.Thread(target=run, name="save-server-registry-admissions", daemon=True)
    thread.start()
    return thread
