"""What can be asked of the store: filters, keyset cursors, statistics."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field, replace
from datetime import datetime

from event_store.domain.events import StoredEvent, as_utc, format_date, parse_date


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class Cursor:
    """Position after the last event of a page; events are ordered by (date, event_id)."""

    date: datetime
    event_id: str

    @classmethod
    def after_event(cls, event: StoredEvent) -> Cursor:
        return cls(event.date, event.event_id)

    def encode(self) -> str:
        raw = f"{format_date(self.date)}|{self.event_id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            date_text, event_id = raw.split("|", 1)
            return cls(parse_date(date_text), event_id)
        except (binascii.Error, UnicodeDecodeError, ValueError) as error:
            raise InvalidCursor(f"not a cursor of this API: {token!r}") from error


@dataclass(frozen=True)
class EventQuery:
    """Filters of `GET /events` and of a replay; dates are inclusive, UTC."""

    start_date: datetime | None = None
    end_date: datetime | None = None
    types: tuple[str, ...] = ()
    charging_station_id: str | None = None
    after: Cursor | None = None
    limit: int = 100

    def __post_init__(self) -> None:
        if self.start_date is not None:
            object.__setattr__(self, "start_date", as_utc(self.start_date))
        if self.end_date is not None:
            object.__setattr__(self, "end_date", as_utc(self.end_date))
        if self.limit < 1:
            raise ValueError("limit must be at least 1")

    def next_page(self, last: StoredEvent) -> EventQuery:
        return replace(self, after=Cursor.after_event(last))


@dataclass(frozen=True)
class EventStats:
    """Counts for a date range: in total, per type, per UTC day (`YYYY-MM-DD`)."""

    total: int
    by_type: dict[str, int] = field(default_factory=dict)
    by_day: dict[str, int] = field(default_factory=dict)
