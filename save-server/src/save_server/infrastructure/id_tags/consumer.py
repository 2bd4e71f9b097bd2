"""What save-server takes from the gateways about id tags, on queues of its own:

- on the events exchange, `ocpp-events.authorize`, `start-transaction`, `stop-transaction`
  and `transaction-event` whose token was unknown to the gateway — the envelope's
  `authorization.known` is false, or, from a gateway without that field, the answer was
  `Invalid` (the gateways answer unknown tokens so): the token is listed, per station, for
  enrolment (counted once per event id); one answered `Accepted` only because the gateway
  lets unknown cards charge (`authorization.unknown_accepted`, the embedded `make run`
  default) is enrolled at once, as an active tag (`id-tags.tag-enrolled`, principal
  `gateway (unknown card accepted)`);
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
STOP = "ocpp-events.stop-transaction"
TRANSACTION = "ocpp-events.transaction-event"
EVENT_BINDINGS = (AUTHORIZE, START, STOP, TRANSACTION)
AUTO_ENROLLED_BY = "gateway (unknown card accepted)"
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
    """The token of an event whose token the gateway did not know, else None."""
    if event.get("type") not in EVENT_BINDINGS:
        return None
    token, status = presented_token(event)
    authorization = event.get("authorization")
    if isinstance(authorization, dict) and "known" in authorization:
        return token if token and authorization["known"] is False else None
    return token if token and status == UNKNOWN else None


def accepted_unknown(event: dict[str, Any]) -> tuple[str, str | None] | None:
    """(token, 2.0.1 token type) of a card the gateway let charge although unknown."""
    authorization = event.get("authorization")
    if not isinstance(authorization, dict) or authorization.get("unknown_accepted") is not True:
        return None
    token, _ = presented_token(event)
    if not token:
        return None
    presented = (event.get("payload") or {}).get("idToken")
    token_type = presented.get("type") if isinstance(presented, dict) else None
    return token, token_type if isinstance(token_type, str) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def apply_gateway_event(service: IdTagService, body: bytes) -> None:
    """Malformed events change nothing here (the main worker dead-letters them)."""
    try:
        event = json.loads(body)
        station_id = event["charging_station_id"]
    except (ValueError, KeyError, TypeError):
        return
    if not isinstance(event, dict) or not isinstance(station_id, str) or len(station_id) > 48:
        return
    accepted = accepted_unknown(event)
    if accepted is not None and service.auto_enroll(*accepted, by=AUTO_ENROLLED_BY):
        return
    token = unknown_token(event)
    if token and len(token) <= 36:
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
