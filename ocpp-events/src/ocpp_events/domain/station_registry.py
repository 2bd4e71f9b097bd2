"""The gateway's copy of the station registry, kept from `station-registry.*` events.

save-server owns the registry; it publishes one event per change (docs/events.md, "Station
registry events"), each carrying the station's whole admission state and a `revision` that
grows across the whole registry (save-server's outbox sequence). Applying an event is
last-writer-wins per station by revision, so redelivered, replayed and out-of-order copies are
harmless; a deregistration leaves a tombstone so that an older update cannot bring the station
back. A snapshot (the whole registry at one revision) also removes what it does not list,
unless the gateway already saw a newer change for it.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ocpp_events.domain.registry_fields import (
    InvalidRegistryEvent,
    item_revision,
    required_text,
)

REGISTERED = "station-registry.station-registered"
UPDATED = "station-registry.station-updated"
PASSWORD_CHANGED = "station-registry.password-changed"
DEREGISTERED = "station-registry.station-deregistered"
SNAPSHOT = "station-registry.snapshot"
SNAPSHOT_REQUESTED = "station-registry.snapshot-requested"
STATE_EVENTS = frozenset({REGISTERED, UPDATED, PASSWORD_CHANGED})
PASSWORD_ALGORITHM = "sha256-salted"


@dataclass(frozen=True)
class PasswordHash:
    """One accepted password: hex SHA-256 of (salt bytes + password bytes), with an end of
    validity for a rotated-out password still in its grace period (None: current)."""

    salt: bytes
    digest: bytes
    valid_until: datetime | None = None

    def matches(self, password: bytes) -> bool:
        candidate = hashlib.sha256(self.salt + password).digest()
        return hmac.compare_digest(candidate, self.digest)

    def valid_at(self, moment: datetime) -> bool:
        return self.valid_until is None or moment < self.valid_until

    @classmethod
    def of(cls, password: bytes, salt: bytes,
           valid_until: datetime | None = None) -> PasswordHash:
        return cls(salt, hashlib.sha256(salt + password).digest(), valid_until)


@dataclass(frozen=True)
class RegisteredStation:
    station_id: str
    security_profile: int  # 0 none, 1 Basic Auth over ws, 2 TLS + Basic Auth, 3 TLS + client cert
    revision: int
    enabled: bool = True
    ocpp_version: str | None = None  # the only version it may speak, when set
    passwords: tuple[PasswordHash, ...] = ()
    certificate_organization: str | None = None  # expected O; None: the gateway's setting
    site_id: str | None = None  # where its id tags' site restrictions are checked
    evse_types: dict[int, str] | None = None  # EVSE id -> "AC" | "DC", as declared

    def types_of(self, evse_id: int | None) -> frozenset[str] | None:
        """The declared type of this EVSE, or (None: the whole station, as for Authorize,
        which names no EVSE) of all its declared EVSEs; None when not declared."""
        if not self.evse_types:
            return None
        if evse_id is None:
            return frozenset(self.evse_types.values())
        declared = self.evse_types.get(evse_id)
        return frozenset({declared}) if declared is not None else None

    def password_matching(self, password: bytes, moment: datetime) -> PasswordHash | None:
        for candidate in self.passwords:
            if candidate.valid_at(moment) and candidate.matches(password):
                return candidate
        return None


@dataclass
class RegistryState:
    """Stations by id plus tombstones (id -> revision of the deregistration)."""

    stations: dict[str, RegisteredStation] = field(default_factory=dict)
    tombstones: dict[str, int] = field(default_factory=dict)

    def revision_of(self, station_id: str) -> int:
        station = self.stations.get(station_id)
        if station is not None:
            return station.revision
        return self.tombstones.get(station_id, -1)

    def apply(self, event: dict[str, Any]) -> list[str]:
        """Apply one event (parsed JSON); return the ids of the stations it changed."""
        kind = event.get("type")
        if kind == SNAPSHOT:
            return self._apply_snapshot(event)
        if kind == SNAPSHOT_REQUESTED:
            return []
        revision = item_revision(event)
        station_id = required_text(event, "charging_station_id")
        if revision <= self.revision_of(station_id):
            return []
        if kind == DEREGISTERED:
            self.stations.pop(station_id, None)
            self.tombstones[station_id] = revision
            return [station_id]
        if kind not in STATE_EVENTS:
            raise InvalidRegistryEvent(f"unknown registry event type {kind!r}")
        station = parse_station(_object(event, "payload"), revision)
        if station.station_id != station_id:
            raise InvalidRegistryEvent("payload.charging_station_id differs from the envelope's")
        self.stations[station_id] = station
        self.tombstones.pop(station_id, None)
        return [station_id]

    def to_document(self) -> dict[str, Any]:
        """What the gateway keeps on disk, so that it admits known stations after a restart
        while save-server is unreachable."""
        return {"stations": [station_document(s) for s in self.stations.values()],
                "tombstones": dict(self.tombstones)}

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> RegistryState:
        stations = [parse_station(item, item_revision(item)) for item in document["stations"]]
        tombstones = document.get("tombstones") or {}
        return cls({s.station_id: s for s in stations},
                   {str(k): int(v) for k, v in tombstones.items()})

    def _apply_snapshot(self, event: dict[str, Any]) -> list[str]:
        revision = item_revision(event)
        listed = event.get("payload", {}).get("stations")
        if not isinstance(listed, list):
            raise InvalidRegistryEvent("snapshot payload.stations must be a list")
        changed: list[str] = []
        seen: set[str] = set()
        for item in listed:
            station = parse_station(item, item_revision(item))
            seen.add(station.station_id)
            if station.revision > self.revision_of(station.station_id):
                self.stations[station.station_id] = station
                self.tombstones.pop(station.station_id, None)
                changed.append(station.station_id)
        for station_id in [s for s in self.stations if s not in seen]:
            if self.stations[station_id].revision <= revision:  # gone by the snapshot's time
                del self.stations[station_id]
                self.tombstones[station_id] = revision
                changed.append(station_id)
        return changed


def parse_station(item: Any, revision: int) -> RegisteredStation:
    if not isinstance(item, dict):
        raise InvalidRegistryEvent("a station must be a JSON object")
    profile = item.get("security_profile")
    if profile not in (0, 1, 2, 3) or isinstance(profile, bool):
        raise InvalidRegistryEvent("security_profile must be 0, 1, 2 or 3")
    version = item.get("ocpp_version")
    if version not in (None, "1.6", "2.0.1", "2.1"):
        raise InvalidRegistryEvent(f"unknown ocpp_version {version!r}")
    certificate = item.get("certificate") or {}
    organization = certificate.get("organization") if isinstance(certificate, dict) else None
    site_id = item.get("site_id")
    if site_id is not None and not isinstance(site_id, str):
        raise InvalidRegistryEvent("site_id must be a string or null")
    return RegisteredStation(
        station_id=required_text(item, "charging_station_id"), security_profile=profile,
        revision=revision, enabled=bool(item.get("enabled", True)), ocpp_version=version,
        passwords=tuple(_password(p) for p in item.get("passwords") or ()),
        certificate_organization=organization if isinstance(organization, str) else None,
        site_id=site_id or None, evse_types=_evse_types(item.get("evse_types")))


def _evse_types(declared: Any) -> dict[int, str] | None:
    """`{"1": "DC", "2": "AC"}` (EVSE ids as JSON keys); absent (older events) or null: none."""
    if declared is None:
        return None
    if not isinstance(declared, dict):
        raise InvalidRegistryEvent("evse_types must be an object or null")
    types: dict[int, str] = {}
    for evse_id, kind in declared.items():
        if not (isinstance(evse_id, str) and evse_id.isascii() and evse_id.isdigit()
                and int(evse_id) > 0) or (
                kind not in ("AC", "DC")):
            raise InvalidRegistryEvent("evse_types maps EVSE ids (> 0) to AC or DC")
        types[int(evse_id)] = kind
    return types


def station_document(station: RegisteredStation) -> dict[str, Any]:
    """The contract's station object (as in events and snapshots), with its revision."""
    return {
        "charging_station_id": station.station_id, "revision": station.revision,
        "security_profile": station.security_profile, "enabled": station.enabled,
        "ocpp_version": station.ocpp_version,
        "passwords": [{"algorithm": PASSWORD_ALGORITHM, "salt": p.salt.hex(),
                       "hash": p.digest.hex(),
                       "valid_until": rfc3339(p.valid_until) if p.valid_until else None}
                      for p in station.passwords],
        "certificate": {"organization": station.certificate_organization},
        "site_id": station.site_id,
        "evse_types": {str(k): v for k, v in sorted(station.evse_types.items())}
        if station.evse_types else None,
    }


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _password(item: Any) -> PasswordHash:
    if not isinstance(item, dict) or item.get("algorithm") != PASSWORD_ALGORITHM:
        raise InvalidRegistryEvent(f"passwords must be {PASSWORD_ALGORITHM!r} hashes")
    try:
        salt, digest = bytes.fromhex(item["salt"]), bytes.fromhex(item["hash"])
        until = item.get("valid_until")
        valid_until = parse_time(until) if until is not None else None
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidRegistryEvent(f"bad password hash: {error}") from error
    if len(salt) < 16 or len(digest) != 32:
        raise InvalidRegistryEvent("password salt must be >= 16 bytes, hash 32 bytes")
    return PasswordHash(salt, digest, valid_until)


def parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"time without offset: {text!r}")
    return moment.astimezone(UTC)


def _object(item: dict[str, Any], name: str) -> dict[str, Any]:
    value = item.get(name)
    if not isinstance(value, dict):
        raise InvalidRegistryEvent(f"{name} must be an object")
    return value
