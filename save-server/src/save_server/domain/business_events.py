"""A change of business state made by someone (an operator, a script, the platform's setup):
kept by the event store, published through the outbox in the change's own transaction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class BusinessEvent:
    """A change of business state, kept by the event store (docs/events.md, business events)."""

    type: str
    payload: Mapping[str, Any]
    principal: str | None
    charging_station_id: str | None = None
    event_id: str = ""
    occurred_at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
