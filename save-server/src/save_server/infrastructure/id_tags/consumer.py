"""What save-server takes from the gateways about id tags, on queues of its own:

- on the events exchange, `ocpp-events.authorize`, `start-transaction` and
  `transaction-event` answered `Invalid` (the gateways answer unknown tokens so): the token is
  listed, per station, for enrolment (counted once per event id);
- on the registry exchange, `id-tag-registry.snapshot-requested` from a (re)started gateway:
  answered with one `id-tag-registry.snapshot` (through the outbox).

Each message is acknowledged after its change committed (infrastructure/registry/consumers)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

from save_server.infrastructure.registry import consumers
from save_server.service.id_tags import IdTagService

SEEN = "save-server-id-tag-events"
REQUESTS = "save-server-id-tag-snapshots"
AUTHORIZE = "ocpp-events.authorize"
START = "ocpp-events.start-transaction"
TRANSACTION = "ocpp-events.transaction-event"
EVENT_BINDINGS = (AUTHORIZE, START, TRANSACTION)
SNAPSHOT_REQUESTED = "id-tag-registry.snapshot-requested"
UNKNOWN = "Invalid"


def presented_token(event: dict[str, Any]) -> tuple[str | None, str | None]:
    """(token, answered status) of an authorize / start / transaction event, either version."""
    payload, response = event.get("payload") or {}, event.get("response") or {}
    if "idTag" in payload:  # 1.6
        info = response.get("idTagInfo") or {}
        return _text(payload.get("idTag")), _text(info.get("status"))
    token = payload.get("idToken")
    if isinstance(token, dict):  # 2.0.1
        info = response.get("idTokenInfo") or {}
        return _text(token.get("idToken")), _text(info.get("status"))
    return None, None


def unknown_token(event: dict[str, Any]) -> str | None:
    """The token of an event the gateway answered `Invalid` (unknown), else None."""
    if event.get("type") not in EVENT_BINDINGS:
        return None
    token, status = presented_token(event)
    return token if token and status == UNKNOWN else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def apply_gateway_event(service: IdTagService, body: bytes) -> None:
    """Malformed events change nothing here (the main worker dead-letters them)."""
    try:
        event = json.loads(body)
        station_id = event["charging_station_id"]
    except (ValueError, KeyError, TypeError):
        return
    token = unknown_token(event) if isinstance(event, dict) else None
    if token and isinstance(station_id, str) and len(token) <= 36 and len(station_id) <= 48:
        service.record_unknown(str(event.get("event_id")), token, station_id,
                               _time(event.get("received_at")))


def requester(body: bytes) -> str | None:
    try:
        value = (json.loads(body).get("payload") or {}).get("gateway_instance")
    except (ValueError, AttributeError):
        return None  # a malformed request still gets a snapshot: it is harmless
    return str(value) if value is not None else None


def _time(text: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return datetime.now(UTC)


def serve_rabbitmq(url: str, exchange: str, registry_exchange: str, queue: str,
                   service: IdTagService, stop: threading.Event) -> list[threading.Thread]:
    return [
        consumers.serve_rabbitmq(url, exchange, f"{queue}.id-tag-events", EVENT_BINDINGS,
                                 lambda body: apply_gateway_event(service, body), stop, SEEN),
        consumers.serve_rabbitmq(url, registry_exchange, f"{queue}.id-tag-requests",
                                 (SNAPSHOT_REQUESTED,),
                                 lambda body: service.publish_snapshot(requester(body)),
                                 stop, REQUESTS)]


def serve_embedded(broker: consumers.Broker, exchange: str, registry_exchange: str,
                   queue: str, service: IdTagService,
                   stop: threading.Event) -> list[threading.Thread]:
    return [
        consumers.serve_embedded(broker, exchange, f"{queue}.id-tag-events", EVENT_BINDINGS,
                                 lambda body: apply_gateway_event(service, body), stop, SEEN),
        consumers.serve_embedded(broker, registry_exchange, f"{queue}.id-tag-requests",
                                 (SNAPSHOT_REQUESTED,),
                                 lambda body: service.publish_snapshot(requester(body)),
                                 stop, REQUESTS)]


def queues(queue: str) -> tuple[str, str]:
    """The queues these consumers take from (the embedded launcher drains them at a stop)."""
    return f"{queue}.id-tag-events", f"{queue}.id-tag-requests"
