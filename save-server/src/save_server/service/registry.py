"""Use cases of sites and the station registry. Generated passwords are returned once and
never stored (only their salted hash, which is what the gateways receive)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from save_server.domain.business_events import BusinessEvent
from save_server.domain.registry import (
    DEFAULT_GRACE,
    PASSWORD_PROFILES,
    AlreadyRegistered,
    InvalidRegistryData,
    PasswordHash,
    RegistryStore,
    SecurityEvent,
    Site,
    StationRegistration,
    UnknownSite,
    check_registration,
    check_site,
    new_password,
)

Clock = Callable[[], datetime]


class SiteNotFound(LookupError):
    pass


class RegistrationNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Registered:
    registration: StationRegistration
    password: str | None  # shown once (profiles 1 and 2)


def registration_document(registration: StationRegistration) -> dict[str, Any]:
    """A registration in answers and audit events: no password hash."""
    return {"charging_station_id": registration.station_id, "site_id": registration.site_id,
            "name": registration.name, "security_profile": registration.security_profile,
            "enabled": registration.enabled, "ocpp_version": registration.ocpp_version,
            "certificate_organization": registration.certificate_organization,
            "evse_types": registration.evse_types,
            "password_rotation_pending": any(p.valid_until is not None
                                             for p in registration.passwords),
            "revision": registration.revision}


class RegistryService:
    def __init__(self, store: RegistryStore, clock: Clock = lambda: datetime.now(UTC),
                 grace: timedelta = DEFAULT_GRACE) -> None:
        self._store, self._clock, self.grace = store, clock, grace

    def _audit(self, kind: str, by: str | None, payload: Mapping[str, Any],
               station_id: str | None = None) -> BusinessEvent:
        return BusinessEvent(kind, payload, by, station_id, event_id=str(uuid.uuid4()),
                             occurred_at=self._clock())

    # sites --------------------------------------------------------------------------------
    def create_site(self, name: str, by: str, **details: Any) -> Site:
        site = check_site(Site(str(uuid.uuid4()), name.strip(), **details))
        self._store.add_site(site, self._audit("sites.site-created", by, site.document()))
        return site

    def get_site(self, site_id: str) -> Site:
        site = self._store.site(site_id)
        if site is None:
            raise SiteNotFound(f"no site {site_id}")
        return site

    def list_sites(self) -> list[Site]:
        return self._store.sites()

    def update_site(self, site_id: str, changes: Mapping[str, Any], by: str) -> Site:
        site = check_site(Site(**{**self.get_site(site_id).document(), **changes}))
        self._store.save_site(site, self._audit("sites.site-updated", by, site.document()))
        return site

    def delete_site(self, site_id: str, by: str) -> None:
        if not self._store.delete_site(site_id, self._audit("sites.site-deleted", by,
                                                              {"site_id": site_id})):
            raise SiteNotFound(f"no site {site_id}")

    # registrations ------------------------------------------------------------------------
    def get_registration(self, station_id: str) -> StationRegistration:
        found = self._store.registration(station_id)
        if found is None:
            raise RegistrationNotFound(f"station {station_id!r} is not registered")
        return found

    def list_registrations(self) -> list[StationRegistration]:
        return self._store.registrations()

    def register(self, station_id: str, security_profile: int, by: str,
                 **details: Any) -> Registered:
        """details: site_id, name, ocpp_version, certificate_organization, evse_types."""
        if self._store.registration(station_id) is not None:
            raise AlreadyRegistered(f"station {station_id!r} is already registered")
        self._check_site(details.get("site_id"))
        password = new_password() if security_profile in PASSWORD_PROFILES else None
        registration = check_registration(StationRegistration(
            station_id, security_profile, registered_at=self._clock(),
            passwords=(PasswordHash.of(password),) if password else (), **details))
        saved = self._registered(registration, [
            self._audit("registry.station-registered", by,
                        registration_document(registration), station_id)])
        return Registered(saved, password)

    def update(self, station_id: str, changes: Mapping[str, Any], by: str) -> Registered:
        """changes: any of site_id, name, enabled, ocpp_version, certificate_organization,
        evse_types,
        security_profile (moving to profile 1 or 2 without a password generates one)."""
        current = self.get_registration(station_id)
        if "site_id" in changes:
            self._check_site(changes["site_id"])
        updated = check_registration(current.changed(**changes))
        password = None
        if updated.security_profile in PASSWORD_PROFILES and not updated.passwords:
            password = new_password()
            updated = updated.changed(passwords=(PasswordHash.of(password),))
        saved = self._changed(updated, "station-updated", [
            self._audit("registry.station-updated", by, registration_document(updated),
                        station_id)])
        return Registered(saved, password)

    def rotate_password(self, station_id: str, by: str) -> Registered:
        """A new current password; the previous one stays valid for the grace period."""
        current = self.get_registration(station_id)
        if current.security_profile not in PASSWORD_PROFILES:
            raise InvalidRegistryData("security_profile",
                                      "only stations of profile 1 or 2 have a password")
        password = new_password()
        rotated = current.rotated(password, self._clock(), self.grace)
        saved = self._changed(rotated, "password-changed", [
            self._audit("registry.password-rotated", by,
                        {"charging_station_id": station_id, "grace_seconds":
                         self.grace.total_seconds()}, station_id)])
        return Registered(saved, password)

    def roll_back_rotation(self, station_id: str, by: str, reason: str) -> StationRegistration:
        """The station refused the new password: the previous one is current again."""
        current = self.get_registration(station_id)
        previous = [p for p in current.passwords if p.valid_until is not None]
        if not previous:
            return current
        restored = current.changed(passwords=(PasswordHash(previous[0].salt, previous[0].hash),))
        return self._changed(restored, "password-changed", [
            self._audit("registry.password-rotation-rolled-back", by,
                        {"charging_station_id": station_id, "reason": reason}, station_id)])

    def drop_previous_password(self, station_id: str, proved_salt: str | None = None
                               ) -> StationRegistration | None:
        """The station proved the new password (or the grace period ended). `proved_salt`: the
        salt of the hash the gateway matched (None from gateways that do not say); a gateway
        that had not yet learnt of the rotation, or a connection event that arrives after it,
        reports the old password as current: that proves nothing about the new one. None when
        the station is not registered (deregistered, maybe meanwhile): nothing to drop."""
        current = self._store.registration(station_id)
        if current is None or all(p.valid_until is None for p in current.passwords):
            return current
        if proved_salt is not None and proved_salt not in {
                p.salt for p in current.passwords if p.valid_until is None}:
            return current
        return self._store.change_registration(
            current.without_previous_passwords(), "password-changed",
            [self._audit("registry.previous-password-dropped", "station",
                         {"charging_station_id": station_id}, station_id)])

    def deregister(self, station_id: str, by: str) -> None:
        if not self._store.deregister(station_id, [self._audit(
                "registry.station-deregistered", by, {"charging_station_id": station_id},
                station_id)]):
            raise RegistrationNotFound(f"station {station_id!r} is not registered")

    def adopt(self, station_id: str, security_profile: int, by: str,
              **details: Any) -> Registered:
        """An unknown id seen by the gateways becomes a registered station."""
        return self.register(station_id, security_profile, by, **details)

    def publish_snapshot(self, requested_by: str | None) -> int:
        """The whole registry as one event, for a gateway that (re)started."""
        return self._store.publish_snapshot(requested_by)

    def record_unknown(self, event_id: str, station_id: str, at: datetime,
                       remote_address: str | None, subprotocols: tuple[str, ...]) -> bool:
        """A gateway refused this unregistered id: list it for adoption (counted once per
        refusal event)."""
        return self._store.record_unknown(event_id, station_id, at, remote_address,
                                          subprotocols)

    def add_security_event(self, event: SecurityEvent) -> None:
        self._store.add_security_event(event)

    def security_events(self, station_id: str, limit: int = 50) -> list[SecurityEvent]:
        return self._store.security_events(station_id, limit)

    def unknown_stations(self) -> list[Any]:
        return self._store.unknown_stations()

    def _registered(self, registration: StationRegistration,
                    events: list[BusinessEvent]) -> StationRegistration:
        try:
            return self._store.register(registration, events)
        except UnknownSite as error:  # deleted since _check_site
            raise InvalidRegistryData("site_id", str(error)) from error

    def _changed(self, registration: StationRegistration, kind: str,
                 events: list[BusinessEvent]) -> StationRegistration:
        """Raises RegistrationNotFound when the station was deregistered since it was read
        (nothing is written then)."""
        try:
            changed = self._store.change_registration(registration, kind, events)
        except UnknownSite as error:  # deleted since _check_site
            raise InvalidRegistryData("site_id", str(error)) from error
        if changed is None:
            raise RegistrationNotFound(
                f"station {registration.station_id!r} is not registered")
        return changed

    def _check_site(self, site_id: str | None) -> None:
        if site_id is not None and self._store.site(site_id) is None:
            raise InvalidRegistryData("site_id", f"no site {site_id}")
