"""Stored events and the rules for turning a received envelope into one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


class InvalidEvent(ValueError):
    """A message that can never be stored (not JSON, not an envelope): a poison message."""


class StoredEvent:
    """One event as kept: indexed fields on top, the whole envelope and raw body beside them.

    The envelope may be passed as None: it is then parsed from the raw body on first use, so
    a replay or a response that only re-sends the body never pays for `json.loads`."""

    __slots__ = ("_envelope", "body", "charging_station_id", "date", "event_id", "type")

    def __init__(self, event_id: str, type: str, date: datetime,
                 charging_station_id: str | None, envelope: dict[str, Any] | None,
                 body: bytes) -> None:
        self.event_id = event_id
        self.type = type
        self.date = date
        self.charging_station_id = charging_station_id
        self._envelope = envelope
        self.body = body

    @property
    def envelope(self) -> dict[str, Any]:
        if self._envelope is None:
            self._envelope = json.loads(self.body)
        return self._envelope

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StoredEvent):
            return NotImplemented
        return ((self.event_id, self.type, self.date, self.charging_station_id, self.body)
                == (other.event_id, other.type, other.date, other.charging_station_id,
                    other.body)) and self.envelope == other.envelope

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"StoredEvent(event_id={self.event_id!r}, type={self.type!r}, date={self.date!r},"
                f" charging_station_id={self.charging_station_id!r})")

    @property
    def routing_key(self) -> str:
        """Events are published with routing key = type (docs/events.md)."""
        return self.type

    def as_document(self) -> dict[str, Any]:
        """The public view: the envelope plus the top-level indexed fields."""
        return {
            **self.envelope,
            "event_id": self.event_id,
            "type": self.type,
            "date": format_date(self.date),
            "charging_station_id": self.charging_station_id,
            "payload": self.envelope.get("payload"),
        }

    def document_json(self) -> bytes:
        """`as_document()` as JSON. When the raw body already is that document except for
        `date` — a JSON object (checked at ingestion) with top-level `payload` and
        `charging_station_id` and no `date`, as the gateway publishes it — `date` is spliced
        in before its closing brace instead of parsing and re-serialising the envelope.

        Without a parsed envelope the keys are looked for in the raw bytes: any `"date"` key
        anywhere, or a missing `"payload"` / `"charging_station_id"`, takes the slow path."""
        body = self.body.rstrip()
        envelope = self._envelope
        if envelope is None:
            splice = (b'"date"' not in body and b'"payload"' in body
                      and b'"charging_station_id"' in body)
        else:
            splice = ("date" not in envelope and "payload" in envelope
                      and "charging_station_id" in envelope)
        if splice and body.endswith(b"}"):
            return b'%s,"date":"%s"}' % (body[:-1], format_date(self.date).encode())
        return json.dumps(self.as_document(), ensure_ascii=False,
                          separators=(",", ":")).encode()

# Retention deletes only the stations' traffic: business events (accounts, sites, registry,
# reports, the store's own records) are few and are what rebuilds state (and authenticates the
# API callers), so they are kept whatever the retention period.
EXPIRING_PREFIXES = ("ocpp-events.", "ocpp-commands.")


def expires(event_type: str) -> bool:
    return event_type.startswith(EXPIRING_PREFIXES)


def as_utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted to UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_date(text: str) -> datetime:
    """RFC 3339 (with `Z` or an offset) to an aware UTC datetime."""
    return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00")))


def format_date(moment: datetime) -> str:
    return as_utc(moment).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _required_text(envelope: dict[str, Any], name: str) -> str:
    value = envelope.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidEvent(f"field {name!r} must be a non-empty string")
    return value


def parse_event(body: bytes) -> StoredEvent:
    """Tolerant parse of an envelope: only what the store indexes is required."""
    try:
        envelope = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidEvent(f"body is not UTF-8 JSON: {error}") from error
    if not isinstance(envelope, dict):
        raise InvalidEvent("body is not a JSON object")
    event_id = _required_text(envelope, "event_id")
    event_type = _required_text(envelope, "type")
    received_at = _required_text(envelope, "received_at")
    try:
        date = parse_date(received_at)
    except ValueError as error:
        raise InvalidEvent(
            f"field 'received_at' is not an RFC 3339 date: {received_at!r}") from error
    station = envelope.get("charging_station_id")
    if station is not None and not isinstance(station, str):
        raise InvalidEvent("field 'charging_station_id' must be a string")
    return StoredEvent(event_id, event_type, date, station, envelope, bytes(body))
