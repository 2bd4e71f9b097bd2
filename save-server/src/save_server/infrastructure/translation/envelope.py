"""The event envelope as this service reads it: tolerant (unknown fields ignored), but strict
about what it needs. Anything that fails here is a poison message."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from save_server.infrastructure.projections import PROJECTED_TYPES


class PoisonMessage(ValueError):
    """The message can never be handled: it goes to the dead-letter queue with this reason."""

    def __init__(self, reason: str, event_id: str | None = None,
                 event_type: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.event_id = event_id
        self.event_type = event_type  # when the body names one (it may be another family's)


class Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: UUID
    type: str
    charging_station_id: Annotated[str, Field(max_length=48)]
    ocpp_version: str
    connection_id: Annotated[str, Field(max_length=64)]
    received_at: AwareDatetime
    payload: dict[str, Any]
    response: dict[str, Any] | None = None

    @field_validator("received_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @field_validator("charging_station_id", "connection_id", "type")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value:
            raise ValueError("must not be empty")
        return value


class BusinessEnvelope(BaseModel):
    """A change an operator made (docs/events.md, business events), for the types this
    service applies back to itself in a replay."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: UUID
    type: str
    charging_station_id: Annotated[str, Field(min_length=1, max_length=48)] | None = None
    received_at: AwareDatetime
    payload: dict[str, Any]

    @field_validator("received_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


STATION_DETAILS_CHANGED = "stations.details-changed"
# the operators' station data, and every family of infrastructure/projections
BUSINESS_TYPES = frozenset({STATION_DETAILS_CHANGED}) | PROJECTED_TYPES


def parse_envelope(body: bytes) -> Envelope | BusinessEnvelope:
    try:  # the usual case in one step: pydantic parses and validates the bytes
        return Envelope.model_validate_json(body)
    except ValueError:
        pass  # a poison message (or JSON only `json` reads): the reason, as `json` sees it
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PoisonMessage(f"body is not JSON: {error}") from error
    event_id = document.get("event_id") if isinstance(document, dict) else None
    event_type = document.get("type") if isinstance(document, dict) else None
    model = BusinessEnvelope if event_type in BUSINESS_TYPES else Envelope
    try:
        return model.model_validate(document)
    except ValueError as error:
        raise PoisonMessage(f"invalid envelope: {error}", str(event_id),
                            event_type if isinstance(event_type, str) else None) from error
