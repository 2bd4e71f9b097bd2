"""What the gateways report about admissions, applied to the registry: an unregistered id that
tried to connect is listed for adoption (`ocpp-events.security.handshake-refused`, reason
`unknown-station`), and a station that connected with its new password no longer needs the
previous one (`ocpp-events.connect`, credential `password`). A queue of its own on the events
exchange; each message is acknowledged after its change committed."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

from save_server.domain.registry import SecurityEvent
from save_server.infrastructure.registry import consumers
from save_server.service.registry import RegistryService

THREAD = "save-server-registry-admissions"

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
        salt = payload.get("password_salt")
        registry.drop_previous_password(station_id, salt if isinstance(salt, str) else None)
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
    return consumers.serve_rabbitmq(url, exchange, queue, BINDINGS,
                                    lambda body: apply(registry, body), stop, THREAD)


def serve_embedded(broker: consumers.Broker, exchange: str, queue: str,
                   registry: RegistryService, stop: threading.Event) -> threading.Thread:
    return consumers.serve_embedded(broker, exchange, queue, BINDINGS,
                                    lambda body: apply(registry, body), stop, THREAD)
