"""Remote command messages on the broker (docs/commands.md) and the `ocpp-commands.<command>`
events that record a command and its outcome (docs/events.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ocpp_events.domain.events import Event, rfc3339

if TYPE_CHECKING:
    from ocpp.messages import Call

COMMAND_TYPE_PREFIX = "ocpp-commands."
DEFAULT_TIMEOUT = 30.0


class InvalidCommandMessage(ValueError):
    """The broker message is not a command request (dropped, logged)."""


@dataclass(frozen=True)
class CommandRequest:
    command_id: str
    charging_station_id: str
    command: str
    parameters: dict[str, Any]
    timeout: float = DEFAULT_TIMEOUT
    requested_by: str | None = None

    @classmethod
    def from_json(cls, body: bytes) -> CommandRequest:
        try:
            document = json.loads(body)
            request = cls(str(document["command_id"]), str(document["charging_station_id"]),
                       str(document["command"]), dict(document.get("parameters") or {}),
                       float(document.get("timeout", DEFAULT_TIMEOUT)),
                       document.get("requested_by"))
            if not request.timeout > 0:
                raise ValueError("timeout must be positive")
            return request
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise InvalidCommandMessage(repr(error)) from error


@dataclass(frozen=True)
class CommandReply:
    command_id: str
    outcome: str  # accepted | rejected | call_error | timeout | unsupported | not_connected
    payload: dict[str, Any] | None = None
    error_code: str | None = None
    error_description: str | None = None
    ocpp_version: str | None = None
    action: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps({
            "command_id": self.command_id, "outcome": self.outcome, "payload": self.payload,
            "error_code": self.error_code, "error_description": self.error_description,
            "ocpp_version": self.ocpp_version, "action": self.action, **self.extra,
        }, separators=(",", ":")).encode()


@dataclass(frozen=True)
class CommandEvent(Event):
    """The envelope of docs/events.md plus a `command` object.

    `message_id`/`action`/`payload` are those of the OCPP call sent to the station (null / {}
    when none was sent), `response` its CallResult payload (null otherwise), `received_at`
    when the outcome was known.
    """

    command: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, *, request: CommandRequest, reply: CommandReply, connection_id: str,
           call: Call | None, sent_at: datetime, answered_at: datetime, latency: float,
           instance_id: str) -> CommandEvent:
        return cls(
            type=COMMAND_TYPE_PREFIX + request.command,
            charging_station_id=request.charging_station_id,
            ocpp_version=reply.ocpp_version or "",
            connection_id=connection_id,
            message_id=call.unique_id if call else None,
            action=call.action if call else None,
            received_at=answered_at,
            payload=call.payload if call else {},
            response=reply.payload if reply.outcome in ("accepted", "rejected") else None,
            command={
                "command_id": request.command_id, "name": request.command,
                "parameters": request.parameters, "requested_by": request.requested_by,
                "sent_at": rfc3339(sent_at), "outcome": reply.outcome,
                "error_code": reply.error_code, "error_description": reply.error_description,
                "latency_ms": round(latency * 1000, 3), "gateway_instance": instance_id,
            })

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "command": self.command}
