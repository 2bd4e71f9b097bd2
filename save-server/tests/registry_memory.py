"""An in-memory RegistryStore for fast service tests, held to the same contract suite as the
SQL store (contract/test_save_registry_store_contract.py). `published`: every event committed
(the `station-registry.*` ones and the audit), in order."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime

from save_server.domain.business_events import BusinessEvent
from save_server.domain.registry import (
    AlreadyRegistered,
    RegistryStore,
    SecurityEvent,
    Site,
    SiteInUse,
    StaleRegistration,
    StationRegistration,
    UnknownSite,
    UnknownStation,
)


class MemoryRegistryStore(RegistryStore):
    def __init__(self) -> None:
        self._sites: dict[str, Site] = {}
        self._registrations: dict[str, StationRegistration] = {}
        self._unknown: dict[str, UnknownStation] = {}
        self._refusals: set[str] = set()
        self._security: dict[str, SecurityEvent] = {}
        self.revision = 0
        self.published: list[BusinessEvent] = []
        self._lock = threading.Lock()

    # sites --------------------------------------------------------------------------------
    def add_site(self, site: Site, event: BusinessEvent) -> None:
        with self._lock:
            self._sites[site.site_id] = site
            self.published.append(event)

    def save_site(self, site: Site, event: BusinessEvent) -> None:
        self.add_site(site, event)

    def delete_site(self, site_id: str, event: BusinessEvent) -> bool:
        with self._lock:
            used = [r for r in self._registrations.values() if r.site_id == site_id]
            if used:
                raise SiteInUse(f"{len(used)} station(s) belong to site {site_id}")
            if self._sites.pop(site_id, None) is None:
                return False
            self.published.append(event)
            return True

    def site(self, site_id: str) -> Site | None:
        return self._sites.get(site_id)

    def sites(self) -> list[Site]:
        return sorted(self._sites.values(), key=lambda s: s.name)

    # registrations ------------------------------------------------------------------------
    def registration(self, station_id: str) -> StationRegistration | None:
        return self._registrations.get(station_id)

    def registrations(self) -> list[StationRegistration]:
        return sorted(self._registrations.values(), key=lambda r: r.station_id)

    def register(self, registration: StationRegistration,
                 events: list[BusinessEvent]) -> StationRegistration:
        with self._lock:
            if registration.station_id in self._registrations:
                raise AlreadyRegistered(
                    f"station {registration.station_id!r} is already registered")
            return self._saved(registration, "station-registered", events)

    def change_registration(self, registration: StationRegistration, kind: str,
                            events: list[BusinessEvent]) -> StationRegistration | None:
        with self._lock:
            held = self._registrations.get(registration.station_id)
            if held is None:
                return None
            if held.revision != registration.revision:
                raise StaleRegistration(
                    f"station {registration.station_id!r} changed since revision "
                    f"{registration.revision} was read")
            return self._saved(registration, kind, events)

    def deregister(self, station_id: str, events: list[BusinessEvent]) -> bool:
        with self._lock:
            if self._registrations.pop(station_id, None) is None:
                return False
            self.revision += 1
            self._publish("station-deregistered", station_id, {}, events)
            return True

    def publish_snapshot(self, requested_by: str | None) -> int:
        with self._lock:
            stations = [{**r.admission(), "revision": r.revision}
                        for r in self._registrations.values()]
            self._publish("snapshot", None, {"requested_by": requested_by,
                                             "stations": stations}, [])
            return self.revision

    def _saved(self, registration: StationRegistration, kind: str,
               events: list[BusinessEvent]) -> StationRegistration:
        """As the SQL store's columns and keys would have it: refused whole, or saved at the
        next registry revision with its events."""
        if registration.site_id is not None and registration.site_id not in self._sites:
            raise UnknownSite(f"no site {registration.site_id}")
        if not isinstance(registration.enabled, bool) or registration.security_profile is None:
            raise ValueError("a registration's enabled and security_profile are not null")
        saved = replace(registration, revision=self.revision + 1,
                        registered_at=registration.registered_at or datetime.now(UTC))
        self.revision = saved.revision
        self._registrations[saved.station_id] = saved
        self._unknown.pop(saved.station_id, None)
        self._publish(kind, saved.station_id, saved.admission(), events)
        return saved

    def _publish(self, kind: str, station_id: str | None, payload: dict,
                 events: list[BusinessEvent]) -> None:
        principal = events[0].principal if events else None
        self.published.append(BusinessEvent(
            f"station-registry.{kind}", payload, principal, station_id,
            event_id=str(uuid.uuid4()), occurred_at=datetime.now(UTC),
            extra={"revision": self.revision}))
        self.published += [replace(e, payload={**e.payload, "revision": self.revision})
                           for e in events]

    # unknown stations ---------------------------------------------------------------------
    def unknown_stations(self) -> list[UnknownStation]:
        return sorted(self._unknown.values(), key=lambda u: u.last_attempt_at, reverse=True)

    def record_unknown(self, event_id: str, station_id: str, at: datetime,
                       remote_address: str | None, subprotocols: tuple[str, ...]) -> bool:
        if event_id is None:
            raise ValueError("a refusal's event id is not null")
        with self._lock:
            if event_id in self._refusals:
                return False
            self._refusals.add(event_id)
            if station_id in self._registrations:
                return False
            held = self._unknown.get(station_id)
            self._unknown[station_id] = UnknownStation(
                station_id, min(held.first_attempt_at, at) if held else at,
                max(held.last_attempt_at, at) if held else at,
                held.attempts + 1 if held else 1, remote_address, tuple(subprotocols))
            return True

    def add_security_event(self, event: SecurityEvent) -> None:
        if event.type is None:
            raise ValueError("a security event's type is not null")
        with self._lock:
            self._security.setdefault(event.event_id, event)

    def security_events(self, station_id: str, limit: int) -> list[SecurityEvent]:
        found = [e for e in self._security.values() if e.station_id == station_id]
        return sorted(found, key=lambda e: (-e.occurred_at.timestamp(), e.event_id))[:limit]
