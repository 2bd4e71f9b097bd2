"""Sites and the station registry: which stations may connect, and how they prove who they are.

save-server owns the registry; the gateways keep a copy fed by `station-registry.*` events
(docs/events.md) and decide at the handshake without calling save-server.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from save_server.domain.business_events import BusinessEvent

STATION_ID = re.compile(r"^[A-Za-z0-9._:*+|@-]{1,48}$")  # OCPP identity: CiString48, URL-safe
# ASCII digits only: str.isdigit also says yes to "²", which int() refuses
EVSE_ID = re.compile(r"[0-9]{1,9}")
PASSWORD_HEX_CHARS = 32  # 128 random bits, inside the spec's 16-40 characters
DEFAULT_GRACE = timedelta(hours=24)
DEFAULT_TIMEZONE = "America/Sao_Paulo"
PROFILES = (0, 1, 2, 3)
PASSWORD_PROFILES = (1, 2)


class InvalidRegistryData(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field_name = field_name


class UnknownSite(LookupError):
    """A registration names a site that does not exist (deleted while it was being saved)."""


class StaleRegistration(Exception):
    """A change was made from a registration that another write has changed since (its
    revision is no longer the one read): nothing was written."""


class AlreadyRegistered(Exception):
    pass


@dataclass(frozen=True)
class Site:
    """A place that groups stations: for SAVE, a condominium."""

    site_id: str
    name: str
    address: str | None = None
    timezone: str = DEFAULT_TIMEZONE
    latitude: float | None = None
    longitude: float | None = None

    def document(self) -> dict[str, Any]:
        return {"site_id": self.site_id, "name": self.name, "address": self.address,
                "timezone": self.timezone, "latitude": self.latitude,
                "longitude": self.longitude}


def check_site(site: Site) -> Site:
    if not site.name.strip():
        raise InvalidRegistryData("name", "a site needs a name")
    try:
        ZoneInfo(site.timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidRegistryData("timezone", f"unknown time zone {site.timezone!r}") from error
    if site.latitude is not None and not -90 <= site.latitude <= 90:
        raise InvalidRegistryData("latitude", "latitude is between -90 and 90")
    if site.longitude is not None and not -180 <= site.longitude <= 180:
        raise InvalidRegistryData("longitude", "longitude is between -180 and 180")
    return site


@dataclass(frozen=True)
class PasswordHash:
    """sha256(salt ‖ password): passwords are ≥ 128 random bits, so a fast hash is enough
    (and keeps a reconnect storm cheap for the gateways)."""

    salt: str
    hash: str
    valid_until: datetime | None = None

    @classmethod
    def of(cls, password: str) -> PasswordHash:
        salt = secrets.token_bytes(16)
        return cls(salt.hex(), hashlib.sha256(salt + password.encode()).hexdigest())

    def matches(self, password: str) -> bool:
        digest = hashlib.sha256(bytes.fromhex(self.salt) + password.encode()).hexdigest()
        return hmac.compare_digest(digest, self.hash)

    def document(self) -> dict[str, Any]:
        return {"algorithm": "sha256-salted", "salt": self.salt, "hash": self.hash,
                "valid_until": self.valid_until.isoformat().replace("+00:00", "Z")
                if self.valid_until else None}


def new_password() -> str:
    return secrets.token_hex(PASSWORD_HEX_CHARS // 2)


@dataclass(frozen=True)
class StationRegistration:
    station_id: str
    security_profile: int
    site_id: str | None = None
    name: str | None = None
    enabled: bool = True
    ocpp_version: str | None = None
    certificate_organization: str | None = None
    passwords: tuple[PasswordHash, ...] = ()
    revision: int = 0
    registered_at: datetime | None = None
    # EVSE id (as a string, the JSON key) -> "AC" | "DC": what each EVSE delivers, declared
    # so that the gateways can refuse id tags restricted to other types (NotAllowedTypeEVSE)
    evse_types: dict[str, str] | None = None

    def changed(self, **changes: Any) -> StationRegistration:
        return replace(self, **changes)

    def admission(self) -> dict[str, Any]:
        """The station object of the registry events: all a gateway needs, no secret."""
        return {"charging_station_id": self.station_id, "site_id": self.site_id,
                "security_profile": self.security_profile, "enabled": self.enabled,
                "ocpp_version": self.ocpp_version,
                "passwords": [p.document() for p in self.passwords],
                "certificate": {"organization": self.certificate_organization},
                "evse_types": self.evse_types}

    def rotated(self, password: str, now: datetime,
                grace: timedelta = DEFAULT_GRACE) -> StationRegistration:
        """The new password current; the old one accepted until the grace period ends."""
        previous = [replace(p, valid_until=now + grace) for p in self.passwords
                    if p.valid_until is None][:1]
        return replace(self, passwords=(PasswordHash.of(password), *previous))

    def without_previous_passwords(self) -> StationRegistration:
        return replace(self, passwords=tuple(p for p in self.passwords if p.valid_until is None))


def check_registration(registration: StationRegistration) -> StationRegistration:
    if not STATION_ID.match(registration.station_id):
        raise InvalidRegistryData("charging_station_id",
                                  "1-48 characters: letters, digits and . _ - : * + | @")
    if registration.security_profile not in PROFILES:
        raise InvalidRegistryData("security_profile", "a security profile is 0, 1, 2 or 3")
    if not isinstance(registration.enabled, bool):
        raise InvalidRegistryData("enabled", "enabled is true or false")
    if registration.ocpp_version not in (None, "1.6", "2.0.1", "2.1"):
        raise InvalidRegistryData("ocpp_version", "1.6, 2.0.1, 2.1 or null")
    if registration.evse_types is not None:
        for evse_id, kind in registration.evse_types.items():
            if not (EVSE_ID.fullmatch(evse_id) and 0 < int(evse_id) < 1000) or kind not in (
                    "AC", "DC"):
                raise InvalidRegistryData("evse_types",
                                          'maps EVSE ids 1-999 to "AC" or "DC", e.g. {"1": "DC"}')
        registration = registration.changed(evse_types={
            str(int(k)): v for k, v in sorted(registration.evse_types.items(),
                                              key=lambda item: int(item[0]))} or None)
    return registration


@dataclass(frozen=True)
class UnknownStation:
    """An id that tried to connect without being registered (from the gateway's refusals)."""

    station_id: str
    first_attempt_at: datetime
    last_attempt_at: datetime
    attempts: int
    remote_address: str | None
    offered_subprotocols: tuple[str, ...] = field(default_factory=tuple)


class RegistryStore(ABC):
    """Sites, registrations and unknown stations; every write commits with its events."""

    @abstractmethod
    def add_site(self, site: Site, event: BusinessEvent) -> None: ...

    @abstractmethod
    def save_site(self, site: Site, event: BusinessEvent) -> None: ...

    @abstractmethod
    def delete_site(self, site_id: str, event: BusinessEvent) -> bool:
        """False when unknown; raises SiteInUse when stations belong to it."""

    @abstractmethod
    def site(self, site_id: str) -> Site | None: ...

    @abstractmethod
    def sites(self) -> list[Site]: ...

    @abstractmethod
    def registration(self, station_id: str) -> StationRegistration | None: ...

    @abstractmethod
    def registrations(self) -> list[StationRegistration]: ...

    @abstractmethod
    def register(self, registration: StationRegistration,
                 events: list[BusinessEvent]) -> StationRegistration:
        """A new registration: bumps the registry revision and publishes the registry event
        `station-registry.station-registered` carrying it, plus `events` (the audit), in one
        commit. Raises AlreadyRegistered when the station is registered (another write
        registered it meanwhile), UnknownSite when its site does not exist; nothing is
        committed then."""

    @abstractmethod
    def change_registration(self, registration: StationRegistration, kind: str,
                            events: list[BusinessEvent]) -> StationRegistration | None:
        """Replaces the registration of a registered station, as `register` does but
        publishing `station-registry.<kind>`, only if it still is the one that `registration`
        was made from: its `revision` is the stored one's (every write gives a registration a
        new revision). Raises StaleRegistration when another write changed it since: nothing
        is committed then. None when the station is not registered (deregistered meanwhile):
        nothing is committed, and it is not registered again. Raises UnknownSite when its site
        does not exist."""

    @abstractmethod
    def deregister(self, station_id: str, events: list[BusinessEvent]) -> bool: ...

    @abstractmethod
    def unknown_stations(self) -> list[UnknownStation]: ...

    @abstractmethod
    def record_unknown(self, event_id: str, station_id: str, at: datetime,
                       remote_address: str | None, subprotocols: tuple[str, ...]) -> bool:
        """Count one refused attempt of an unregistered id (once per event id: a redelivered
        refusal is not counted twice). False when the event was already applied, or the id
        is registered meanwhile."""

    @abstractmethod
    def add_security_event(self, event: SecurityEvent) -> None:
        """Keep it (once per event id)."""

    @abstractmethod
    def security_events(self, station_id: str, limit: int) -> list[SecurityEvent]:
        """The station's latest reports, newest first."""

    @abstractmethod
    def publish_snapshot(self, requested_by: str | None) -> int:
        """Publish the whole registry as one `station-registry.snapshot`; its revision."""


@dataclass(frozen=True)
class SecurityEvent:
    """A station's own report of a security event (OCPP SecurityEventNotification)."""

    event_id: str
    station_id: str
    type: str
    occurred_at: datetime
    tech_info: str | None
    received_at: datetime


class SiteInUse(Exception):
    pass
