"""The registry on SQLAlchemy Core: every change bumps the registry revision and commits with
its `station-registry.*` event (for the gateways) and its audit events in the outbox. A
registration's row carries the registry revision of its last write: a change applies only to
the revision it was made from (compare-and-set), never over a write it did not see."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, NoReturn

from sqlalchemy import Connection, case, delete, exc, func, insert, select, update

from save_server.domain.business_events import BusinessEvent
from save_server.domain.registry import (
    AlreadyRegistered,
    PasswordHash,
    RegistryStore,
    SecurityEvent,
    Site,
    SiteInUse,
    StaleRegistration,
    StationRegistration,
    UnknownSite,
    UnknownStation,
)
from save_server.infrastructure.accounts.store import bump_credential_revision
from save_server.infrastructure.db.committing import CommittingStore, next_revision
from save_server.infrastructure.db.integrity import Violation, violates
from save_server.infrastructure.db.tables import processed_events
from save_server.infrastructure.outbox.writer import add_to_outbox
from save_server.infrastructure.registry.tables import (
    registry_revision,
    sites,
    station_registrations,
    station_security_events,
    unknown_stations,
)

REGISTRY_EVENT = "station-registry."
REFUSED = "ocpp-events.security.handshake-refused"


def _site(row: Any) -> Site:
    return Site(row.site_id, row.name, row.address, row.timezone, row.latitude, row.longitude)


def _password(document: dict[str, Any]) -> PasswordHash:
    until = document.get("valid_until")
    return PasswordHash(document["salt"], document["hash"],
                        datetime.fromisoformat(until.replace("Z", "+00:00")) if until else None)


def _registration(row: Any) -> StationRegistration:
    return StationRegistration(
        row.station_id, row.security_profile, row.site_id, row.name, row.enabled,
        row.ocpp_version, row.certificate_organization,
        tuple(_password(p) for p in row.passwords), row.revision, row.registered_at,
        row.evse_types)


def _registration_row(registration: StationRegistration) -> dict[str, Any]:
    return {"station_id": registration.station_id, "site_id": registration.site_id,
            "name": registration.name, "security_profile": registration.security_profile,
            "enabled": registration.enabled, "ocpp_version": registration.ocpp_version,
            "certificate_organization": registration.certificate_organization,
            "passwords": [p.document() for p in registration.passwords],
            "revision": registration.revision,
            "registered_at": registration.registered_at or datetime.now(UTC),
            "evse_types": registration.evse_types}


def _unknown(row: Any) -> UnknownStation:
    return UnknownStation(row.station_id, row.first_attempt_at, row.last_attempt_at,
                          row.attempts, row.remote_address, tuple(row.offered_subprotocols))


def registration_state(registration: StationRegistration) -> dict[str, Any]:
    """A registration whole, as its `registry.*` events carry it so that a replay rebuilds it
    (password hashes as stored; docs/events.md)."""
    row = _registration_row(registration)
    return {"charging_station_id": row.pop("station_id"), **row,
            "password_rotation_pending": any(p.valid_until is not None
                                             for p in registration.passwords),
            "registered_at": row["registered_at"].isoformat()}


def _with_state(event: BusinessEvent, state: dict[str, Any]) -> BusinessEvent:
    return replace(event, payload={**event.payload, **state})


def registry_event(kind: str, station_id: str | None, revision: int, payload: dict[str, Any],
                   principal: str | None) -> BusinessEvent:
    return BusinessEvent(f"{REGISTRY_EVENT}{kind}", payload, principal, station_id,
                         event_id=str(uuid.uuid4()), occurred_at=datetime.now(UTC),
                         extra={"revision": revision})


class SqlRegistryStore(CommittingStore, RegistryStore):
    # sites --------------------------------------------------------------------------------
    def add_site(self, site: Site, event: BusinessEvent) -> None:
        def change(db: Connection) -> None:
            db.execute(insert(sites).values(site.document()))
            add_to_outbox(db, event)
        self._commit(change)

    def save_site(self, site: Site, event: BusinessEvent) -> None:
        def change(db: Connection) -> None:
            db.execute(update(sites).where(sites.c.site_id == site.site_id)
                       .values(site.document()))
            add_to_outbox(db, event)
        self._commit(change)

    def delete_site(self, site_id: str, event: BusinessEvent) -> bool:
        def change(db: Connection) -> bool:
            used = db.execute(select(func.count()).select_from(station_registrations).where(
                station_registrations.c.site_id == site_id)).scalar_one()
            if used:
                raise SiteInUse(f"{used} station(s) belong to site {site_id}")
            deleted = db.execute(delete(sites).where(sites.c.site_id == site_id)).rowcount
            if deleted:
                add_to_outbox(db, event)
            return bool(deleted)
        return bool(self._commit(change))

    def site(self, site_id: str) -> Site | None:
        with self._engine.connect() as db:
            row = db.execute(select(sites).where(sites.c.site_id == site_id)).first()
        return _site(row) if row else None

    def sites(self) -> list[Site]:
        with self._engine.connect() as db:
            return [_site(r) for r in db.execute(select(sites).order_by(sites.c.name))]

    # registrations ------------------------------------------------------------------------
    def registration(self, station_id: str) -> StationRegistration | None:
        with self._engine.connect() as db:
            row = db.execute(select(station_registrations).where(
                station_registrations.c.station_id == station_id)).first()
        return _registration(row) if row else None

    def registrations(self) -> list[StationRegistration]:
        with self._engine.connect() as db:
            return [_registration(r) for r in db.execute(
                select(station_registrations).order_by(station_registrations.c.station_id))]

    def register(self, registration: StationRegistration,
                 events: list[BusinessEvent]) -> StationRegistration:
        def change(db: Connection) -> StationRegistration:
            saved = _revised(db, registration)
            db.execute(insert(station_registrations).values(_registration_row(saved)))
            return _published(db, saved, "station-registered", events)
        return self._commit_registration(registration, change)

    def change_registration(self, registration: StationRegistration, kind: str,
                            events: list[BusinessEvent]) -> StationRegistration | None:
        def change(db: Connection) -> StationRegistration:
            saved = _revised(db, registration)
            t = station_registrations.c
            # compare-and-set: only the row it was read from (every write changes the row's
            # revision; PostgreSQL checks it again on the newest row after a lock wait)
            if db.execute(update(station_registrations).where(
                    t.station_id == saved.station_id, t.revision == registration.revision)
                    .values(_registration_row(saved))).rowcount == 0:
                _not_changed(db, registration)
            return _published(db, saved, kind, events)
        try:
            return self._commit_registration(registration, change)
        except _NotRegistered:
            return None

    def _commit_registration(self, registration: StationRegistration,
                             change: Callable[[Connection], StationRegistration]
                             ) -> StationRegistration:
        try:
            return self._commit(change)  # type: ignore[no-any-return]
        except exc.IntegrityError as error:
            if violates(error, Violation.FOREIGN_KEY, "station_registrations"):
                # its one foreign key: the site, deleted meanwhile
                raise UnknownSite(f"no site {registration.site_id}") from error
            if violates(error, Violation.UNIQUE, "station_registrations"):
                raise AlreadyRegistered(
                    f"station {registration.station_id!r} is already registered") from error
            raise

    def deregister(self, station_id: str, events: list[BusinessEvent]) -> bool:
        def change(db: Connection) -> bool:
            if not db.execute(delete(station_registrations).where(
                    station_registrations.c.station_id == station_id)).rowcount:
                return False
            bump_credential_revision(db)
            principal = events[0].principal if events else None
            revision = _next_revision(db)
            add_to_outbox(db, registry_event("station-deregistered", station_id, revision, {},
                                             principal))
            for event in events:
                add_to_outbox(db, _with_state(event, {"revision": revision}))
            return True
        return bool(self._commit(change))

    def publish_snapshot(self, requested_by: str | None) -> int:
        def change(db: Connection) -> int:
            revision = int(db.execute(select(registry_revision.c.revision)).scalar() or 0)
            stations = [{**_registration(r).admission(), "revision": r.revision}
                        for r in db.execute(select(station_registrations))]
            add_to_outbox(db, registry_event("snapshot", None, revision,
                                             {"requested_by": requested_by,
                                              "stations": stations}, None))
            return revision
        return int(self._commit(change))

    # unknown stations ---------------------------------------------------------------------
    def unknown_stations(self) -> list[UnknownStation]:
        with self._engine.connect() as db:
            return [_unknown(r) for r in db.execute(select(unknown_stations).order_by(
                unknown_stations.c.last_attempt_at.desc()))]

    def record_unknown(self, event_id: str, station_id: str, at: datetime,
                       remote_address: str | None, subprotocols: tuple[str, ...]) -> bool:
        def change(db: Connection) -> bool:
            try:
                with db.begin_nested():
                    db.execute(insert(processed_events).values(
                        event_id=event_id, event_type=REFUSED, processed_at=datetime.now(UTC)))
            except exc.IntegrityError as error:
                if violates(error, Violation.UNIQUE, "processed_events"):
                    return False  # this refusal was counted already
                raise
            if db.execute(select(station_registrations.c.station_id).where(
                    station_registrations.c.station_id == station_id)).first():
                return False
            counted = db.execute(update(unknown_stations).where(
                unknown_stations.c.station_id == station_id).values(
                attempts=unknown_stations.c.attempts + 1,
                first_attempt_at=case((unknown_stations.c.first_attempt_at > at, at),
                                      else_=unknown_stations.c.first_attempt_at),
                last_attempt_at=case((unknown_stations.c.last_attempt_at < at, at),
                                     else_=unknown_stations.c.last_attempt_at),
                remote_address=remote_address,
                offered_subprotocols=list(subprotocols))).rowcount
            if not counted:
                db.execute(insert(unknown_stations).values(
                    station_id=station_id, first_attempt_at=at, last_attempt_at=at,
                    attempts=1, remote_address=remote_address,
                    offered_subprotocols=list(subprotocols)))
            return True
        with self._engine.begin() as db:
            return bool(change(db))

    def add_security_event(self, event: SecurityEvent) -> None:
        with self._engine.begin() as db:
            try:
                with db.begin_nested():
                    db.execute(insert(station_security_events).values(
                        event_id=event.event_id, station_id=event.station_id, type=event.type,
                        occurred_at=event.occurred_at, tech_info=event.tech_info,
                        received_at=event.received_at))
            except exc.IntegrityError as error:
                if not violates(error, Violation.UNIQUE, "station_security_events"):
                    raise
                # else a redelivered report: kept once

    def security_events(self, station_id: str, limit: int) -> list[SecurityEvent]:
        t = station_security_events.c
        with self._engine.connect() as db:
            rows = db.execute(select(station_security_events).where(t.station_id == station_id)
                              .order_by(t.occurred_at.desc(), t.event_id).limit(limit))
            return [SecurityEvent(r.event_id, r.station_id, r.type, r.occurred_at, r.tech_info,
                                  r.received_at) for r in rows]


def _next_revision(db: Connection) -> int:
    return next_revision(db, registry_revision)


class _NotRegistered(Exception):
    """A change found no registration to change (deregistered meanwhile)."""


def _not_changed(db: Connection, registration: StationRegistration) -> NoReturn:
    """Why a change updated no row; raising rolls its transaction (the revision's bump) back."""
    if db.execute(select(station_registrations.c.revision).where(
            station_registrations.c.station_id == registration.station_id)).first() is None:
        raise _NotRegistered
    raise StaleRegistration(f"station {registration.station_id!r} changed since revision "
                            f"{registration.revision} was read")


def _revised(db: Connection, registration: StationRegistration) -> StationRegistration:
    """The registration at the next registry revision (its site is checked by its foreign
    key, on SQLite as on PostgreSQL: `_commit_registration`)."""
    return registration.changed(revision=_next_revision(db))


def _published(db: Connection, saved: StationRegistration, kind: str,
               events: list[BusinessEvent]) -> StationRegistration:
    """What follows a registration's write, in its transaction: no longer an unknown
    station, the gateways' credentials changed, its registry event and audit."""
    db.execute(delete(unknown_stations).where(unknown_stations.c.station_id == saved.station_id))
    bump_credential_revision(db)
    principal = events[0].principal if events else None
    add_to_outbox(db, registry_event(kind, saved.station_id, saved.revision, saved.admission(),
                                     principal))
    state = registration_state(saved)
    for event in events:
        add_to_outbox(db, _with_state(event, state))
    return saved
