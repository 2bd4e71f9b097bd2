"""Station registry events as save-server publishes them (docs/events.md), for the tests."""

from __future__ import annotations

import hashlib
import itertools
import os
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

_revisions = itertools.count(int.from_bytes(os.urandom(3)) + 1)


def new_password() -> str:
    """What save-server generates: 128 bits of entropy, 32 hex characters (16-40 allowed)."""
    return secrets.token_hex(16)


def password_entry(password: str, valid_until: datetime | None = None) -> dict[str, Any]:
    salt = os.urandom(16)
    return {"algorithm": "sha256-salted", "salt": salt.hex(),
            "hash": hashlib.sha256(salt + password.encode()).hexdigest(),
            "valid_until": valid_until.isoformat().replace("+00:00", "Z") if valid_until
            else None}


def station(station_id: str, profile: int, passwords: list[dict[str, Any]] | None = None,
            *, enabled: bool = True, ocpp_version: str | None = None,
            organization: str | None = None) -> dict[str, Any]:
    return {"charging_station_id": station_id, "security_profile": profile,
            "enabled": enabled, "ocpp_version": ocpp_version,
            "passwords": passwords or [], "certificate": {"organization": organization}}


def envelope(event_type: str, station_id: str | None, payload: dict[str, Any],
             revision: int | None = None) -> dict[str, Any]:
    event = {"event_id": str(uuid.uuid4()), "type": event_type, "schema_version": 1,
             "charging_station_id": station_id,
             "received_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
             "payload": payload}
    if revision is not None:
        event["revision"] = revision
    return event


def next_revision() -> int:
    return next(_revisions)


def registered(station_id: str, profile: int, *passwords: dict[str, Any],
               kind: str = "station-registered", revision: int | None = None,
               **options: Any) -> dict[str, Any]:
    return envelope(f"station-registry.{kind}", station_id,
                    station(station_id, profile, list(passwords), **options),
                    revision or next_revision())


def deregistered(station_id: str, revision: int | None = None) -> dict[str, Any]:
    return envelope("station-registry.station-deregistered", station_id, {},
                    revision or next_revision())


def snapshot(stations: list[dict[str, Any]], revision: int) -> dict[str, Any]:
    return envelope("station-registry.snapshot", None,
                    {"requested_by": None, "stations": stations}, revision)
