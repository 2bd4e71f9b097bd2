"""The event envelope of docs/events.md (schema_version 1), built from what a station sent."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SCHEMA_VERSION = 1
TYPE_PREFIX = "ocpp-events."
CONNECT_TYPE = "ocpp-events.connect"
DISCONNECT_TYPE = "ocpp-events.disconnect"

# Word boundaries inside a CamelCase action: "NotifyEVChargingNeeds" -> Notify|EV|Charging|Needs.
_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_EXCEPTIONS = {"Heartbeat": "heart-beat"}  # kept from the thesis


def event_type_for(action: str) -> str:
    """`ocpp-events.` + the OCPP action in kebab-case (Heartbeat -> heart-beat)."""
    kebab = _EXCEPTIONS.get(action) or _WORD_BOUNDARY.sub("-", action).lower()
    return TYPE_PREFIX + kebab


def rfc3339(moment: datetime) -> str:
    """UTC RFC 3339 with a `Z`, microseconds kept; refuses naive datetimes."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: times inside the gateway are timezone-aware UTC")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Event:
    type: str
    charging_station_id: str
    ocpp_version: str | None  # None only for events about a refused handshake
    connection_id: str | None
    message_id: str | None
    action: str | None
    received_at: datetime
    payload: dict[str, Any]
    response: dict[str, Any] | None
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # How the id token of the call was answered (docs/events.md, "authorization"); only on
    # calls answered from the id tag registry copy.
    authorization: dict[str, Any] | None = None

    @classmethod
    def for_call(
        cls, *, station_id: str, ocpp_version: str, connection_id: str, message_id: str,
        action: str, received_at: datetime, payload: dict[str, Any],
        response: dict[str, Any] | None, authorization: dict[str, Any] | None = None,
    ) -> Event:
        return cls(event_type_for(action), station_id, ocpp_version, connection_id, message_id,
                   action, received_at, payload, response, authorization=authorization)

    @classmethod
    def connect(
        cls, *, station_id: str, ocpp_version: str, connection_id: str, at: datetime,
        replaced_connection_id: str | None, security_profile: int = 0,
        credential: str = "none", registered: bool = True, password_salt: str | None = None,
    ) -> Event:
        return cls(CONNECT_TYPE, station_id, ocpp_version, connection_id, None, None, at,
                   {"replaced_connection_id": replaced_connection_id,
                    "security_profile": security_profile, "credential": credential,
                    "password_salt": password_salt, "registered": registered}, None)

    @classmethod
    def disconnect(
        cls, *, station_id: str, ocpp_version: str, connection_id: str, at: datetime,
        close_code: int | None, reason: str | None,
    ) -> Event:
        return cls(DISCONNECT_TYPE, station_id, ocpp_version, connection_id, None, None, at,
                   {"close_code": close_code, "reason": reason}, None)

    def to_dict(self) -> dict[str, Any]:
        document = self._envelope()
        if self.authorization is not None:
            document["authorization"] = self.authorization
        return document

    def _envelope(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "type": self.type,
            "schema_version": SCHEMA_VERSION,
            "charging_station_id": self.charging_station_id,
            "ocpp_version": self.ocpp_version,
            "connection_id": self.connection_id,
            "message_id": self.message_id,
            "action": self.action,
            "received_at": rfc3339(self.received_at),
            "payload": self.payload,
            "response": self.response,
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False).encode()
