"""Remote commands sent to a station: what was asked, by whom, and how it ended.

No OCPP here: a command is a name with version-neutral parameters; the gateway translates it
(docs/commands.md). Ports: `CommandBus` (send and await the station's answer) and `CommandLog`
(the history shown by `GET /charging-stations/{id}/commands`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class CommandOutcome(StrEnum):
    ACCEPTED = "accepted"  # the station answered and accepted (or just answered)
    REJECTED = "rejected"  # the station answered with a refusing status
    CALL_ERROR = "call_error"  # the station answered with an OCPP CallError
    TIMEOUT = "timeout"  # no answer within the timeout
    UNSUPPORTED = "unsupported"  # the station's OCPP version has no such command / value
    NOT_CONNECTED = "not_connected"  # no gateway holds the station's connection


@dataclass(frozen=True)
class CommandRequest:
    command_id: str
    station_id: str
    command: str
    parameters: dict[str, Any]
    timeout: float
    requested_by: str


@dataclass(frozen=True)
class CommandAnswer:
    """What came back from the gateway (or the bus itself, for timeout / not connected)."""

    outcome: CommandOutcome
    payload: dict[str, Any] | None = None
    error_code: str | None = None
    error_description: str | None = None
    ocpp_version: str | None = None
    action: str | None = None


@dataclass(frozen=True)
class CommandRecord:
    command_id: str
    station_id: str
    command: str
    parameters: dict[str, Any]
    requested_by: str
    requested_at: datetime
    outcome: CommandOutcome
    answered_at: datetime | None = None
    payload: dict[str, Any] | None = None
    error_code: str | None = None
    error_description: str | None = None
    latency_ms: float | None = None
    ocpp_version: str | None = None
    action: str | None = None

    @property
    def status(self) -> str | None:
        """The charger's `status` field, when its answer has one."""
        value = (self.payload or {}).get("status")
        return value if isinstance(value, str) else None


class CommandBusUnavailable(RuntimeError):
    """The broker cannot be reached (or is not configured): nothing was sent."""


class CommandBus(ABC):
    """Sends a command to whichever gateway holds the station and awaits the answer."""

    @abstractmethod
    async def send(self, request: CommandRequest) -> CommandAnswer:
        """NOT_CONNECTED at once when no gateway holds the station, TIMEOUT after
        `request.timeout` s without an answer; raises CommandBusUnavailable."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release the broker connection."""


class CommandLog(ABC):
    @abstractmethod
    def station_known(self, station_id: str) -> bool:
        """Whether the station was ever heard of (a cheap check before sending)."""

    @abstractmethod
    def add(self, record: CommandRecord) -> None: ...

    def add_many(self, records: Sequence[CommandRecord]) -> None:
        """Several at once (an adapter may write them in one transaction)."""
        for record in records:
            self.add(record)

    @abstractmethod
    def list(self, station_id: str, limit: int) -> list[CommandRecord]:
        """Newest first."""
